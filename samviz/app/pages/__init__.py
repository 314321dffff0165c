"""One module per page; each exposes render(). app.py puts them into st.navigation through the
wrappers below, which import a page only when it is shown.

The wrappers are named *_page: a submodule import sets the package attribute of the module's own name.

The story is the landing page ("/"). Links made before it existed opened the Episode player at "/" with the
player's settings in the query (/?model=sam&task=copy&...): a landing address that carries any of
params.PLAYER_KEYS makes the player the default page for that run, so such a link still opens the player with
its settings (Streamlit matches pages by url_path; the default flag only decides what "/" shows).
"""
from __future__ import annotations

from collections.abc import Iterable
import importlib
from urllib.parse import urlsplit


def _render(name: str) -> None:
    importlib.import_module(f"samviz.app.pages.{name}").render()


def story_page() -> None:
    _render("story")


def episode_player_page() -> None:
    _render("episode_player")


def compare_page() -> None:
    _render("compare")


def scaling_lab_page() -> None:
    _render("scaling_lab")


def learn_page() -> None:
    _render("learn")


def learning_curves_page() -> None:
    _render("learning_curves")


# every page's url_path (page_objects)
PAGE_PATHS = ("story", "player", "compare", "scaling_lab", "learning_curves", "learn")


def at_landing(url: str | None) -> bool:
    """True when the browser's address (st.context.url, without the query) is the app's root rather than a page's
    own path; None (no browser, e.g. AppTest) counts as the root. Judged by the last path segment, so a server
    under a base path (/samviz/player) works too."""
    if not url:
        return True
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] not in PAGE_PATHS


def opens_player(query_keys: Iterable[str], url: str | None = None) -> bool:
    """True when a landing address carries the player's settings (an old shared link to the player, /?model=…).

    Only at the root: /player?model=… names its page itself, and making the player the default page (served at
    "/") would turn that address into "Page not found"."""
    from samviz.app.params import PLAYER_KEYS  # the keys of the player's link, defined once there
    return at_landing(url) and any(key in PLAYER_KEYS for key in query_keys)


def page_objects(player_first: bool = False) -> dict:
    """The app's pages as st.Page objects by url_path, in navigation order; the story is the default page
    unless player_first (then the player is, for a landing address carrying its settings).

    Streamlit serves the default page at "/" only (its url_path is ""), so /story?chapter=3 would flash "Page
    not found" before falling back (and reserves the default's url_path all the same). While the story is the
    default, its url_path is "landing" and a hidden page at /story renders it too (key "story_link"; the visible
    default keeps the key "story")."""
    import streamlit as st
    objects = {
        # the default page keeps its url_path reserved though it is served at "/": "landing", never linked
        "story": st.Page(story_page, title="Story", icon=":material/auto_stories:",
                         url_path="story" if player_first else "landing", default=not player_first),
        "player": st.Page(episode_player_page, title="Episode player", icon=":material/play_circle:",
                          url_path="player", default=player_first),
        "compare": st.Page(compare_page, title="Compare", icon=":material/compare_arrows:", url_path="compare"),
        "scaling_lab": st.Page(scaling_lab_page, title="Scaling lab", icon=":material/monitoring:",
                               url_path="scaling_lab"),
        "learning_curves": st.Page(learning_curves_page, title="Learning curves", icon=":material/show_chart:",
                                   url_path="learning_curves"),
        "learn": st.Page(learn_page, title="Learn", icon=":material/school:", url_path="learn"),
    }
    if not player_first:
        objects["story_link"] = st.Page(story_page, title="Story", icon=":material/auto_stories:", url_path="story",
                                        visibility="hidden")
    return objects
