"""The NTM-vs-SAM learning-curve grids as one PNG, for the READMEs (the app draws the same figures live).

    python scripts/plot_learning_curves.py                      # docs/screenshots/learning_curves_grids.png
    python scripts/plot_learning_curves.py --out /tmp/grids.png

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


@cli.reports_os_errors("scripts/plot_learning_curves.py")
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "learning_curves_grids.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as folder:
        html = Path(folder) / "grids.html"
        html.write_text(page_html())
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1320, "height": 480})
            page.goto(html.as_uri())
            page.wait_for_selector(".main-svg", timeout=30_000)
            page.wait_for_timeout(500)         # plotly lays out after the first paint
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
