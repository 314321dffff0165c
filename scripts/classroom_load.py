"""A classroom against ONE app server (issue 28): concurrent visitors open the story, then the player; prints the
player's time to first chart p95, the two floors their own browsers set, and the ratios.

    .venv/bin/python scripts/classroom_load.py                        # 10 visitors, 3 rounds (the issue's figure)
    .venv/bin/python scripts/classroom_load.py --visitors 4 --rounds 2

Starts two Streamlit servers on 127.0.0.1 — samviz, and a one-line app (`st.write("hello")`: what any Streamlit
page costs a browser) — and Debian's /usr/bin/chromium (playwright, never a downloaded browser): one browser, one
context per visitor (own cookies, own Streamlit session); nothing leaves the loopback interface.

First, the floor the visitors' browsers set (issue 28's definition): the empty page viewed FLOOR_VIEWS times, one at
a time, its median browser CPU × visitors divided over the machine's cores: the least time that many browsers, each
drawing one page at the same time, can take on these cores. Then, before each round, as many empty pages opened at
once (the measured floor: the machine's other work changes from round to round). In each round every visitor opens
the landing page (the story); once every one has it, all open the player together — as many page views at once as
the empty ones (without the barrier, each player view would also wait for other visitors' story pages; the story's
own time under load is printed as "landing ready"). Time to first chart: from the player's navigation until its
episode view has drawn its bits over time.

Printed: both floors, time to first chart p50/p95 per round and over all rounds, p95 / each floor and whether
p95 ≤ FLOOR_FACTOR × the CPU floor (issue 28's bound), the server's resident memory after each round. The exit
status is 1 when a page failed (a Streamlit exception, a timeout), else 0: the timings are figures to read, not a
pass/fail line. tests/test_load.py runs this same code at a smaller size and asserts its behaviour.
"""
from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass, field
import math
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parent))   # scripts/: the shared server and browser set-up
from local_app import CHROMIUM, CHROMIUM_ARGS, READY, ROOT, local_app  # noqa: E402

# the player's first chart: its episode view's bits over time, drawn (inside the view's shadow root)
CHART = ".sv-bits canvas"
EXCEPTION = '[data-testid="stException"]'
EMPTY_APP = 'import streamlit as st\nst.write("hello")\n'
EMPTY_TEXT = "hello"

LANDING_PATH = os.environ.get("SAMVIZ_LANDING_PATH", "/")
# the player's own path: it works both while the player is the default page and once a landing page takes "/"
PLAYER_PATH = os.environ.get("SAMVIZ_PLAYER_PATH", "/player")

VISITORS = 10                   # issue 28: 10 concurrent visitors
ROUNDS = 3
FLOOR_VIEWS = 4                 # empty-page views measured for the CPU floor (their median stands for each visitor)
FLOOR_FACTOR = 1.5              # issue 28: p95 time to first chart ≤ 1.5 × the CPU floor
PAGE_TIMEOUT_S = 150.0          # one page: generous, the browsers and the server share two cores
SETTLE_S = 2.0                  # after a round: closed sessions are released by the server's event loop


# ------------------------------------------------------------------------------------------------- statistics

def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Summary:
    """The figures the script prints, computed from one run's raw measurements (`summarize`)."""
    visitors: int
    rounds: int
    cores: int
    floor_views: list[float]              # browser CPU seconds of each empty-page view, one at a time
    empty_together: list[float]           # seconds until each empty page opened `visitors` at once was drawn
    first_chart: list[float]              # every player view's time to first chart, all rounds
    errors: list[str]
    per_round: list[dict] = field(default_factory=list)
    view_cpu_s: float = 0.0               # median of floor_views
    cpu_floor_s: float = 0.0              # view_cpu_s × visitors / cores (issue 28's floor)
    measured_floor_s: float = 0.0         # p95 of empty_together
    p50_s: float = math.nan
    p95_s: float = math.nan
    p95_over_cpu_floor: float = math.nan
    p95_over_measured_floor: float = math.nan
    within_bound: bool = False            # p95 ≤ FLOOR_FACTOR × cpu_floor_s


def summarize(floor_views: list[float], empty_together: list[float], rounds: list[dict], visitors: int,
              cores: int) -> Summary:
    """One run's figures. `rounds`: per round {"round", "results" (one dict per visitor, with "visitor",
    "errors" and, when reached, "landing_s" and "first_chart_s"), "wall_s", "rss_mb"}."""
    summary = Summary(visitors=visitors, rounds=len(rounds), cores=cores, floor_views=list(floor_views),
                      empty_together=list(empty_together), first_chart=[], errors=[])
    summary.view_cpu_s = statistics.median(floor_views)
    summary.cpu_floor_s = summary.view_cpu_s * visitors / cores
    summary.measured_floor_s = percentile(empty_together, 95)
    for entry in rounds:
        first_chart = [r["first_chart_s"] for r in entry["results"] if "first_chart_s" in r]
        landing = [r["landing_s"] for r in entry["results"] if "landing_s" in r]
        summary.first_chart += first_chart
        summary.errors += [f"round {entry['round']} {r['visitor']}: {e}" for r in entry["results"] for e in r["errors"]]
        summary.per_round.append({
            "round": entry["round"], "charts": len(first_chart), "wall_s": entry["wall_s"], "rss_mb": entry["rss_mb"],
            "p50_s": percentile(first_chart, 50) if first_chart else math.nan,
            "p95_s": percentile(first_chart, 95) if first_chart else math.nan,
            "landing_p50_s": percentile(landing, 50) if landing else math.nan})
    if summary.first_chart:
        summary.p50_s = percentile(summary.first_chart, 50)
        summary.p95_s = percentile(summary.first_chart, 95)
        summary.p95_over_cpu_floor = summary.p95_s / summary.cpu_floor_s
        summary.p95_over_measured_floor = summary.p95_s / summary.measured_floor_s
        summary.within_bound = summary.p95_s <= FLOOR_FACTOR * summary.cpu_floor_s
    return summary


