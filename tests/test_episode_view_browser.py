"""The episode view in the real app (headless Chromium): time is the browser's (issue 28).

Stepping (buttons, slider), the keyboard, play, hover linking and a shared link reopened in a fresh context, at
1280×720 and 1400×1000. Behaviour only, never wall-clock times (scripts/step_latency.py prints those): the page's
script does not rerun while the episode is stepped (the app's own script-state attribute is watched and its runs
counted), every step is drawn in order while playing (the view's render log), the address follows the step, and a
hovered slot lights up in every view of its model. Fixtures and Debian's chromium as in test_browser.py.
"""
from __future__ import annotations

import pytest
from test_browser import browser, open_player_settings, server, wait_ready  # noqa: F401

pytestmark = pytest.mark.browser

VIEWPORTS = {"1280x720": {"width": 1280, "height": 720}, "1400x1000": {"width": 1400, "height": 1000}}
# the episode view's shadow root (a story chapter may show another component, its figure, before it)
SHADOW = ("[...document.querySelectorAll('[data-testid=\"stBidiComponentIsolated\"]')].map(e => e.shadowRoot)"
          ".find(r => r && r.querySelector('.sv-root'))")
COUNT_RUNS = """() => {
  window.__scriptRuns = 0;
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') === 'running') window.__scriptRuns += 1;
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


def open_view(page, address: str) -> None:
    page.goto(address, wait_until="domcontentloaded")
    wait_ready(page, 120_000)
    page.locator(".sv-root").wait_for(timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.evaluate(COUNT_RUNS)


def shown_step(page) -> int:
    return int(page.evaluate(f"() => {SHADOW}.querySelector('.sv-root').dataset.step"))


def url_step(page) -> str | None:
    return page.evaluate("() => new URLSearchParams(window.location.search).get('step')")


def script_runs(page) -> int:
    return page.evaluate("() => window.__scriptRuns")


def heading(page) -> str:
    return page.locator(".sv-narration .sv-title").first.inner_text()


@pytest.fixture(params=list(VIEWPORTS))
def page(request, browser):  # noqa: F811
    context = browser.new_context(viewport=VIEWPORTS[request.param])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors          # no script error in the view, whatever the test did


def test_stepping_scrubbing_and_keyboard_never_rerun_the_script(server, page):  # noqa: F811
    url, _, _ = server
    open_view(page, f"{url}/player?model=sam&task=copy&level=6&seed=2&step=2")
    last = int(page.locator(".sv-slider").get_attribute("max"))
    assert last == 12                                    # copy level 6: 13 steps
    assert shown_step(page) == 2 and heading(page) == "What happened at step 2"
    page.locator(".sv-next").click()
    page.locator(".sv-next").click()
    assert shown_step(page) == 4 and url_step(page) == "4"
    assert heading(page) == "What happened at step 4"
    assert page.get_by_text("Step 4 of 12 — input phase").count() == 1          # the narration followed
    page.locator(".sv-prev").click()
    assert shown_step(page) == 3 and url_step(page) == "3"
    page.locator(".sv-slider").fill("9")                 # a slider move
    assert shown_step(page) == 9 and url_step(page) == "9"
    page.locator(".sv-last").click()
    assert shown_step(page) == last and page.locator(".sv-next").is_disabled()
    page.locator(".sv-first").click()
    assert shown_step(page) == 0 and page.locator(".sv-prev").is_disabled()
    page.locator(".sv-title").first.click()              # the page, not a widget, has the focus
    for key, expected in (("ArrowRight", 1), ("ArrowRight", 2), ("ArrowLeft", 1), ("End", last), ("Home", 0)):
        page.keyboard.press(key)
        assert shown_step(page) == expected, key
    assert url_step(page) == "0"
    assert script_runs(page) == 0                        # none of it reran the page's script


def test_keys_typed_into_a_settings_field_do_not_step(server, page):  # noqa: F811
    url, _, _ = server
    open_view(page, f"{url}/player?model=sam&level=6&step=2")
    open_player_settings(page)
    page.locator(".st-key-keep_player_seed input").click()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("End")
    assert shown_step(page) == 2


def test_play_shows_every_step_in_order_and_pause_keeps_the_step(server, page):  # noqa: F811
    url, _, _ = server
    open_view(page, f"{url}/player?model=ntm&task=copy&level=6&step=3")
    page.locator(".sv-speed").select_option("20")
    page.locator(".sv-play").click()
    page.wait_for_function(f"() => {SHADOW}.querySelector('.sv-root').dataset.step === '12'", timeout=30_000)
    page.wait_for_timeout(200)
    played = page.evaluate(f"() => {SHADOW}.__samvizView.log.filter(e => e[1] === 'play').map(e => e[0])")
    assert played == list(range(4, 13))                  # every step after the start, in order, none twice
    assert page.locator(".sv-play .sv-label").inner_text() == "Play"        # stopped at the last step
    assert url_step(page) == "12"
    page.keyboard.press(" ")                             # at the end, play starts again from step 0
    page.wait_for_function(f"() => Number({SHADOW}.querySelector('.sv-root').dataset.step) >= 2", timeout=30_000)
    page.keyboard.press(" ")                             # pause
    paused = shown_step(page)
    page.wait_for_timeout(400)
    assert shown_step(page) == paused and url_step(page) == str(paused)
    assert script_runs(page) == 0


def build(page, card: str) -> None:
    """Scroll a view into sight: the episode view draws a view when it first comes near the window."""
    page.locator(f'.sv-lazy[data-card="{card}"]').first.scroll_into_view_if_needed()
    page.locator(f".sv-{card}").first.wait_for(timeout=10_000)


def _hover_row(page, panel: str, row: int, rows: int, column: float = 0.5) -> None:
    build(page, "weights")
    node = page.locator(f'.sv-weights .sv-panel[data-name="{panel}"]')
    node.scroll_into_view_if_needed()
    box = node.bounding_box()
    page.mouse.move(box["x"] + box["width"] * column, box["y"] + box["height"] * (row + 0.5) / rows)


def test_hovering_a_slot_lights_it_up_in_every_view_and_a_time_moves_the_clock(server, page):  # noqa: F811
    url, _, _ = server
    open_view(page, f"{url}/player?model=sam&task=copy&level=6&seed=2&step=8")
    slots = page.evaluate(f"() => {SHADOW}.__samvizView.models[0].weights.slots")
    found = page.evaluate(f"() => {SHADOW}.__samvizView.models[0].neighbours.steps[8][0].found")
    slot = found[0]                                      # a slot head 1 found at this step: shown in every view
    row = slots.index(slot)
    steps = int(page.locator(".sv-slider").get_attribute("max")) + 1
    build(page, "neighbours")
    _hover_row(page, "read head 1", row, len(slots), column=(8 + 0.5) / steps)
    assert shown_step(page) == 8
    lit = page.evaluate(f"""() => [...{SHADOW}.querySelectorAll('.sv-band')]
        .filter(b => b.style.display === 'block').map(b => b.dataset.slot)""")
    # every weights panel (2 read heads, the write) and the usage column mark the same slot
    assert lit.count(str(slot)) >= 4 and set(lit) == {str(slot)}
    assert page.locator(f'.sv-neighbours .sv-hl[data-slot="{slot}"]').count() >= 1
    assert page.locator(".sv-neighbours .sv-hl").count() == page.locator(
        f'.sv-neighbours .sv-hl[data-slot="{slot}"]').count()
    assert page.locator(f'.sv-tip:has-text("slot {slot}")').count() == 1
    # a time: hovering step 2's column shows step 2 everywhere; leaving goes back to the pinned step
    _hover_row(page, "write", row, len(slots), column=(2 + 0.5) / steps)
    assert shown_step(page) == 2 and heading(page) == "What happened at step 2"
    assert url_step(page) == "8"                         # a preview does not move the address
    page.mouse.move(5, 5)
    assert shown_step(page) == 8
    # a click pins the hovered time
    _hover_row(page, "write", row, len(slots), column=(5 + 0.5) / steps)
    page.mouse.down()
    page.mouse.up()
    page.mouse.move(5, 5)
    assert shown_step(page) == 5 and url_step(page) == "5"
    # a slot named in the narration lights up the same slot in the views
    ref = page.locator(".sv-narration .sv-slotref").first
    named = int(ref.inner_text())
    ref.hover()
    if named in slots:
        assert page.locator(f'.sv-band[data-slot="{named}"]').count() >= 3
    assert script_runs(page) == 0


def test_a_shared_link_reopens_the_same_moment_in_a_fresh_context(server, page, browser):  # noqa: F811
    url, _, _ = server
    open_view(page, f"{url}/player?model=sdnc&task=copy&level=5&seed=4&step=1")
    page.locator(".sv-next").click()
    page.locator(".sv-next").click()
    page.locator(".sv-slider").fill("7")
    address = page.url
    for part in ("model=sdnc", "seed=4", "step=7"):
        assert part in address, address
    context = browser.new_context(viewport=page.viewport_size)
    try:
        fresh = context.new_page()
        open_view(fresh, address)
        assert shown_step(fresh) == 7 and heading(fresh) == "What happened at step 7"
        open_player_settings(fresh)
        box = fresh.locator(".st-key-keep_player_model")
        assert "SDNC" in " ".join([box.inner_text(), *(i.input_value() for i in box.locator("input").all())])
        assert fresh.locator('.sv-lazy[data-card="modes"]').count() == 1        # the SDNC's own views
    finally:
        context.close()


def test_controls_fit_and_a_settings_change_shows_the_pending_state(server, page):  # noqa: F811
    url, _, _ = server
    open_view(page, f"{url}/player?model=sam&level=6")
    width = page.viewport_size["width"]
    for name in ("first", "prev", "play", "next", "last"):
        box = page.locator(f".sv-{name}")
        assert box.is_visible()
        fits = box.evaluate("b => b.scrollWidth <= b.clientWidth + 1 && b.getBoundingClientRect().right <= "
                            f"{width}")
        assert fits, name
        assert box.locator(".sv-label").inner_text() in ("First", "Back", "Play", "Next", "Last")
    # while the page's script runs after a settings change, the views say they are not up to date
    page.evaluate("() => document.querySelector('[data-testid=\"stApp\"]').setAttribute('data-test-script-state', "
                  "'running')")
    page.wait_for_function(f"() => {SHADOW}.querySelector('.sv-root').classList.contains('sv-stale')",
                           timeout=5_000)
    assert page.locator(".sv-pending").is_visible()
    page.evaluate("() => document.querySelector('[data-testid=\"stApp\"]').setAttribute('data-test-script-state', "
                  "'notRunning')")
    page.wait_for_function(f"() => !{SHADOW}.querySelector('.sv-root').classList.contains('sv-stale')",
                           timeout=5_000)


def test_compare_steps_two_models_on_one_clock(server, page):  # noqa: F811
    url, _, _ = server
    open_view(page, f"{url}/compare?dense=ntm&sparse=sam&level=5&step=2")
    titles = page.locator(".sv-narration .sv-title")
    assert titles.all_inner_texts() == ["NTM at step 2", "SAM (exact) at step 2"]
    page.locator(".sv-next").click()
    page.locator(".sv-title").first.click()
    page.keyboard.press("ArrowRight")
    assert titles.all_inner_texts() == ["NTM at step 4", "SAM (exact) at step 4"] and url_step(page) == "4"
    # a time hovered on the lines over time moves both models' clock
    plot = page.locator(".sv-series .sv-splot").first
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    steps = int(page.locator(".sv-slider").get_attribute("max")) + 1
    page.mouse.move(box["x"] + box["width"] * (7.5 / steps), box["y"] + box["height"] / 2)
    assert titles.all_inner_texts() == ["NTM at step 7", "SAM (exact) at step 7"]
    # the count of wrong bits starts at zero, never below (issue 25 item 13: an axis from -1 to 1)
    axis = page.locator(".sv-series .sv-scell").nth(2).locator(".sv-yaxis span").all_inner_texts()
    assert axis[-1] == "0" and int(axis[0]) >= 1
    assert script_runs(page) == 0


def test_a_long_episode_is_scrubbed_in_the_browser(server, browser):  # noqa: F811
    """The long-episode mode's answer, over its whole length, on the same clock: the readout follows the step and
    ends at the sentence's totals; scrubbing reruns nothing."""
    url, _, _ = server
    context = browser.new_context(viewport=VIEWPORTS["1280x720"])
    try:
        page = context.new_page()
        page.goto(f"{url}/player?model=sam&task=associative_recall&slots=128&long=12&episodes=1",
                  wait_until="domcontentloaded")
        wait_ready(page, 120_000)
        page.locator(".st-key-player_long_run button").click()
        page.locator(".sv-long").wait_for(timeout=120_000)
        wait_ready(page, 120_000)
        page.evaluate(COUNT_RUNS)
        readout = page.locator(".sv-long .sv-readout")
        last = int(page.locator(".sv-slider").get_attribute("max"))
        assert last == 55 and readout.inner_text().startswith(f"Step {last} of {last} — answer step 3 of 3")
        said = page.locator("strong", has_text="bits wrong per sequence").inner_text()     # the sentence's total
        total = said.split(" bits wrong", 1)[0]
        assert f"So far {total} wrong bits per sequence" in readout.inner_text()
        page.locator(".sv-slider").fill("10")
        assert readout.inner_text().startswith("Step 10 of 55 — input phase, not scored. So far 0.00")
        page.locator(".sv-title").first.click()
        page.keyboard.press("End")
        assert readout.inner_text().startswith("Step 55 of 55")
        assert script_runs(page) == 0
    finally:
        context.close()


