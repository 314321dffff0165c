"""Session plumbing: widget state that survives page changes, and the URL as the shareable state.

What a visitor may set is validated in params.py; models, traces and timings are loaded and cached in
loaders.py. Widget keys are f"{KEEP}{page}_{name}" (samviz/app/pages/scaling_lab.py uses KEEP and
keep_widget_state too).
"""
from __future__ import annotations

import streamlit as st

from samviz.app import params
from samviz.kinds import MODELS

KEEP = "keep_"   # widget keys with this prefix survive visits to other pages


def keep_widget_state() -> None:
    """Streamlit drops a widget's state when a run does not draw it (another page): re-assign ours."""
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(KEEP):
            st.session_state[key] = st.session_state[key]


def apply_query_params(page: str, defaults: dict, allowed_models=MODELS) -> list[params.Problem]:
    """Once per session and page: valid query params -> widget state; returns the problems to show."""
    done = f"_qp_done_{page}"
    problems: list[params.Problem] = []
    if not st.session_state.get(done):
        values, problems = params.validate_params(st.query_params.to_dict(), allowed_models)
        for key, value in values.items():
            if key in defaults:
                st.session_state[f"{KEEP}{page}_{key}"] = value
        st.session_state[done] = True
    for key, value in defaults.items():
        st.session_state.setdefault(f"{KEEP}{page}_{key}", value)
    return problems


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
