"""One module per page; each exposes render(). app.py puts them into st.navigation through the
wrappers below, which import a page only when it is shown.

The wrappers are named *_page: a submodule import sets the package attribute of the module's own name.
"""
import importlib


def _render(name: str) -> None:
    importlib.import_module(f"samviz.app.pages.{name}").render()


def episode_player_page() -> None:
    _render("episode_player")


def compare_page() -> None:
    _render("compare")


def scaling_lab_page() -> None:
    _render("scaling_lab")


def learn_page() -> None:
    _render("learn")
