"""samviz's Streamlit UI.

figures.py  pure functions: EpisodeTrace (+ step) -> plotly figures (no Streamlit, no model math)
explain.py  plain-language narration of one step, with its numbers and links to the Learn page
state.py    query-param validation, session state, cached model and trace loaders
pages/      one module per page, each exposing render()
"""