def test_the_long_task_strip_follows_the_clock(server, browser):  # noqa: F811
    """The long-curriculum SAM's run (issue 26 item 6) drawn as the strip along the episode: four charts on the
    view's clock, the readout names the step's bin, the charts' captions state the sentence's numbers, and
    scrubbing reruns nothing."""
    url, _, _ = server
    context = browser.new_context(viewport=VIEWPORTS["1280x720"])
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{url}/player?model=sam&task=associative_recall&slots=128&long=12&episodes=1",
                  wait_until="domcontentloaded")
        wait_ready(page, 120_000)
        page.get_by_text("The long-curriculum SAM").click()
        wait_ready(page, 120_000)
        items = page.locator(".st-key-keep_player_long_task_items input")
        trained = int(items.get_attribute("min"))
        items.fill(str(trained))
        items.press("Enter")
        wait_ready(page, 120_000)
        page.locator(".st-key-keep_player_long_task_slots").click()
        page.get_by_role("option", name="65,536 (2^16)").click()
        wait_ready(page, 120_000)
        page.locator(".st-key-player_long_task_run button").click()
        page.locator(".sv-longtask").wait_for(timeout=300_000)
        wait_ready(page, 300_000)
        page.evaluate(COUNT_RUNS)
        charts = page.locator(".sv-longtask .sv-scell")
        assert [charts.nth(i).get_attribute("data-chart") for i in range(charts.count())] == [
            "wrong", "cpu_ms", "rows", "recall"]
        last = int(page.locator(".sv-slider").get_attribute("max"))
        assert last == 4 * trained + 7                              # associative recall: 4 h + 8 steps
        readout = page.locator(".sv-longtask .sv-readout")
        assert readout.inner_text().startswith(f"Step {last} of {last}, in the bin of steps ")
        said = page.locator("strong", has_text="wrong bits per query").inner_text()
        captions = page.locator(".sv-longtask .sv-total")
        assert captions.nth(0).inner_text().startswith(said.split(" wrong bits", 1)[0] + " wrong bits per query")
        sentence = page.locator("p", has_text="CPU time per step").inner_text()
        cpu = captions.nth(1).inner_text().split(" ms over the episode", 1)[0]
        assert f"CPU time per step: {cpu} ms over the episode" in sentence
        page.locator(".sv-slider").fill("10")
        width = int(readout.inner_text().split("in the bin of steps ")[1].split("–")[0] or 0)
        assert readout.inner_text().startswith("Step 10 of ") and width <= 10
        assert "no answer step (not scored)" in readout.inner_text()
        assert script_runs(page) == 0 and not errors, errors
    finally:
        context.close()


