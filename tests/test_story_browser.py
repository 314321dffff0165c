"""The story in headless Chromium: walk every chapter with Next, answer each question, presenter mode, shared links.

Fixtures, readiness and Debian's chromium as in test_browser.py (reused, not copied).
"""
from __future__ import annotations

import pytest
from test_browser import browser, check_page, screenshot, server, wait_ready  # noqa: F401  (pytest fixtures)

from samviz.app import story

pytestmark = pytest.mark.browser

SIDEBAR = '[data-testid="stSidebar"]'
# the story's charts are static SVG (samviz/app/svg_charts.py, no plotly.js: issue 28): one drawn counts when it has a
# visible size inside the window and marks (bars, cells, points, lines or areas) in it; in a markdown element, or in
# the figure component's shadow root (chapter 5, samviz/app/episode_view/figure.js)
DRAWN_SVGS = """() => [...document.querySelectorAll('[data-testid="stMarkdownContainer"] svg.samviz-chart'),
                       ...[...document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')]
                         .flatMap(h => h.shadowRoot ? [...h.shadowRoot.querySelectorAll('svg.samviz-chart')] : [])]
  .filter(s => { const r = s.getBoundingClientRect();
                 return r.width > 300 && r.height > 150 && r.left >= 0 && r.right <= window.innerWidth + 1
                   && s.querySelectorAll('.mark rect, .mark circle, .mark polyline, .mark polygon').length > 0
                   && s.getAttribute('role') === 'img' && s.getAttribute('aria-label'); }).length"""
VIEWS = (5, 7)                                                    # chapters that step in the episode view


def svg_charts(number: int) -> int:
    """The SVG charts chapter `number` draws: one, but none in chapter 7 (the episode view alone), and in chapters
    6 and 8 only when measurements of today's code exist (else the chapter says so); chapter 8 a second one, the
    memory that fills, when the long-curriculum evaluation has its rows."""
    if number == 6:
        return int(bool(story.index_runs()["rows"]))
    if number == 8:
        return int(bool(story.measured_payoff()["table"])) + int(bool(story.memory_filling()["series"]))
    return int(number != 7)


def check_chapter(page, number: int) -> None:
    """No exception; the chapter's SVG chart drawn (and its episode view, in chapters 5 and 7); no plotly chart."""
    check_page(page, min_charts=1 if number in VIEWS else 0)
    expected = svg_charts(number)
    page.wait_for_function(f"() => ({DRAWN_SVGS})() === {expected}", timeout=30_000)
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 0


def _header(page) -> str:
    """The chapter's number and title: the heading that opens its text (one markdown element with it)."""
    return page.locator('[data-testid="stMarkdownContainer"] h2').first.inner_text()


def _answer(page, chapter: story.Chapter) -> None:
    """Pick the right answer, press Check, and see the feedback with the explanation."""
    radio = page.locator(f".st-key-story_answer_{chapter.number}")
    radio.get_by_text(chapter.question.right, exact=True).click()
    wait_ready(page)
    page.locator(f".st-key-story_check_{chapter.number} button").click()
    wait_ready(page)
    feedback = page.locator('[data-testid="stAlertContentSuccess"]')
    feedback.first.wait_for(timeout=30_000)
    assert chapter.question.explanation[:40] in feedback.first.inner_text()