def report(summary: Summary) -> str:
    """The printed figures, each from `summary` (one place for every number shown)."""
    s = summary
    lines = [
        f"classroom: {s.visitors} concurrent visitors × {s.rounds} rounds, landing {LANDING_PATH} then player "
        f"{PLAYER_PATH}, {s.cores} cores",
        f"  CPU floor: an empty page's browser CPU {s.view_cpu_s:.2f} s (median of "
        f"{', '.join(f'{v:.2f}' for v in s.floor_views)}) × {s.visitors} browsers / {s.cores} cores = "
        f"{s.cpu_floor_s:.1f} s; bound {FLOOR_FACTOR} × floor = {FLOOR_FACTOR * s.cpu_floor_s:.1f} s",
        f"  measured floor: {s.visitors} empty pages opened at once before each round: p50 "
        f"{percentile(s.empty_together, 50):.1f} s, p95 {s.measured_floor_s:.1f} s"]
    for entry in s.per_round:
        charts = (f"p50 {entry['p50_s']:.1f} s, p95 {entry['p95_s']:.1f} s" if entry["charts"] else "none")
        landing = f"p50 {entry['landing_p50_s']:.1f} s" if not math.isnan(entry["landing_p50_s"]) else "none"
        lines.append(f"  round {entry['round']}: time to first chart {charts} ({entry['charts']}/{s.visitors}); "
                     f"landing ready {landing}; round {entry['wall_s']:.0f} s; server RSS after "
                     f"{entry['rss_mb']:.0f} MiB")
    if s.first_chart:
        lines.append(f"  all rounds: time to first chart p50 {s.p50_s:.1f} s, p95 {s.p95_s:.1f} s over "
                     f"{len(s.first_chart)} player views; p95 / CPU floor = {s.p95_over_cpu_floor:.2f} "
                     f"({'within' if s.within_bound else 'above'} issue 28's {FLOOR_FACTOR}); p95 / measured floor = "
                     f"{s.p95_over_measured_floor:.2f}")
    else:
        lines.append("  all rounds: no player view drew its first chart")
    if s.errors:
        lines.append(f"  {len(s.errors)} page(s) failed:")
        lines += [f"    {error}" for error in s.errors[:20]]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- servers, machine

def cores() -> int:
    """The cores this process may run on (the browsers and the server share them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def server_rss_mb(pid: int) -> float:
    """Resident memory of the server and its child processes (benchmark workers), in MiB."""
    import psutil
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def browser_cpu_seconds(servers: list[int]) -> float:
    """User + system CPU seconds of chromium's processes: this process's descendants outside the servers."""
    import psutil
    skip = set()
    for pid in servers:
        skip |= {pid} | {p.pid for p in psutil.Process(pid).children(recursive=True)}
    total = 0.0
    for process in psutil.Process().children(recursive=True):
        if process.pid in skip or "chrom" not in process.name():
            continue
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


@contextlib.contextmanager
def served(app: Path, log_path: Path) -> Iterator[tuple[str, int]]:
    """`streamlit run app` on a free loopback port (local_app), its output in log_path -> (url, pid) once it answers
    its health check; stopped on the way out."""
    with local_app(app, log_path) as (url, server):
        yield url, server.pid


# ----------------------------------------------------------------------------------------------- the browsers

async def wait_ready(page, timeout_s: float = PAGE_TIMEOUT_S) -> None:
    """The app is connected and its script has finished (twice, 300 ms apart: a rerun may follow at once)."""
    await page.wait_for_selector(READY, timeout=timeout_s * 1000)
    await page.wait_for_timeout(300)
    await page.wait_for_selector(READY, timeout=timeout_s * 1000)


async def exception_text(page) -> str | None:
    """The first Streamlit exception box's text, or None when the page shows none."""
    boxes = page.locator(EXCEPTION)
    if await boxes.count():
        return (await boxes.first.inner_text())[:500]
    return None


async def open_and_time(page, url: str) -> float:
    """Navigate and return the seconds until the first chart is visible; then wait for the script to finish."""
    started = time.perf_counter()
    await page.goto(url, wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_S * 1000)
    await page.locator(CHART).first.wait_for(state="visible", timeout=PAGE_TIMEOUT_S * 1000)
    first_chart = time.perf_counter() - started
    await wait_ready(page)
    return first_chart


