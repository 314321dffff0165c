"""Screenshots of the episode player and Compare, and the time from opening a link to its episode drawn (Chromium).

    .venv/bin/python scripts/player_screenshots.py        # docs/screenshots/: the player at 2^20 and 4,096 slots,
                                                          # at 1280×720, and Compare (its default and at 2^20)
    .venv/bin/python scripts/player_screenshots.py --spinner   # player_building_index.png (an empty index cache)

Starts its own Streamlit server on 127.0.0.1 (a fresh process: nothing in memory, the index's disk cache as it
is) and Debian's /usr/bin/chromium (playwright, no download); opens each link, waits until the episode view shows
the step's narration and the app's script has finished, prints that time, and saves a PNG of the page (the whole
page, or the first screen for the 1280×720 shot: what a projector shows).
"""
from __future__ import annotations

import os
from pathlib import Path
import sys
import tempfile
import time

from local_app import CHROMIUM, CHROMIUM_ARGS, READY, ROOT, local_app

TALL = 6000                   # px: the whole page fits, so every view is drawn (none waits to be scrolled to)
# (file, page and its query, text that says the episode is drawn, viewport width, height: TALL for the whole page)
SHOTS = [
    ("player_2p20.png", "player?model=sam&task=copy&level=10&seed=0&step=12&index=exact&slots=1048576",
     "What happened at step 12", 1400, TALL),
    ("player_4096_4heads.png", "player?model=sam&task=priority_sort&level=20&seed=0&step=8&index=faiss&slots=4096",
     "What happened at step 8", 1400, TALL),
    ("player_4096_4heads_sdnc.png",
     "player?model=sdnc&task=priority_sort&level=20&seed=0&step=8&index=faiss&slots=4096", "What happened at step 8",
     1400, TALL),
    ("episode_player.png", "player?model=ntm&task=copy&level=10&seed=0&step=3", "What happened at step 3", 1400, TALL),
    ("episode_player_sam.png", "player?model=sam&task=copy&level=8&seed=3&step=5&index=faiss",
     "What happened at step 5", 1400, TALL),
    ("player_1280x720.png", "player?model=sam&task=copy&level=10&seed=0&step=12", "What happened at step 12", 1280,
     720),
    ("compare.png", "compare?dense=ntm&sparse=sam&task=copy&level=10&seed=0&step=12", "NTM at step 12", 1400, TALL),
    ("compare_2p20.png", "compare?dense=ntm&sparse=sam&task=copy&level=10&seed=0&step=12&slots=1048576&index=exact",
     "SAM (exact) at step 12", 1400, TALL),
]


SPINNER = ("player_building_index.png", "model=sam&task=priority_sort&level=20&seed=0&index=faiss&slots=262144")


def spinner(out: Path) -> None:
    """The player while it builds an index structure for the first time (a server with an empty index cache):
    the spinner says what is built and why."""
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as empty:
        os.environ["SAMVIZ_INDEX_CACHE"] = empty
        try:
            with local_app() as (base, _server), sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                name, query = SPINNER
                page.goto(f"{base}/player?{query}", wait_until="domcontentloaded")
                page.get_by_text("Building the faiss index").first.wait_for(timeout=120_000)
                page.wait_for_timeout(3000)
                page.screenshot(path=str(out / name))
                print(f"{name}: /player?{query} while its index is built", flush=True)
                browser.close()
        finally:
            del os.environ["SAMVIZ_INDEX_CACHE"]


def main() -> None:
    from playwright.sync_api import sync_playwright
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is missing: run `make browser`")
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    if "--spinner" in sys.argv[1:]:
        return spinner(out)
    with local_app() as (base, _server), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, query, drawn, width, height in SHOTS:
            page = browser.new_page(viewport={"width": width, "height": height})
            started = time.perf_counter()
            page.goto(f"{base}/{query}", wait_until="domcontentloaded")
            page.get_by_text(drawn).first.wait_for(timeout=900_000)
            page.wait_for_selector(READY, timeout=900_000)
            page.wait_for_timeout(1500)                       # charts finish drawing
            seconds = time.perf_counter() - started
            # Streamlit scrolls inside its own container: the window is TALL, and the shot is cut at the content's end
            box = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
            bottom = min(height, int(box["y"] + box["height"]) + 40) if box and height == TALL else height
            path: Path = out / name
            page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": width, "height": bottom})
            print(f"{name}: /{query} drawn in {seconds:.1f} s (link opened to step shown, script done)", flush=True)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
