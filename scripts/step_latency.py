"""Time from a click to the updated player (next, prev) and the step interval while playing, in Chromium.

    .venv/bin/python scripts/step_latency.py                     # SAM on copy at 128 and 4,096 slots, 10 of each
    .venv/bin/python scripts/step_latency.py --model ntm --slots 128 --clicks 5

Starts its own Streamlit server on 127.0.0.1 and Debian's /usr/bin/chromium (playwright, no download), opens
/player?model=…&task=copy&level=10&slots=N, then: `--clicks` times "next" (each timed from the click until
the narration names the new step and the app's script has finished), as many times "prev", and "play" until
`--clicks` steps have passed (the interval between successive steps, read from the address the player
writes). Prints the median of each (issue 12: "a step updates in well under a second").
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from local_app import CHROMIUM, CHROMIUM_ARGS, READY, local_app


def wait_for_step(page, step: int) -> None:
    page.get_by_text(f"What happened at step {step}").first.wait_for(timeout=120_000)
    page.wait_for_selector(READY, timeout=120_000)


def measure(base: str, model: str, slots: int, clicks: int) -> dict:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/player?model={model}&task=copy&level=10&seed=5&slots={slots}", wait_until="domcontentloaded")
        wait_for_step(page, 0)
        result = {"next": [], "prev": [], "play": []}
        for step in range(1, clicks + 1):
            started = time.perf_counter()
            page.locator(".st-key-player_next button").click()
            wait_for_step(page, step)
            result["next"].append(time.perf_counter() - started)
        for step in range(clicks - 1, -1, -1):
            started = time.perf_counter()
            page.locator(".st-key-player_prev button").click()
            wait_for_step(page, step)
            result["prev"].append(time.perf_counter() - started)
        page.locator(".st-key-player_play button").click()
        seen, last = 0, time.perf_counter()
        deadline = last + 120
        while seen < clicks and time.perf_counter() < deadline:
            try:
                page.wait_for_function(f"() => new URLSearchParams(window.location.search).get('step') == '{seen + 1}'",
                                       timeout=30_000)
            except Exception:
                break
            now = time.perf_counter()
            result["play"].append(now - last)
            seen, last = seen + 1, now
        browser.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam", choices=("ntm", "dam", "sam", "dnc", "sdnc"))
    parser.add_argument("--slots", default="128,4096", help="comma-separated, each 64..4096")
    parser.add_argument("--clicks", type=int, choices=range(1, 11), default=10, metavar="1..10")
    args = parser.parse_args()
    try:
        sizes = [int(x) for x in args.slots.split(",")]
    except ValueError:
        parser.error("--slots: comma-separated integers")
    if not sizes or len(sizes) > 4 or not all(64 <= n <= 4096 for n in sizes):
        parser.error("--slots: 1 to 4 sizes, each 64..4096")
    if not os.path.exists(CHROMIUM):
        parser.exit(2, f"{CHROMIUM} is missing: run `make browser`\n")
    with local_app() as (base, _server):
        for slots in sizes:
            times = measure(base, args.model, slots, args.clicks)
            summary = ", ".join(f"{kind} median {statistics.median(values):.2f} s (n={len(values)})"
                                for kind, values in times.items() if values)
            print(f"{args.model} on copy, {slots} slots: {summary}", flush=True)


if __name__ == "__main__":
    main()
