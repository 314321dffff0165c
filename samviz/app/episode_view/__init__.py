"""The episode view: one browser component that draws an episode at every step and steps, scrubs and plays it
there, with no script rerun per step (issue 28; TEACHING.md principle 11, "time is the browser's").

    payload.py    the episode as JSON, computed once on the server (pure: no Streamlit)
    episode.js    the view: a clock and the views that draw a step (plain DOM, canvas and SVG; no library)
    episode.css   its layout (inside a shadow root: nothing leaks onto the page)
    figure.js     a second, tiny component: one static SVG chart (samviz/app/svg_charts.py) in the page

The JavaScript and CSS ship inside the package (pyproject.toml package-data) and are passed inline to
Streamlit's v2 components (st.components.v2.component): no CDN, no download and no build step at run time.
"""
from __future__ import annotations

import functools
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "samviz_episode_view"


@functools.cache
def _component():
    """The mounting function, registered once per process (a second registration would only replace the first)."""
    import streamlit as st
    return st.components.v2.component(NAME, js=(HERE / "episode.js").read_text(encoding="utf-8"),
                                      css=(HERE / "episode.css").read_text(encoding="utf-8"))


@functools.cache
def _figure_component():
    import streamlit as st
    return st.components.v2.component(FIGURE_NAME, js=(HERE / "figure.js").read_text(encoding="utf-8"),
                                      css=FIGURE_CSS)


FIGURE_NAME = "samviz_figure"
FIGURE_CSS = ".samviz-chart-box { width: 100%; } .samviz-chart-box svg { display: block; width: 100%; height: auto; }"


def figure(svg: str, key: str, max_width: int = 1100) -> None:
    """One static SVG chart (svg_charts.Chart.svg(): every text in it escaped) as wide as its container, up to
    max_width px. Through a v2 component rather than st.markdown(unsafe_allow_html=True): the markdown path loads
    an HTML parser into every page view (issue 28), and a page that shows the episode view loads the component
    runtime anyway. The browser parses it as XML (figure.js): it runs no script."""
    _figure_component()(key=key, data={"svg": svg, "max_width": int(max_width)}, width="stretch", height="content")


def show(payload: dict, key: str) -> None:
    """Draw `payload` (payload.player, payload.compare, …) in the page. The same `key` on every run keeps the
    browser's view, and its clock, while the payload's episode stays the same."""
    _component()(key=key, data=payload, width="stretch", height="content")
