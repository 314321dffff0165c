"""The long-sequence curriculum's figure as a PNG for pretrained/README.md (the Learning curves page draws the same
figures live): the level h against updates per run, and bit errors ÷ chance against the test length, with the
sentences beneath them.

    python scripts/plot_long_curriculum.py                      # docs/screenshots/long_curriculum.png
    python scripts/plot_long_curriculum.py --out /tmp/long.png

The figures and sentences are the page's own (`long_curriculum_figure`, `long_evaluation_figure`) and
samviz.long_evaluation's, drawn from assets/long_curriculum/*.json, laid out in one HTML page and photographed with
Debian's chromium (scripts/plot_learning_curves.photograph).
"""
from __future__ import annotations

import argparse
from html import escape
from pathlib import Path
import sys

from local_app import ROOT

sys.path.insert(0, str(ROOT))   # run from anywhere without installing

from samviz import cli  # noqa: E402
from samviz import long_evaluation as long_eval  # noqa: E402

FIGURE = ROOT / "docs" / "screenshots" / "long_curriculum.png"


def page_html() -> str:
    """The two figures side by side (plotly.js inline once), the INTERIM label and the sentences beneath."""
    from samviz.app.pages import learning_curves as page  # streamlit import kept out of --help
    curriculum, evaluation = long_eval.read_assets()
    if not curriculum["runs"] and not evaluation["rows"]:
        raise SystemExit("nothing to draw: no assets/long_curriculum/curriculum.json or evaluation.json rows")
    figures = []
    if curriculum["runs"]:
        figures.append(page.long_curriculum_figure(curriculum))
    if evaluation["rows"]:
        figures.append(page.long_evaluation_figure(evaluation["rows"]))
    parts = []
    for number, figure in enumerate(figures):
        figure.update_layout(width=640, height=420)
        parts.append(figure.to_html(full_html=False, include_plotlyjs=number == 0))
    interim = long_eval.interim_status(curriculum, evaluation["rows"])
    sentences = long_eval.curriculum_sentences(curriculum) + long_eval.evaluation_sentences(evaluation["rows"])
    return ("<html><head><meta charset='utf-8'></head>"
            "<body style='font-family: sans-serif; margin: 8px; background: white; width: 1300px'>"
            + (f"<p class='status'>{escape(interim)}</p>" if interim else "")
            + "<div style='display: flex; gap: 12px'>" + "".join(parts) + "</div>"
            + "".join(f"<p>{escape(s)}</p>" for s in sentences)
            + "<style>p { font-size: 13px; margin: 4px 12px } .status { font-weight: bold }</style></body></html>")


@cli.reports_os_errors("scripts/plot_long_curriculum.py")
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIGURE,
                        help="the PNG (default docs/screenshots/long_curriculum.png)")
    args = parser.parse_args()
    from plot_learning_curves import photograph
    photograph(page_html(), args.out)


if __name__ == "__main__":
    sys.exit(main())
