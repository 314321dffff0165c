"""One module per page; each exposes render(). app.py puts them into st.navigation through the
wrappers below, which import a page only when it is shown (and survive a page that is missing).

The wrappers are named *_page: a submodule import sets the package attribute of the module's own name.
"""
import importlib

import streamlit as st


def _render(name: str) -> None:
    importlib.import_module(f"samviz.app.pages.{name}").render()


def episode_player_page() -> None:
    _render("episode_player")


def compare_page() -> None:
    _render("compare")


def scaling_lab_page() -> None:
    """Written separately (samviz/app/pages/scaling_lab.py); the app must keep working without it."""
    try:
        module = importlib.import_module("samviz.app.pages.scaling_lab")
        render = module.render
    except Exception:
        st.title("Scaling lab")
        st.info("Scaling lab not available yet")
        return
    render()


def learn_page() -> None:
    _render("learn")
