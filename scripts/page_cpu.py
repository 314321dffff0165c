"""Where a page view's CPU goes: the browser's rendering vs the app server's script, one page view at a time, with
the empty-page baseline measured in the same run.

    .venv/bin/python scripts/page_cpu.py                  # the player, every story chapter, Compare, Learn; 3 rounds
    .venv/bin/python scripts/page_cpu.py --pages /player,/?chapter=5 --rounds 5
    .venv/bin/python scripts/page_cpu.py --also /tmp/old-checkout      # before/after: another checkout's app too

Starts two Streamlit servers on 127.0.0.1 — samviz, and a one-line app (`st.write("hello")`: what any Streamlit
page costs a browser, the floor) — and Debian's /usr/bin/chromium (playwright, no download). Each round views the
baseline and then each page, each in a fresh browser context (a new visitor): navigate, wait until the app is
connected and its script has finished (twice, 300 ms apart), then 1 s more for charts and the episode view to
draw; the CPU seconds used meanwhile by all of chromium's processes and by the server are recorded. CPU seconds,
not wall time, are what a classroom of browsers sharing the server's cores competes for (tests/test_load.py).
Round 0 pays the servers' cold caches (torch imported, episodes recorded) and is left out of the medians. The
summary prints each page's median browser CPU, its excess over the baseline's, and whether it is within the issue's
budget (issue 28: at most BUDGET_S of browser CPU for the player and every story chapter). With --also DIR, a second
samviz checkout (say, the code before a change: `git worktree add DIR <commit>`) is served too and each of its pages
is viewed right after the same page of this one, in every round: a before/after comparison under the same load,
which on a shared machine moves every figure. The machine's load average is printed at the start and the end.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from pathlib import Path
import statistics
import tempfile
import time

from local_app import CHROMIUM, CHROMIUM_ARGS, READY, ROOT, local_app


def cpu_seconds(processes) -> dict[int, float]:
    """User + system CPU seconds of each of the given psutil processes, by pid (gone ones skipped)."""
    import psutil
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return seconds


def used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two cpu_seconds readings by the processes alive at the second: a process started
    meanwhile counts from its start; one that ended meanwhile (the previous visitor's renderer shutting down)
    counts nothing, rather than subtracting its whole past."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


BUDGET_S = 2.5                  # issue 28: browser CPU per view of the player and of each story chapter
DEFAULT_PAGES = "/player," + ",".join(f"/?chapter={n}" for n in range(1, 9)) + ",/compare,/learn"
SETTLE_S = 1.0                  # after a view, for its renderer to shut down before the next view's count starts
BASELINE = "baseline"           # the one-line app's page, viewed in every round beside samviz's pages


def _tree(pid: int) -> set[int]:
    import psutil
    return {pid} | {p.pid for p in psutil.Process(pid).children(recursive=True)}


def browser_processes(server_pids: list[int]):
    """chromium's processes: every descendant of this script except the servers (and their children)."""
    import psutil
    servers = set().union(*(_tree(pid) for pid in server_pids))
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.pid not in servers and "chrom" in process.name():
                found.append(process)
        except psutil.NoSuchProcess:            # a renderer that ended between the listing and its name
            pass
    return found


def server_processes(server_pid: int):
    import psutil
    server = psutil.Process(server_pid)
    return [server, *server.children(recursive=True)]


async def view(browser, address: str, servers: list[int], own_server: int) -> tuple[float, float, float]:
    """One page view by a new visitor -> (wall s, browser CPU s, this page's server CPU s)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    browser_before = cpu_seconds(browser_processes(servers))
    server_before = cpu_seconds(server_processes(own_server))
    started = time.perf_counter()
    await page.goto(address, wait_until="domcontentloaded")
    await page.wait_for_selector(READY, timeout=600_000)
    await page.wait_for_timeout(300)
    await page.wait_for_selector(READY, timeout=600_000)
    await page.wait_for_timeout(1000)
    wall = time.perf_counter() - started
    browser_cpu = used(browser_before, cpu_seconds(browser_processes(servers)))
    server_cpu = used(server_before, cpu_seconds(server_processes(own_server)))
    await context.close()
    await asyncio.sleep(SETTLE_S)
    return wall, browser_cpu, server_cpu


ALSO = "also:"                  # the prefix of the --also checkout's pages in the results


def _load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


async def measure(pages: list[str], rounds: int, also: Path | None = None) -> None:
    print(f"start: {_load()}", flush=True)
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        hello = Path(folder) / "hello.py"
        hello.write_text('import streamlit as st\nst.write("hello")\n')
        base, server = stack.enter_context(local_app(ROOT / "app.py"))
        empty, empty_server = stack.enter_context(local_app(hello))
        other = stack.enter_context(local_app(also / "app.py")) if also else None
        from playwright.async_api import async_playwright
        servers = [server.pid, empty_server.pid, *([other[1].pid] if other else [])]
        order = [BASELINE, *(p for page in pages for p in ([page, ALSO + page] if other else [page]))]
        results: dict[str, list[tuple[float, float, float]]] = {page: [] for page in order}
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for number in range(rounds):
                for path in order:
                    if path == BASELINE:
                        address, own = empty + "/", empty_server.pid
                    elif path.startswith(ALSO):
                        address, own = other[0] + path[len(ALSO):], other[1].pid
                    else:
                        address, own = base + path, server.pid
                    wall, browser_cpu, server_cpu = await view(browser, address, servers, own)
                    results[path].append((wall, browser_cpu, server_cpu))
                    print(f"round {number} {path:<17} wall {wall:5.1f} s   browser CPU {browser_cpu:5.2f} s   "
                          f"server CPU {server_cpu:5.2f} s", flush=True)
            await browser.close()
    print(f"end: {_load()}")
    warm = {path: rows[1:] or rows for path, rows in results.items()}
    floor = statistics.median(r[1] for r in warm[BASELINE])
    print(f"\nmedian over rounds 1..{rounds - 1} (round 0 has the servers' cold caches); the empty page's browser CPU, "
          f"measured in the same run: {floor:.2f} s; budget for the player and each story chapter: {BUDGET_S} s"
          + (f"; {ALSO} pages are {also}'s" if also else ""))
    for path, rows in warm.items():
        cpu = statistics.median(r[1] for r in rows)
        page = path.removeprefix(ALSO)
        budgeted = page == "/player" or page.startswith("/?chapter=")
        verdict = ("" if not budgeted else "   within budget" if cpu <= BUDGET_S else "   OVER BUDGET")
        print(f"  {path:<17} browser CPU {cpu:.2f} s ({cpu - floor:+.2f} s over the empty page)   server CPU "
              f"{statistics.median(r[2] for r in rows):.2f} s   wall {statistics.median(r[0] for r in rows):.1f} s"
              f"{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default=DEFAULT_PAGES, help="comma-separated paths")
    parser.add_argument("--rounds", type=int, choices=range(1, 21), default=3, metavar="1..20")
    parser.add_argument("--also", type=Path, metavar="DIR",
                        help="another samviz checkout whose app is viewed beside this one's (before/after)")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        parser.exit(2, f"{CHROMIUM} is missing: run `make browser`\n")
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    if not pages or len(pages) > 16 or not all(p.startswith("/") and len(p) <= 200 for p in pages):
        parser.error("--pages: 1 to 16 paths, each starting with '/'")
    if args.also is not None and not (args.also / "app.py").is_file():
        parser.error(f"--also: no app.py in {args.also}")
    asyncio.run(measure(pages, args.rounds, args.also.resolve() if args.also else None))


if __name__ == "__main__":
    main()
