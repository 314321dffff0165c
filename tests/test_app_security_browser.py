"""In the real app (headless Chromium): a visitor's link text is shown as the characters typed, never as a
link or styled text inside our warning (issue 15, item 6). AppTest sees only each element's source; this
checks what Streamlit's markdown actually renders. Fixtures and Debian's chromium as in test_browser.py.
"""
from __future__ import annotations

import urllib.parse

import pytest
from test_browser import browser, server, wait_ready  # noqa: F401  (pytest fixtures)

pytestmark = pytest.mark.browser

LINK = "[LOG IN HERE](http://evil.example/login)"
STYLED = "**bold** :red[red]"


def test_link_and_markdown_in_the_url_are_plain_text(server, browser):  # noqa: F811
    url, _, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        for value in (LINK, STYLED):
            page.goto(f"{url}/?{urllib.parse.urlencode({'model': value})}", wait_until="domcontentloaded")
            wait_ready(page)
            page.wait_for_selector('[data-testid="stAlertContentWarning"]', timeout=60_000)
            assert page.locator('[data-testid="stException"]').count() == 0
            assert page.locator('a[href*="evil.example"]').count() == 0
            warning = page.locator('[data-testid="stAlertContentWarning"]').first
            assert "model" in warning.inner_text() and warning.locator("a, strong").count() == 0
            texts = " ".join(page.locator('[data-testid="stText"]').all_inner_texts())
            assert repr(value) in texts
            assert page.locator('[data-testid="stMain"] strong', has_text="bold").count() == 0
    finally:
        page.close()