def test_the_story_chapters_that_step_do_so_in_the_browser(server, browser):  # noqa: F811
    url, _, _ = server
    context = browser.new_context(viewport=VIEWPORTS["1280x720"])
    try:
        page = context.new_page()
        open_view(page, f"{url}/?chapter=5")
        title = page.locator(".sv-storyusage .sv-title")
        assert title.inner_text() == "Usage before step 3"
        page.locator(".sv-next").click()
        assert title.inner_text() == "Usage before step 4"
        least = page.evaluate(f"() => {SHADOW}.__samvizView.data.story.least[4]")
        red = page.evaluate(f"""() => [...{SHADOW}.querySelectorAll('.sv-sbar')]
            .filter(r => r.querySelector('.sv-fill').style.background.includes('214, 39, 40'))
            .map(r => Number(r.dataset.slot))""")
        assert red == [least]                               # the least recently used slot, and only it, in red
        assert page.locator(".sv-storyusage .sv-readout").inner_text().startswith("Before step 4,")
        assert "chapter=5" in page.url and "step" not in page.url      # the story's address keeps its chapter only
        assert script_runs(page) == 0
        open_view(page, f"{url}/?chapter=7")
        title = page.locator(".sv-rollback .sv-title")
        assert title.inner_text().startswith("Memory at the end of the forward pass")
        page.locator(".sv-title").first.click()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        assert title.inner_text().startswith("Memory rolled back to before step 4")
        outlines = page.evaluate(f"() => {SHADOW}.__samvizView.data.story.outlines[2]")
        drawn = page.locator(".sv-rollback .sv-restored")
        assert drawn.count() == sum(len(o["slots"]) for o in outlines)
        assert page.locator(".sv-rollback .sv-restored:not(.sv-earlier)").count() == len(outlines[-1]["slots"])
        assert script_runs(page) == 0
    finally:
        context.close()


