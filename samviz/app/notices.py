"""Messages about a visitor's input. Our words go through markdown (st.warning / st.error / st.info);
what the visitor typed is echoed only as plain text (st.text), never interpreted as markdown, so a link
such as `?model=[LOG IN HERE](http://…)` or `**bold** :red[red]` shows as the characters typed.
"""
from __future__ import annotations

import streamlit as st

from samviz.app.params import Problem


def show(problem: Problem, before: str = "", after: str = "", kind: str = "warning") -> None:
    """One problem: `before` + its message + `after` in a message box of `kind`, then the echoed input, plain."""
    box = {"warning": st.warning, "error": st.error, "info": st.info}[kind]
    box(f"{before}{problem.message}{after}")
    if problem.echoed is not None:
        st.text(f"You gave: {problem.echoed}")

