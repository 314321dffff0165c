"""What the app's plotly charts share: the role colours (samviz/app/colours.py, defined there once), the slot
axis's name and the charts' PNG button.

The episode player, Compare, the long-episode mode and the stepping story chapters do not use plotly: they are
drawn in the browser by samviz/app/episode_view from a payload of the whole episode, and the story's figures are
static SVG (samviz/app/svg_charts.py). The plotly charts of the other pages (the Scaling lab, Learning curves) and
the story's SVG take their colours and conventions from here: memory slots on the vertical axis, slot 0 at the
top; read blue and write orange everywhere.
"""
from __future__ import annotations

from samviz.app import colours

READ_COLOUR = colours.READ
WRITE_COLOUR = colours.WRITE
MARK_COLOUR = colours.MARK
EXACT_COLOUR = colours.EXACT
ANSWER_COLOUR = colours.ANSWER
SLOT_AXIS = "memory slot"    # the title of every slot axis; a non-linear one adds what it skips


def png_config(name: str) -> dict:
    """st.plotly_chart config: the modebar's camera button saves a 2× PNG named samviz-<name>.png."""
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": f"samviz-{name}", "scale": 2}}
