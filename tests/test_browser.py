"""The real app in headless Chromium: every page renders charts and no exception; screenshots for the README.

Uses Debian's /usr/bin/chromium (installed by `make browser`), never a downloaded browser.
"""
from __future__ import annotations

import os
from pathlib import Path
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# The README's screenshots are refreshed only on request (SAMVIZ_SCREENSHOTS=docs), so a test run
# leaves the checkout clean; otherwise they go to tests/screenshots (ignored by git).
SCREENSHOTS = ROOT / ("docs" if os.environ.get("SAMVIZ_SCREENSHOTS") == "docs" else "tests") / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
READY = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
TIMINGS: dict[str, float] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium) to run browser tests")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    log = open(log_path, "w")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("streamlit did not become healthy within 60 s")
            time.sleep(0.3)
        TIMINGS["server_healthy_s"] = time.perf_counter() - started
        yield url, started, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def wait_ready(page, timeout_ms: int = 60_000) -> None:
    page.wait_for_selector(READY, timeout=timeout_ms)
    # a rerun may start right after the first "notRunning"; let it settle
    page.wait_for_timeout(300)
    page.wait_for_selector(READY, timeout=timeout_ms)


PLAYER_SETTINGS = ".st-key-player_settings button"     # the player's settings popover (its label: the settings)


def open_player_settings(page) -> None:
    """Open the player's settings popover if it is closed: the browser draws its widgets only while it is open."""
    if not page.locator(".st-key-keep_player_model").is_visible():
        page.locator(PLAYER_SETTINGS).first.click()
        # the widgets' scripts load when the popover first opens: wait until they have drawn
        page.locator(".st-key-keep_player_model input").wait_for(state="visible", timeout=30_000)
        page.locator(".st-key-keep_player_seed input").wait_for(state="attached", timeout=30_000)


def close_player_settings(page) -> None:
    """Close the player's settings popover (it lies over the episode view's controls while open)."""
    if page.locator(".st-key-keep_player_model").is_visible():
        page.locator(PLAYER_SETTINGS).first.click()
        page.locator(".st-key-keep_player_model").wait_for(state="hidden", timeout=30_000)


# figures on a page: plotly charts, and the views of samviz's episode view (each a card in its shadow root, or the
# place of one not yet scrolled near: the view draws those when they come into sight)
FIGURES = """() => document.querySelectorAll('[data-testid="stPlotlyChart"]').length
  + [...document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')]
      .reduce((n, host) => n + (host.shadowRoot ? host.shadowRoot.querySelectorAll(
        '.sv-card, .sv-lazy:not(.sv-built)').length : 0), 0)"""


def check_page(page, min_charts: int = 1) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()
    if min_charts:
        # charts and the episode view load lazily: wait for them to mount rather than counting at once
        page.wait_for_function(f"() => ({FIGURES})() >= {min_charts}", timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Streamlit scrolls inside its main container, so a "full page" shot needs a viewport as tall as the content.
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                           " return m ? m.scrollHeight : document.body.scrollHeight; }")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 40, 7000))})
    page.wait_for_timeout(1200)           # plotly re-lays out and draws after the resize
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def test_pages_render_and_step(server, browser):
    url, started, log_path = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # Episode player (its own path: "/" is the story, tests/test_story_browser.py): cold start, then step.
        page.goto(f"{url}/player", wait_until="domcontentloaded")
        wait_ready(page, 90_000)
        check_page(page, min_charts=3)
        TIMINGS["cold_start_to_first_render_s"] = time.perf_counter() - started
        # stepping happens in the browser (tests/test_episode_view_browser.py has the details)
        for _ in range(3):
            page.locator(".sv-next").click()
        assert "step=3" in page.url, page.url
        assert page.get_by_text("What happened at step 3").count() == 1
        t0 = time.perf_counter()
        screenshot(page, "episode_player")
        TIMINGS["screenshot_s"] = time.perf_counter() - t0

        # Play advances on its own; pause stops it.
        page.locator(".sv-play").click()
        page.wait_for_function("() => /step=([5-9]|\\d\\d)/.test(window.location.search)", timeout=30_000)
        page.locator(".sv-play").click()
        check_page(page, min_charts=3)

        # A narration link opens the Learn page at its equation.
        href = page.locator('.sv-narration a[href*="learn#"]').first.get_attribute("href")
        anchor = href.split("#", 1)[1]
        page.goto(f"{url}/{href}", wait_until="domcontentloaded")
        wait_ready(page, 60_000)
        page.wait_for_selector(f'[id="{anchor}"]', timeout=30_000)

        # A sparse model from a shared link, with the faiss index (an old link to "/": it still opens the player).
        page.goto(f"{url}/?model=sam&task=copy&level=8&seed=3&step=5&index=faiss", wait_until="domcontentloaded")
        wait_ready(page, 90_000)
        check_page(page, min_charts=4)
        assert page.get_by_text("What happened at step 5").count() == 1
        screenshot(page, "episode_player_sam")

        # A bad link gives a message, not a traceback.
        page.goto(f"{url}/?model=bogus&step=-5&seed=abc", wait_until="domcontentloaded")
        wait_ready(page, 90_000)
        check_page(page, min_charts=1)
        assert page.locator('[data-testid="stAlertContentWarning"]').count() >= 1

        for path, name, charts in (("compare", "compare", 2), ("scaling_lab", "scaling_lab", 0), ("learn", "learn", 0)):
            t0 = time.perf_counter()
            page.goto(f"{url}/{path}", wait_until="domcontentloaded")
            wait_ready(page, 120_000)
            check_page(page, min_charts=charts)
            TIMINGS[f"{name}_render_s"] = time.perf_counter() - t0
            screenshot(page, name)
        assert page.locator('[data-testid="stMarkdownContainer"] .katex').count() > 10   # the equations drew
        server_log = log_path.read_text()
        assert "Traceback" not in server_log, server_log[-3000:]
    finally:
        page.close()
        print("\nbrowser timings:", {k: round(v, 2) for k, v in TIMINGS.items()})