async def visitor(browser, base: str, name: str, together: asyncio.Barrier) -> dict:
    """One visitor in a fresh context (own cookies, own Streamlit session): the landing page (the story), then, once
    every visitor of the round has it (`together`), the player."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    result: dict = {"visitor": name, "errors": []}
    waited = False
    try:
        page = await context.new_page()
        started = time.perf_counter()
        await page.goto(base + LANDING_PATH, wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_S * 1000)
        await wait_ready(page)
        result["landing_s"] = time.perf_counter() - started
        if (text := await exception_text(page)) is not None:
            result["errors"].append(f"landing page: {text}")
        await together.wait()
        waited = True
        result["first_chart_s"] = await open_and_time(page, base + PLAYER_PATH)
        if (text := await exception_text(page)) is not None:
            result["errors"].append(f"player: {text}")
    except Exception as error:   # a timeout is a finding, reported with the others rather than aborting the round
        result["errors"].append(f"{type(error).__name__}: {str(error).splitlines()[0][:300]}")
        if not waited:
            await together.abort()           # the others are not kept waiting for a visitor that failed
    finally:
        await context.close()
    return result


async def empty_views(browser, address: str, servers: list[int], views: int) -> list[float]:
    """`views` views of the empty page, one at a time, each by a new visitor -> their browser CPU seconds."""
    seconds = []
    for _ in range(views):
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        before = browser_cpu_seconds(servers)
        await page.goto(address, wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_S * 1000)
        await wait_ready(page)
        await page.get_by_text(EMPTY_TEXT).wait_for(timeout=PAGE_TIMEOUT_S * 1000)
        await page.wait_for_timeout(1000)
        seconds.append(browser_cpu_seconds(servers) - before)
        await context.close()
    return seconds


async def empty_at_once(browser, address: str, count: int) -> list[float]:
    """`count` empty pages opened at once, each by a new visitor -> seconds until each page's text is drawn."""
    async def one() -> float:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = await context.new_page()
            started = time.perf_counter()
            await page.goto(address, wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_S * 1000)
            await page.get_by_text(EMPTY_TEXT).wait_for(timeout=PAGE_TIMEOUT_S * 1000)
            return time.perf_counter() - started
        finally:
            await context.close()
    return list(await asyncio.gather(*(one() for _ in range(count))))


async def classroom(base: str, pid: int, empty: str, empty_pid: int, visitors: int, rounds: int,
                    floor_views: int) -> tuple[list[float], list[float], list[dict]]:
    """The whole measurement against running servers -> (floor views' CPU s, empty pages at once s, rounds)."""
    from playwright.async_api import async_playwright
    measured_rounds = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            floor = await empty_views(browser, empty + "/", [pid, empty_pid], floor_views)
            empty_together: list[float] = []
            for number in range(1, rounds + 1):
                # the measured floor, just before the round: the machine's other work changes from round to round
                empty_together += await empty_at_once(browser, empty + "/", visitors)
                started = time.perf_counter()
                together = asyncio.Barrier(visitors)
                results = await asyncio.gather(*(visitor(browser, base, f"r{number}v{i}", together)
                                                 for i in range(visitors)))
                await asyncio.sleep(SETTLE_S)
                measured_rounds.append({"round": number, "results": list(results),
                                        "wall_s": time.perf_counter() - started, "rss_mb": server_rss_mb(pid)})
        finally:
            await browser.close()
    return floor, empty_together, measured_rounds


def run(visitors: int, rounds: int, floor_views: int, workdir: Path) -> tuple[Summary, float, Path]:
    """Start both servers (logs in workdir), measure -> (summary, server RSS in MiB before the first visitor,
    samviz's server log)."""
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    empty_app = workdir / "hello.py"
    empty_app.write_text(EMPTY_APP)
    log_path = workdir / "server.log"
    with served(ROOT / "app.py", log_path) as (base, pid), served(empty_app, workdir / "empty.log") as (empty, epid):
        rss_start = server_rss_mb(pid)
        floor, empty_together, measured_rounds = asyncio.run(
            classroom(base, pid, empty, epid, visitors, rounds, floor_views))
    return summarize(floor, empty_together, measured_rounds, visitors, cores()), rss_start, log_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=VISITORS, help=f"concurrent visitors (default {VISITORS})")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds (default {ROUNDS})")
    parser.add_argument("--floor-views", type=int, default=FLOOR_VIEWS,
                        help=f"empty-page views for the CPU floor (default {FLOOR_VIEWS})")
    args = parser.parse_args(argv)
    for name in ("visitors", "rounds", "floor_views"):
        if not 1 <= getattr(args, name) <= 50:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 50")
    with tempfile.TemporaryDirectory(prefix="classroom_load-") as tmp:
        started = time.perf_counter()
        summary, rss_start, _ = run(args.visitors, args.rounds, args.floor_views, Path(tmp))
        print(report(summary))
        print(f"  server RSS before the first visitor {rss_start:.0f} MiB; "
              f"{time.perf_counter() - started:.0f} s in all")
    return 1 if summary.errors else 0


if __name__ == "__main__":
    sys.exit(main())
