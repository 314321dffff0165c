"""How fast the episode view steps, scrubs and plays in Chromium, at several memory sizes (issue 28's Done-when).

    .venv/bin/python scripts/step_latency.py                          # SAM at 128, 4,096 and 2^20 slots; NTM, DAM
    .venv/bin/python scripts/step_latency.py --runs sam:128,dam:4096 --clicks 5

Starts its own Streamlit server on 127.0.0.1 and Debian's /usr/bin/chromium (playwright, no download), opens
/player?model=…&task=copy&level=10&seed=5&slots=N (the exact index: no faiss structure to build at 2^20) at
1400×1000, draws every view (the page draws a view when it is first scrolled near), and measures in the page,
for each of `--clicks` moves of "next", then "prev", then the slider (an input event, as a drag sends), the time
from the move to the next painted frame after it (performance.now() before the move, two requestAnimationFrame
callbacks after it: every view has been redrawn and painted); each move is checked to have shown its step. Then
play at the fastest speed (20 steps/s) from step 0 to the end: the steps drawn, in order or not, and the rate.
The page's script runs are counted from the app's own data-test-script-state attribute while all of it happens
(0 means no step went to the server). Prints the median and the largest of each kind of move per run, and the
median time the view's own code took to redraw a step (its render log: the part before the browser paints);
times are this machine's, with whatever else it runs.
"""
from __future__ import annotations

import argparse
import os
import statistics

from local_app import CHROMIUM, CHROMIUM_ARGS, READY, local_app

DEFAULT_RUNS = "sam:128,sam:4096,sam:1048576,ntm:128,ntm:4096,dam:4096"
SHADOW = "document.querySelector('[data-testid=\"stBidiComponentIsolated\"]').shadowRoot"
COUNT_RUNS = """() => {
  window.__scriptRuns = 0;
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') === 'running') window.__scriptRuns += 1;
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
# one move, timed in the page: the move, then two animation frames (the first runs before the next paint, the
# second after it); returns [ms, the step the view shows]
MOVE = """async ([kind, value]) => {
  const root = SHADOW_ROOT;
  const paint = () => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  await paint();
  const started = performance.now();
  if (kind === 'slider') {
    const slider = root.querySelector('.sv-slider');
    slider.value = String(value);
    slider.dispatchEvent(new Event('input', {bubbles: true}));
  } else {
    root.querySelector('.sv-' + kind).click();
  }
  await paint();
  return [performance.now() - started, Number(root.querySelector('.sv-root').dataset.step)];
}""".replace("SHADOW_ROOT", SHADOW)


def measure(page, base: str, model: str, slots: int, clicks: int) -> dict:
    page.goto(f"{base}/player?model={model}&task=copy&level=10&seed=5&slots={slots}&index=exact",
              wait_until="domcontentloaded")
    page.wait_for_selector(READY, timeout=900_000)
    page.locator(".sv-root").wait_for(timeout=900_000)
    page.wait_for_timeout(300)
    page.wait_for_selector(READY, timeout=900_000)
    page.evaluate(COUNT_RUNS)
    page.evaluate(f"() => {SHADOW}.__samvizView.buildAll()")      # every view drawn, not only those in sight
    last = int(page.locator(".sv-slider").get_attribute("max"))
    clicks = min(clicks, last)
    result: dict[str, list[float]] = {"next": [], "prev": [], "slider": []}
    wrong: list[str] = []
    page.evaluate(MOVE, ["first", 0])
    for kind, targets in (("next", range(1, clicks + 1)), ("prev", range(clicks - 1, -1, -1)),
                          ("slider", [(3 * i + 2) % (last + 1) for i in range(clicks)])):
        for target in targets:
            ms, shown = page.evaluate(MOVE, [kind, target])
            result[kind].append(ms)
            if shown != target:
                wrong.append(f"{kind} to {target} showed {shown}")
    page.evaluate(MOVE, ["first", 0])
    page.locator(".sv-speed").select_option("20")
    page.locator(".sv-play").click()
    page.wait_for_function(f"() => {SHADOW}.querySelector('.sv-root').dataset.step === '{last}'", timeout=120_000)
    page.wait_for_timeout(300)
    played = page.evaluate(f"() => {SHADOW}.__samvizView.log.filter(e => e[1] === 'play').map(e => [e[0], e[3]])")
    steps = [s for s, _ in played]
    seconds = (played[-1][1] - played[0][1]) / 1000 if len(played) > 1 else float("nan")
    # the view's own time to redraw every view for a step (its render log), without the browser's paint
    render = page.evaluate(f"() => {SHADOW}.__samvizView.log.filter(e => e[1] !== 'init').map(e => e[3] - e[2])")
    return {"moves": result, "wrong": wrong, "last": last, "played": steps, "render": render,
            "in_order": steps == list(range(1, last + 1)), "play_rate": (len(steps) - 1) / seconds,
            "script_runs": page.evaluate("() => window.__scriptRuns")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="comma-separated model:slots pairs")
    parser.add_argument("--clicks", type=int, choices=range(1, 21), default=10, metavar="1..20")
    args = parser.parse_args()
    runs = []
    for item in args.runs.split(","):
        model, _, slots = item.partition(":")
        if model not in ("ntm", "dam", "sam", "dnc", "sdnc") or not slots.isdigit():
            parser.error(f"--runs: {item!r} is not model:slots")
        if not 64 <= int(slots) <= 1 << 20:
            parser.error(f"--runs: {item!r}: slots must be 64..1048576")
        runs.append((model, int(slots)))
    if not runs or len(runs) > 8:
        parser.error("--runs: 1 to 8 pairs")
    if not os.path.exists(CHROMIUM):
        parser.exit(2, f"{CHROMIUM} is missing: run `make browser`\n")
    from playwright.sync_api import sync_playwright
    with local_app() as (base, _server), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for model, slots in runs:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                r = measure(page, base, model, slots, args.clicks)
                page.close()
                moves = ", ".join(f"{kind} median {statistics.median(v):.1f} ms (max {max(v):.1f}, n={len(v)})"
                                  for kind, v in r["moves"].items())
                print(f"{model} on copy level 10, {slots:,} slots, {r['last'] + 1} steps: {moves}; "
                      f"redraw median {statistics.median(r['render']):.1f} ms; "
                      f"play {r['play_rate']:.1f} steps/s, {len(r['played'])} steps drawn "
                      f"{'in order' if r['in_order'] else 'NOT in order: ' + str(r['played'])}; "
                      f"script runs while stepping and playing: {r['script_runs']}"
                      + (f"; WRONG STEPS: {r['wrong']}" if r["wrong"] else ""), flush=True)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