@pytest.mark.parametrize("width, height", [(1400, 1000), (1280, 720)])
def test_walk_every_chapter_answer_and_present(server, browser, width, height):  # noqa: F811
    url, _, log_path = server
    chapters = story.chapters()
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(f"{url}/", wait_until="domcontentloaded")
        wait_ready(page, 120_000)
        check_chapter(page, 1)
        hover = page.locator("svg.samviz-chart .mark.bars rect").first.locator("title").text_content()
        assert hover.startswith("slot 0: weight ")                     # hover text on the marks
        for chapter in chapters:
            assert _header(page).startswith(f"{chapter.number}. "), _header(page)
            # a chapter whose index is built on first view may take a few seconds
            check_chapter(page, chapter.number)
            if chapter.number == 1:            # the equation is sent when opened (a rerun), then KaTeX draws it
                page.locator(".st-key-story_equation summary").click()
                page.locator(".st-key-story_equation .katex").first.wait_for(timeout=30_000)
            if chapter.number == 2:            # a slider redraws the SVG chart with the new β
                title = page.locator("svg.samviz-chart > text").first
                assert "β = 5" in title.text_content()
                page.locator('.st-key-story_beta input[type="range"]').press("ArrowRight")
                page.wait_for_function("() => document.querySelector('svg.samviz-chart > text').textContent"
                                       ".includes('β = 5.5')", timeout=30_000)
                wait_ready(page)
                check_chapter(page, 2)
            _answer(page, chapter)
            if chapter.number == 1 and width == 1400:
                screenshot(page, "story")
            if chapter.number < len(chapters):
                page.locator(".st-key-story_next button").click()
                page.wait_for_function(f"() => window.location.search.includes('chapter={chapter.number + 1}')",
                                       timeout=30_000)
                wait_ready(page, 120_000)
        assert page.locator(".st-key-story_next button").is_disabled()
        assert page.locator('a[href*="player"]').count() >= 1           # the payoff links to the player

        # presenter mode: toggled in the "Chapters" popover (drawn only once opened), kept in the URL, no sidebar
        assert page.locator(".st-key-story_presenter").count() == 0
        page.locator(".st-key-story_menu button").first.click()
        page.locator(".st-key-story_presenter label").click()
        page.wait_for_function("() => window.location.search.includes('presenter=1')", timeout=30_000)
        wait_ready(page)
        assert not page.locator(SIDEBAR).is_visible()
        page.locator(".st-key-story_prev button").click()
        page.wait_for_function("() => window.location.search.includes('chapter=7')", timeout=30_000)
        wait_ready(page)
        assert "presenter=1" in page.url and not page.locator(SIDEBAR).is_visible()
        if width == 1280:
            screenshot(page, "story_presenter")
        shared = page.url

        # the shared address in a fresh context (a new visitor) opens the same chapter, in presenter mode
        context = browser.new_context(viewport={"width": width, "height": height})
        try:
            fresh = context.new_page()
            fresh.goto(shared, wait_until="domcontentloaded")
            wait_ready(fresh, 120_000)
            check_chapter(fresh, 7)
            assert _header(fresh).startswith("7. "), _header(fresh)
            assert "Chapter 7 of 8" in fresh.locator(".st-key-story_menu button").first.inner_text()   # where we are
            assert not fresh.locator(SIDEBAR).is_visible()
        finally:
            context.close()

        # any chapter from the "Chapters" popover: every title listed, one click opens it
        page.locator(".st-key-story_menu button").first.click()
        page.locator(".st-key-story_select label", has_text="2. Reading by content").click()
        page.wait_for_function("() => window.location.search.includes('chapter=2')", timeout=30_000)
        wait_ready(page)
        assert _header(page).startswith("2. "), _header(page)
        assert "Traceback" not in log_path.read_text()
    finally:
        page.close()


def test_bad_chapter_link_gives_a_message_and_chapter_1(server, browser):  # noqa: F811
    url, _, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(f"{url}/?chapter=%5Bx%5D(http://evil.example)", wait_until="domcontentloaded")
        wait_ready(page, 120_000)
        page.wait_for_selector('[data-testid="stAlertContentWarning"]', timeout=30_000)
        assert page.locator('a[href*="evil.example"]').count() == 0
        assert "'[x](http://evil.example)'" in " ".join(page.locator('[data-testid="stText"]').all_inner_texts())
        assert _header(page).startswith("1. ")
    finally:
        page.close()


def test_old_player_link_opens_the_player_and_the_story_cleans_the_address(server, browser):  # noqa: F811
    url, _, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(f"{url}/?model=sam&task=copy&step=2", wait_until="domcontentloaded")   # a link from before the story
        wait_ready(page, 120_000)
        check_page(page, min_charts=3)
        assert page.get_by_text("What happened at step 2").count() == 1
        page.locator('[data-testid="stSidebarNav"] a', has_text="Story").click()
        page.wait_for_function("() => window.location.search === '?chapter=1'", timeout=30_000)
        wait_ready(page)
        assert _header(page).startswith("1. ")      # the address now reopens the story, not the player
        # the player's own address with settings opens the player, not "Page not found"
        page.goto(f"{url}/player?model=sam&task=copy&step=2", wait_until="domcontentloaded")
        wait_ready(page, 120_000)
        check_page(page, min_charts=3)
        assert page.get_by_text("What happened at step 2").count() == 1
        assert page.get_by_text("Page not found").count() == 0
    finally:
        page.close()


def test_the_story_at_its_own_path_opens_the_chapter_without_page_not_found(server, browser):  # noqa: F811
    """Streamlit serves its default page at "/" only; /story?chapter=3 (a hand-typed or older address) must open
    chapter 3 with no "Page not found" message (a hidden page at /story renders the story: pages.page_objects)."""
    url, _, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    try:
        page.goto(f"{url}/story?chapter=3", wait_until="domcontentloaded")
        wait_ready(page, 120_000)
        assert _header(page).startswith("3. ")
        assert page.get_by_text("Page not found").count() == 0
        page.get_by_role("button", name="Next").first.click()
        page.wait_for_function("() => window.location.search.includes('chapter=4')", timeout=30_000)
        wait_ready(page)
        assert _header(page).startswith("4. ")
        assert page.get_by_text("Page not found").count() == 0
    finally:
        page.close()
