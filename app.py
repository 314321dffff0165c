"""samviz — the Streamlit app. Run: `make run` (or `.venv/bin/python -m streamlit run app.py`).

Page config and navigation only; every page lives in samviz/app/pages/ and exposes render().
The landing page is the guided story; samviz/app/pages/__init__.py says when "/" opens the player instead.
"""
import streamlit as st

st.set_page_config(page_title="samviz — sparse memory, step by step", page_icon=":material/memory:", layout="wide")

from samviz.app import pages  # noqa: E402  (light: each page imports its module when shown)

# The story is the landing page; an old shared link to the player (/?model=sam&task=copy...) still opens the player.
player_first = pages.opens_player(st.query_params.keys(), st.context.url)
st.navigation(list(pages.page_objects(player_first=player_first).values())).run()
