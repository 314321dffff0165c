"""samviz's Streamlit UI.

params.py       what a visitor can set (query parameters, typed bits), validated; problems, never tracebacks
notices.py      messages about a visitor's input: our words as markdown, what they typed as plain text
state.py        session plumbing: widget state across pages, the URL as the shareable state
loaders.py      cached models, traces and timings within the server's memory budget
trace_cache.py  compact traces and the byte-bounded least-recently-used cache
timing.py       per-step wall time of a plain forward pass
trace_stats.py  statistics of a trace (weights, wrong bits, spread, rows touched, ages): pure functions
figures.py      what the plotly charts share: role colours (colours.py: one colour per model and role), PNG button
explain.py      plain-language narration of one step, with its numbers and links to the Learn page
episode_view/   the episode in the browser: the payload (every step, computed once) and the component that
                steps, scrubs, plays and hover-links it with no script rerun
pages/          one module per page, each exposing render()
"""
