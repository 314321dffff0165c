"""The learning-curve figures as PNGs for the READMEs (the app draws the same figures live): the earlier NTM-vs-SAM
grids, and the learning study's curves and times to target (scripts/learning_study.py export --figure calls
photograph_study).

    python scripts/plot_learning_curves.py                      # docs/screenshots/learning_curves_grids.png
    python scripts/plot_learning_curves.py --out /tmp/grids.png
    python scripts/plot_learning_curves.py --study              # docs/screenshots/learning_study.png

The figures are the Learning curves page's own (`grid_figure`, median and min-max over seeds), drawn from
assets/learning_curves/<grid>.jsonl, laid out in one HTML page and photographed with Debian's chromium (the
browser the tests use; plotly's own image export would need another package).
"""
from __future__ import annotations

import argparse
from html import escape
from pathlib import Path
import sys
import tempfile

from local_app import CHROMIUM, CHROMIUM_ARGS, ROOT

sys.path.insert(0, str(ROOT))   # run from anywhere without installing

from samviz import cli  # noqa: E402
from samviz import learning_curves as curves  # noqa: E402

GRIDS = (("sam-vs-ntm-associative_recall-16k", "associative recall"),
         ("sam-vs-ntm-priority_sort", "priority sort"))


def page_html() -> str:
    """One HTML page with each grid's figure (default variant only: the NTM against SAM), plotly.js inline."""
    from samviz.app.pages import learning_curves as page  # streamlit import kept out of --help
    grids = curves.exported_grids()
    parts = []
    for number, (name, label) in enumerate(GRIDS):
        if name not in grids:
            raise SystemExit(f"no exported grid {name}.jsonl in {curves.CURVES_DIR}")
        groups = [g for g in curves.group(grids[name]) if g.variant == "default"]
        figure = page.grid_figure(groups, 1000, f"{label}: median and range over seeds 1-3")
        figure.update_layout(width=640, height=380)
        sentence = page.grid_sentence(groups) or ""
        parts.append(f"<div class='grid'>{figure.to_html(full_html=False, include_plotlyjs=number == 0)}"
                     f"<p>{escape(sentence)}</p></div>")
    return ("<html><head><meta charset='utf-8'></head>"
            "<body style='font-family: sans-serif; margin: 8px; background: white'>"
            "<div style='display: flex; gap: 12px'>" + "".join(parts) + "</div>"
            "<style>.grid { width: 640px } p { font-size: 13px; margin: 4px 12px }</style></body></html>")


STUDY_FIGURE = ROOT / "docs" / "screenshots" / "learning_study.png"


def study_html() -> str:
    """One HTML page with, per group of the learning study that has runs, its curves and its time to target side
    by side and its verdict sentence beneath (the page's own figures and sentences), plotly.js inline once."""
    from samviz import study
    from samviz.app.pages import learning_curves as page
    summary = study.summarise(study.read_export())
    parts = [f"<p class='status'>{escape(study.status_sentence(summary))}</p>"]
    for task, arms, label in page.STUDY_GROUPS:
        if not any(r.marks for r in summary.runs if r.task == task and r.arm in arms):
            continue
        figures = []
        for figure in (page.study_curves_figure(summary, task, arms), page.time_to_target_figure(summary, task, arms)):
            figure.update_layout(width=640, height=380, title=f"{label}: {figure.layout.title.text.split(': ', 1)[1]}")
            figures.append(figure.to_html(full_html=False, include_plotlyjs=len(parts) == 1 and not figures))
        parts.append("<div class='group'><div style='display: flex; gap: 12px'>" + "".join(figures) + "</div>"
                     f"<p>{escape(page._group_sentence(summary, task, arms))}</p></div>")
    return ("<html><head><meta charset='utf-8'></head>"
            "<body style='font-family: sans-serif; margin: 8px; background: white; width: 1300px'>"
            + "".join(parts) + "<style>p { font-size: 13px; margin: 4px 12px } .status { font-weight: bold }"
            "</style></body></html>")


def photograph(html_text: str, out: Path, width: int = 1320) -> None:
    """Lay `html_text` out in chromium and save a full-page PNG at `out`."""
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as folder:
        html = Path(folder) / "figure.html"
        html.write_text(html_text)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": width, "height": 480})
            page.goto(html.as_uri())
            if "plotly-graph-div" in html_text:
                page.wait_for_selector(".main-svg", timeout=30_000)
            page.wait_for_timeout(500)         # plotly lays out after the first paint
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    print(f"wrote {out}")


def photograph_study(out: Path = STUDY_FIGURE) -> None:
    photograph(study_html(), out)


@cli.reports_os_errors("scripts/plot_learning_curves.py")
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="the PNG (default docs/screenshots/learning_curves_grids.png, or learning_study.png)")
    parser.add_argument("--study", action="store_true", help="the learning study's figure instead of the grids")
    args = parser.parse_args()
    if args.study:
        photograph_study(args.out or STUDY_FIGURE)
    else:
        photograph(page_html(), args.out or ROOT / "docs" / "screenshots" / "learning_curves_grids.png")


if __name__ == "__main__":
    sys.exit(main())