def test_another_model_on_the_same_inputs_keeps_the_step_and_a_new_episode_starts_at_0(server, browser):  # noqa: F811
    url, _, _ = server
    context = browser.new_context(viewport=VIEWPORTS["1400x1000"])
    try:
        page = context.new_page()
        open_view(page, f"{url}/player?model=ntm&task=copy&level=6&seed=2&step=1")
        page.locator(".sv-slider").fill("5")
        assert shown_step(page) == 5 and url_step(page) == "5"
        open_player_settings(page)
        page.locator('.st-key-keep_player_model button[aria-label="Open"]').click()
        page.get_by_role("option", name="SAM", exact=True).click()
        page.locator('.sv-lazy[data-card="neighbours"]').wait_for(state="attached", timeout=120_000)   # SAM's
        wait_ready(page, 120_000)
        assert shown_step(page) == 5 and heading(page) == "What happened at step 5"
        page.wait_for_function("() => new URLSearchParams(window.location.search).get('step') === '5'",
                               timeout=10_000)
        assert "model=sam" in page.url
        field = page.locator(".st-key-keep_player_seed input")
        field.fill("3")
        field.press("Enter")
        page.wait_for_function(f"() => {SHADOW}.querySelector('.sv-root').dataset.step === '0'", timeout=120_000)
        wait_ready(page, 120_000)
        assert "seed=3" in page.url and url_step(page) == "0"
    finally:
        context.close()
