"""samviz — the Streamlit app. Run: `make run` (or `.venv/bin/python -m streamlit run app.py`).

Page config and navigation only; every page lives in samviz/app/pages/ and exposes render().
"""
import streamlit as st

st.set_page_config(page_title="samviz — sparse memory, step by step", page_icon=":material/memory:", layout="wide")

from samviz.app import pages  # noqa: E402  (light: each page imports its module when shown)

st.navigation([
    st.Page(pages.episode_player_page, title="Episode player", icon=":material/play_circle:", url_path="player",
            default=True),
    st.Page(pages.compare_page, title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page(pages.scaling_lab_page, title="Scaling lab", icon=":material/monitoring:", url_path="scaling_lab"),
    st.Page(pages.learn_page, title="Learn", icon=":material/school:", url_path="learn"),
]).run()
