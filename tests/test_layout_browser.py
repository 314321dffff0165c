"""Issue 25: no text cut off on the story (every chapter, also in presenter mode), the Scaling lab (each tab), the
Learn page, the player, Compare and the Learning curves page, at a projector's 1280×720 and at 1400×1000 — buttons,
selects, links, tables, axis titles, legends.

The check is tests/clipping.py (reusable by any page's test). Fixtures as in test_browser.py. Text inside a component's
own frame (the browser-side episode view of chapters 5 and 7) is that component's to check, with the same helper.
"""
from __future__ import annotations

from clipping import clipped_text, describe
import pytest
from test_browser import browser, check_page, open_player_settings, server, wait_ready  # noqa: F401  (pytest fixtures)

from samviz.app import story

pytestmark = pytest.mark.browser

SIZES = [(1280, 720), (1400, 1000)]
SETTLE_MS = 1500            # plotly lays out its titles and legends after mounting
# The story's static SVG charts (samviz/app/svg_charts.py; in a markdown element, or in the figure component's shadow
# root): every text of each must lie inside the chart's box (an SVG clips what leaves its viewBox), and the chart
# inside the window.
CHARTS = """[...document.querySelectorAll('svg.samviz-chart'),
            ...[...document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')]
              .flatMap(h => h.shadowRoot ? [...h.shadowRoot.querySelectorAll('svg.samviz-chart')] : [])]"""
SVG_TEXT_OUTSIDE = """() => {
  const out = [];
  for (const svg of """ + CHARTS + """) {
    const box = svg.getBoundingClientRect();
    if (box.width < 2) { out.push('a chart with no width'); continue; }
    if (box.right > window.innerWidth + 1.5) out.push('a chart past the window');
    for (const t of svg.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      if (r.left < box.left - 1.5 || r.right > box.right + 1.5 || r.top < box.top - 1.5 || r.bottom > box.bottom + 1.5)
        out.push(t.textContent);
    }
  }
  return out;
}"""


def _open(page, url: str) -> None:
    """Open a page and wait until it has run and every chart on it has drawn, plotly or the story's SVG (however
    many it has: a chapter whose measurements are missing says so instead of drawing)."""
    page.goto(url, wait_until="domcontentloaded")
    wait_ready(page, 120_000)
    check_page(page, min_charts=0)
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
                           ".every(c => c.querySelector('svg.main-svg'))", timeout=60_000)
    page.wait_for_function(f"() => {CHARTS}.every(s => s.getBoundingClientRect().width > 300)", timeout=60_000)
    page.wait_for_timeout(SETTLE_MS)


def _assert_nothing_cut(page, where: str) -> None:
    problems = clipped_text(page)
    assert not problems, f"{where}: text cut off\n{describe(problems)}"
    outside = page.evaluate(SVG_TEXT_OUTSIDE)
    assert not outside, f"{where}: chart text outside its chart: {outside}"


@pytest.mark.parametrize("width, height", SIZES)
def test_no_story_chapter_cuts_text(server, browser, width, height):  # noqa: F811
    url, _, _ = server
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        for chapter in story.chapters():
            _open(page, f"{url}/?chapter={chapter.number}")
            _assert_nothing_cut(page, f"chapter {chapter.number} at {width}×{height}")
        if width == 1280:                          # the projector: big type, no sidebar
            for chapter in story.chapters():
                _open(page, f"{url}/?chapter={chapter.number}&presenter=1")
                _assert_nothing_cut(page, f"chapter {chapter.number}, presenter mode, at {width}×{height}")
    finally:
        page.close()


@pytest.mark.parametrize("width, height", SIZES)
def test_the_scaling_lab_and_learn_pages_cut_no_text(server, browser, width, height):  # noqa: F811
    url, _, _ = server
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        _open(page, f"{url}/scaling_lab")
        for tab in page.locator('[data-testid="stTab"]').all():
            tab.click()
            page.wait_for_timeout(SETTLE_MS)
            _assert_nothing_cut(page, f"Scaling lab, tab {tab.inner_text()!r}, at {width}×{height}")
        _open(page, f"{url}/learn")
        _assert_nothing_cut(page, f"Learn at {width}×{height}")
    finally:
        page.close()


@pytest.mark.parametrize("width, height", SIZES)
def test_the_player_compare_and_learning_curves_cut_no_text(server, browser, width, height):  # noqa: F811
    """The other pages, as they open (their default models and settings)."""
    url, _, _ = server
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        for path in ("player", "compare", "learning_curves"):
            _open(page, f"{url}/{path}")
            _assert_nothing_cut(page, f"/{path} at {width}×{height}")
    finally:
        page.close()


PLAYER_SETTINGS = ["model", "task", "source", "level", "seed", "index", "slots"]


@pytest.mark.parametrize("width, height", SIZES)
def test_every_player_setting_can_be_reached_in_its_popover(server, browser, width, height):  # noqa: F811
    """The player's settings sit in a popover (drawn only when opened, issue 28): opened at a projector's size,
    each of them (a sparse model's, all seven) scrolls into the window whole, its label and box uncut, and so do
    the popover's buttons."""
    url, _, _ = server
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        _open(page, f"{url}/player?model=sam&task=copy&level=4&seed=2")
        open_player_settings(page)
        for name in [f".st-key-keep_player_{key}" for key in PLAYER_SETTINGS] + [".st-key-player_fill",
                                                                                  ".st-key-player_download"]:
            widget = page.locator(name)
            widget.scroll_into_view_if_needed()
            box = widget.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 10, name
            assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (name, box)
            assert box["y"] >= 0 and box["y"] + box["height"] <= height + 1, (name, box)
            assert widget.evaluate("w => [...w.querySelectorAll('label, p, button, input')].every("
                                   "e => e.scrollWidth <= e.clientWidth + 1)"), name
    finally:
        page.close()


def test_the_check_finds_cut_text(server, browser):  # noqa: F811
    """The check itself: a label squeezed into a narrow box with an ellipsis, a box that hides its overflow, a line
    past the window and a plotly title wider than its chart are each reported; text that fits is not."""
    url, _, _ = server
    page = browser.new_page(viewport={"width": 800, "height": 600})
    try:
        _open(page, f"{url}/learn")
        page.evaluate("""() => {
            const root = document.querySelector('[data-testid="stApp"]');
            const add = (html) => { const d = document.createElement('div'); d.innerHTML = html;
                                    root.prepend(d); };
            add('<div style="width:60px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap">' +
                'Compare: dense and sparse side by side</div>');
            add('<div style="width:80px;overflow:hidden"><span style="white-space:nowrap">' +
                'ms per step (forward + backward)</span></div>');
            add('<div style="position:absolute;left:700px;white-space:nowrap">Skip to the player, far right</div>');
            add('<div style="width:400px">fits easily</div>');
        }""")
        texts = {p["text"] for p in clipped_text(page)}
        assert "Compare: dense and sparse side by side" in texts
        assert "ms per step (forward + backward)" in texts
        assert "Skip to the player, far right" in texts
        assert "fits easily" not in texts
    finally:
        page.close()
