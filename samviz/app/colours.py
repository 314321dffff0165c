"""Every colour the app gives a meaning to, defined once (issue 25 item 13: one colour per model everywhere).

Models: one colour per kind on every page (Compare's panels, the episode views, crossover and learning charts).
A chart that shows one kind with two indexes keeps the kind's colour and tells the indexes apart by line dash
or marker, never by another colour. The dense kinds are warm-dark, the sparse ones cool, so a pair read at a
glance (NTM or DAM against SAM, DNC against SDNC).

Roles: read is blue and write orange everywhere (TEACHING.md principle 4); the marker of the current step and
of the least-used slot is red; the exact index's answer grey; the answer phase green. No model colour repeats
a role colour. Torch-free, plotly-free: the browser component reads the same values (episode_view.payload).
"""
from __future__ import annotations

MODEL_COLOURS: dict[str, str] = {
    "ntm": "#7570b3",    # purple
    "dam": "#a6761d",    # brown
    "dnc": "#e7298a",    # magenta
    "sam": "#1b9e77",    # teal
    "sdnc": "#b8860b",   # dark golden
}
OTHER_MODEL = "#666666"

READ = "#1f77b4"         # read weights, rows read, found neighbours
WRITE = "#ff7f0e"        # write weights, rows written
MARK = "#d62728"         # the current step, the least-used slot, wrong bits
EXACT = "#7f7f7f"        # the exact top-K (what the index is measured against)
ANSWER = "#2ca02c"       # the answer phase (scored steps)
BACKWARD = "#9467bd"     # DNC read modes and temporal links: backward
FORWARD = "#17becf"      # ... forward (content reading is READ)


def model_colour(name: str) -> str:
    """The colour of a model kind, from its name as any page spells it: "sam", "SAM", "sam-faiss",
    "SAM (exact)", "ntm-copy" -> the kind's colour; an unknown name -> OTHER_MODEL."""
    text = str(name).strip().lower()
    for separator in (" ", "-", "(", "_"):
        text = text.split(separator, 1)[0]
    return MODEL_COLOURS.get(text, OTHER_MODEL)
