"""Where a page view's CPU goes: the browser's rendering vs the app server's script, one page load at a time.

    .venv/bin/python scripts/page_cpu.py                       # /, /player, /compare, /learn, 3 rounds
    .venv/bin/python scripts/page_cpu.py --pages /player --rounds 5
    .venv/bin/python scripts/page_cpu.py --baseline      # a one-line Streamlit app: the framework's own floor

Starts its own Streamlit server on 127.0.0.1 and Debian's /usr/bin/chromium (playwright, no download). For
each page, in a fresh browser context (a new visitor): navigate, wait until the app is connected and its
script has finished, then 1 s more for the charts to draw; print the wall time and the CPU seconds used
meanwhile by all of chromium's processes and by the server. CPU seconds, not wall time, are what a classroom
of browsers sharing the server's cores competes for (tests/test_load.py); the first round includes the
server's cold caches. Round 0 is also the only one that pays for loading torch into the server.
"""
from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
import statistics
import tempfile
import time

from local_app import CHROMIUM, CHROMIUM_ARGS, READY, ROOT, local_app


def cpu_seconds(processes) -> float:
    """User + system CPU seconds of the given psutil processes (each counted once; gone ones skipped)."""
    import psutil
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def browser_processes(server_pid: int):
    """chromium's processes: every descendant of this script except the server (and its children)."""
    import psutil
    me = psutil.Process()
    server = {server_pid} | {p.pid for p in psutil.Process(server_pid).children(recursive=True)}
    return [p for p in me.children(recursive=True) if p.pid not in server and "chrom" in p.name()]


def server_processes(server_pid: int):
    import psutil
    server = psutil.Process(server_pid)
    return [server, *server.children(recursive=True)]


async def measure(pages: list[str], rounds: int, app: Path) -> None:
    with local_app(app) as (base, server):
        from playwright.async_api import async_playwright
        results: dict[str, list[tuple[float, float, float]]] = {page: [] for page in pages}
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for number in range(rounds):
                for path in pages:
                    context = await browser.new_context(viewport={"width": 1280, "height": 900})
                    page = await context.new_page()
                    browser_before = cpu_seconds(browser_processes(server.pid))
                    server_before = cpu_seconds(server_processes(server.pid))
                    started = time.perf_counter()
                    await page.goto(base + path, wait_until="domcontentloaded")
                    await page.wait_for_selector(READY, timeout=180_000)
                    await page.wait_for_timeout(300)
                    await page.wait_for_selector(READY, timeout=180_000)
                    await page.wait_for_timeout(1000)
                    wall = time.perf_counter() - started
                    browser_cpu = cpu_seconds(browser_processes(server.pid)) - browser_before
                    server_cpu = cpu_seconds(server_processes(server.pid)) - server_before
                    results[path].append((wall, browser_cpu, server_cpu))
                    print(f"round {number} {path:<12} wall {wall:5.1f} s   browser CPU {browser_cpu:5.2f} s   "
                          f"server CPU {server_cpu:5.2f} s", flush=True)
                    await context.close()
            await browser.close()
        if rounds > 1:
            print("\nmedian over rounds 1.. (round 0 has the server's cold caches):")
            for path, rows in results.items():
                warm = rows[1:]
                print(f"  {path:<12} browser CPU {statistics.median(r[1] for r in warm):.2f} s   "
                      f"server CPU {statistics.median(r[2] for r in warm):.2f} s   "
                      f"wall {statistics.median(r[0] for r in warm):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default="/,/player,/compare,/learn", help="comma-separated paths")
    parser.add_argument("--rounds", type=int, choices=range(1, 21), default=3, metavar="1..20")
    parser.add_argument("--baseline", action="store_true",
                        help="serve a one-line Streamlit app at / instead of samviz (what any Streamlit page costs)")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        parser.exit(2, f"{CHROMIUM} is missing: run `make browser`\n")
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    if not pages or len(pages) > 10 or not all(p.startswith("/") and len(p) <= 200 for p in pages):
        parser.error("--pages: 1 to 10 paths, each starting with '/'")
    if args.baseline:
        with tempfile.TemporaryDirectory() as folder:
            app = Path(folder) / "hello.py"
            app.write_text('import streamlit as st\nst.write("hello")\n')
            asyncio.run(measure(["/"], args.rounds, app))
    else:
        asyncio.run(measure(pages, args.rounds, ROOT / "app.py"))


if __name__ == "__main__":
    main()
