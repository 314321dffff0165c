"""Session plumbing: widget state that survives page changes, and the URL as the shareable state.

Every page with settings runs `opened` first (settings from a link, or from this session when the visitor
comes back from another page) and `publish` last (settings into the URL and into the session).

What a visitor may set is validated in params.py; models, traces and timings are loaded and cached in
loaders.py. Widget keys are f"{KEEP}{page}_{name}" (samviz/app/pages/scaling_lab.py uses KEEP and
keep_widget_state too).
"""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from samviz.app import notices, params

KEEP = "keep_"   # widget keys with this prefix survive visits to other pages
SHARED = "url_shared"          # the settings the pages share (params.SHARED_KEYS)
_SETTINGS = "url_settings_"    # + page: the page's settings as it last published them
_URL = "url_written_"          # + page: the query the page last wrote (or last read)


def keep_widget_state() -> None:
    """Streamlit drops a widget's state when a run does not draw it (another page): re-assign ours."""
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(KEEP):
            st.session_state[key] = st.session_state[key]


def opened(page: str, keys, read: Callable, from_shared: Callable) -> tuple[dict | None, list[params.Problem]]:
    """At the top of a page's run: its settings when the page is being opened, else (None, []).

    A page is being opened when the address bar does not hold the link this page last wrote: a link was
    followed (a new session), or the visitor came from another page (Streamlit's navigation clears the query).
    With any of the page's `keys` in the URL, `read(query)` gives the settings and the problems to show;
    without, the page's own last settings in this session, with the settings shared by the pages over them
    (`from_shared(shared, last)`), so switching pages keeps model, task, level, seed, slots and index.
    """
    url = st.query_params.to_dict()
    if url == st.session_state.get(_URL + page):
        return None, []
    st.session_state[_URL + page] = url
    if any(key in url for key in keys):
        settings, problems = read(url)
        repeated = params.repeated_keys({key: st.query_params.get_all(key) for key in url})   # issue 29: say so
        return settings, [*repeated, *problems]
    return from_shared(st.session_state.get(SHARED, {}), st.session_state.get(_SETTINGS + page, {})), []


def publish(page: str, settings: dict, query: dict, shared: dict | None = None) -> None:
    """At the end of a page's run: its settings into the URL, into this session (for the next time the page is
    opened) and, where given, into the settings the pages share."""
    st.session_state[_SETTINGS + page] = dict(settings)
    if shared is not None:
        st.session_state[SHARED] = dict(shared)
    write_query_params(query)
    st.session_state[_URL + page] = st.query_params.to_dict()


def shared() -> dict:
    return dict(st.session_state.get(SHARED, {}))


def link_problems(problems: list[params.Problem]) -> None:
    """Problems in the page's link: each message names the parameter and the value used instead."""
    for problem in problems:
        notices.show(problem, "Link ignored: ", ".")


def get(page: str, key: str):
    return st.session_state.get(f"{KEEP}{page}_{key}")


def put(page: str, key: str, value) -> None:
    st.session_state[f"{KEEP}{page}_{key}"] = value


def write_query_params(values: dict) -> None:
    """Mirror the shareable state into the URL (only when something changed)."""
    wanted = {k: str(v) for k, v in values.items() if v is not None}
    current = st.query_params.to_dict()
    if current != wanted:
        st.query_params.from_dict(wanted)
