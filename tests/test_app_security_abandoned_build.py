"""An abandoned build stops (issue 29, item 8), in the real app and headless Chromium: a visitor opens the player on
a 2^18-slot SDNC with the faiss index and an empty index cache, then closes the tab a few seconds into the HNSW
build. The build (a worker process, samviz/memory/index_cache.py) must be gone within 5 s, leave nothing in the
cache, and the large-run lock must be free for the next visitor. Before: the build went on for ~40 s on both cores
and held the lock (another visitor's 2^16 run took 39 s instead of ~6 s)."""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
import time
import urllib.request

import pytest
from test_browser import CHROMIUM, browser, free_port, wait_ready  # noqa: F401  (pytest fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
PLAYER = "/player?model=sdnc&task=copy&slots={slots}&index=faiss"
WORKER = "samviz.memory.index_cache"
STOP_WITHIN_S = 5.0


@pytest.fixture
def app_with_empty_cache(tmp_path):
    """The app on a free port, its faiss index cache an empty directory of its own -> (url, server, cache)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium) to run browser tests")
    import psutil  # noqa: F401  (fails the test loudly when missing: it watches the server's processes)
    cache = tmp_path / "index-cache"
    cache.mkdir()
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1", "SAMVIZ_INDEX_CACHE": str(cache)},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the app did not start"
                time.sleep(0.3)
        yield url, server, cache
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def build_workers(server: subprocess.Popen) -> list:
    import psutil
    found = []
    for child in psutil.Process(server.pid).children(recursive=True):
        try:
            if WORKER in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            pass
    return found


def test_closing_the_tab_stops_the_index_build_and_frees_the_lock(app_with_empty_cache, browser):  # noqa: F811
    import psutil
    url, server, cache = app_with_empty_cache
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url + PLAYER.format(slots=1 << 18), wait_until="domcontentloaded")
    deadline = time.monotonic() + 120
    while not (workers := build_workers(server)):
        assert time.monotonic() < deadline, "no index build started for the 2^18-slot player"
        time.sleep(0.2)
    time.sleep(3)                                    # a few seconds into the build
    assert all(w.is_running() for w in workers), "the build ended by itself: nothing abandoned"
    assert page.get_by_text("faiss index").count() > 0, "the page says an index is being built"
    page.close()
    closed = time.monotonic()
    while build_workers(server) and time.monotonic() - closed < 30:
        time.sleep(0.05)
    stopped_after = time.monotonic() - closed
    print(f"the abandoned build stopped {stopped_after:.2f} s after the tab closed")
    assert stopped_after < STOP_WITHIN_S
    assert not [p.name for p in cache.iterdir()], "a stopped build leaves nothing in the cache (no .tmp either)"
    # the server itself goes idle: no build, no run for the visitor who left
    process = psutil.Process(server.pid)
    process.cpu_percent(None)
    time.sleep(2)
    assert process.cpu_percent(None) < 25
    # and the large-run lock is free: the next visitor's large run does not wait for anyone
    second = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        second.goto(url + PLAYER.format(slots=1 << 16), wait_until="domcontentloaded")
        second.wait_for_selector('[data-testid="stSpinner"]', timeout=90_000)
        spinner = second.locator('[data-testid="stSpinner"]').first.inner_text()
        assert "Building the faiss index" in spinner and "Another visitor" not in spinner, spinner
    finally:
        second.close()
