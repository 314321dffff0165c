"""In the real app (headless Chromium): a view set on a page is in its address, and that address opened in a fresh
browser (no session) shows the same view (issue 12 item 6); switching pages in the sidebar keeps model and task.
The player's settings sit in a popover under its title: the tests open it (open_player_settings).
Pages are opened by their explicit paths (/player, /compare, /scaling_lab): "/" is the story. Fixtures and Debian's
chromium as in test_browser.py.
"""
from __future__ import annotations

import pytest
from test_browser import browser, close_player_settings, open_player_settings, server, wait_ready  # noqa: F401

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1400, "height": 1000}


def settle(page, timeout_ms: int = 90_000) -> None:
    page.wait_for_timeout(400)            # the rerun a click starts may not have begun yet
    wait_ready(page, timeout_ms)


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()


def reveal(page, key: str) -> None:
    """The player's settings are in a popover, drawn while it is open: open it for one of them."""
    if key.startswith("keep_player_") and not key.startswith("keep_player_long"):
        open_player_settings(page)


def pick(page, key: str, option: str) -> None:
    """Choose `option` in the selectbox whose widget key is `key`."""
    reveal(page, key)
    page.locator(f'.st-key-{key} button[aria-label="Open"]').click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def type_number(page, key: str, value: int) -> None:
    reveal(page, key)
    field = page.locator(f".st-key-{key} input")
    field.fill(str(value))
    field.press("Enter")
    settle(page)


def shown(page, key: str) -> str:
    """What a selectbox or multiselect shows: its text and the values of its inputs."""
    reveal(page, key)
    box = page.locator(f".st-key-{key}")
    values = [field.input_value() for field in box.locator("input").all()]
    return " ".join([box.inner_text(), *values])


def number(page, key: str) -> str:
    reveal(page, key)
    return page.locator(f".st-key-{key} input").input_value()


def open_fresh(browser, address: str, drawn: str):  # noqa: F811
    """The address in a new browser context (no cookies, no session, nothing but the URL), once the element
    `drawn` (a selector) is on the page and the app is idle."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(address, wait_until="domcontentloaded")
    page.wait_for_selector(drawn, timeout=120_000)
    settle(page, 120_000)
    no_exception(page)
    return context, page


def test_player_view_survives_its_address(server, browser):  # noqa: F811
    url, _, _ = server
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{url}/player", wait_until="domcontentloaded")
        settle(page, 120_000)
        pick(page, "keep_player_model", "SAM")
        type_number(page, "keep_player_seed", 5)
        pick(page, "keep_player_slots", "256")
        close_player_settings(page)
        for step in (1, 2, 3):
            page.locator(".sv-next").click()             # in the browser: no rerun to wait for
            page.get_by_text(f"What happened at step {step}").wait_for(timeout=60_000)
        no_exception(page)
        assert page.get_by_text("What happened at step 3").count() == 1
        address = page.url
        for part in ("model=sam", "seed=5", "slots=256", "step=3"):
            assert part in address, address
    finally:
        page.close()
    context, fresh = open_fresh(browser, address, "text=What happened at step 3")
    try:
        assert fresh.get_by_text("What happened at step 3").count() == 1
        assert fresh.locator(".sv-slider").input_value() == "3"
        label = fresh.locator(".st-key-player_settings button").first.inner_text()      # closed: it names them
        assert "SAM" in label and "seed 5" in label and "256 slots" in label, label
        assert "SAM" in shown(fresh, "keep_player_model")          # drawn late (popover), it shows the link's
        assert number(fresh, "keep_player_seed") == "5"
        assert "256" in shown(fresh, "keep_player_slots")
    finally:
        context.close()


def test_player_typed_bits_survive_the_address(server, browser):  # noqa: F811
    url, _, _ = server
    page = browser.new_page(viewport=VIEWPORT)
    bits = "101100110\n011011010\n000000001\n000000000\n000000000"
    try:
        page.goto(f"{url}/player", wait_until="domcontentloaded")
        settle(page, 120_000)
        open_player_settings(page)
        page.locator(".st-key-keep_player_source label", has_text="Typed bits").click()
        settle(page)
        area = page.locator(".st-key-keep_player_bits textarea")
        area.fill(bits)
        area.press("Control+Enter")
        settle(page)
        no_exception(page)
        assert page.get_by_text("Step 0 of 4").count() >= 1
        address = page.url
        assert "bits=" in address, address
    finally:
        page.close()
    context, fresh = open_fresh(browser, address, "text=Step 0 of 4")
    try:
        open_player_settings(fresh)
        area = fresh.locator(".st-key-keep_player_bits textarea")
        area.wait_for(state="visible", timeout=30_000)
        fresh.wait_for_function("b => document.querySelector('.st-key-keep_player_bits textarea').value === b",
                                arg=bits, timeout=10_000)                       # drawn late, it shows the link's
        assert area.input_value() == bits
        assert fresh.get_by_text("Step 0 of 4").count() >= 1
    finally:
        context.close()


def test_compare_view_survives_its_address(server, browser):  # noqa: F811
    url, _, _ = server
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{url}/compare?dense=dam&step=4", wait_until="domcontentloaded")
        settle(page, 120_000)
        pick(page, "keep_compare_slots", "256")
        no_exception(page)
        assert page.get_by_text("DAM at step 4").count() == 1
        address = page.url
        for part in ("dense=dam", "slots=256", "step=4"):
            assert part in address, address
    finally:
        page.close()
    context, fresh = open_fresh(browser, address, "text=DAM at step 4")
    try:
        assert fresh.get_by_text("DAM at step 4").count() == 1
        assert fresh.locator(".sv-slider").input_value() == "4"          # the episode view's own slider
        assert "256" in shown(fresh, "keep_compare_slots")
        assert "DAM" in shown(fresh, "keep_compare_dense")
    finally:
        context.close()


def test_scaling_lab_settings_survive_its_address(server, browser):  # noqa: F811
    url, _, _ = server
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{url}/scaling_lab?models=dam,sdnc-exact&slots=2048-8192&batch=2&steps=20&timeout=60",
                  wait_until="domcontentloaded")
        settle(page, 120_000)
        type_number(page, "keep_scaling_heads", 3)
        no_exception(page)
        address = page.url
        assert "heads=3" in address and "steps=20" in address, address
    finally:
        page.close()
    context, fresh = open_fresh(browser, address, ".st-key-keep_scaling_heads input")
    try:
        assert number(fresh, "keep_scaling_heads") == "3"
        assert number(fresh, "keep_scaling_steps") == "20"
        models = shown(fresh, "keep_scaling_models")
        assert "dam" in models and "sdnc-exact" in models and "sam-faiss" not in models
        assert "2" in shown(fresh, "keep_scaling_batch") and "60" in shown(fresh, "keep_scaling_timeout")
        assert "2,048" in fresh.locator(".st-key-keep_scaling_slots").inner_text()
        assert "8,192" in fresh.locator(".st-key-keep_scaling_slots").inner_text()
    finally:
        context.close()


def test_a_refused_link_value_is_a_visible_message(server, browser):  # noqa: F811
    url, _, _ = server
    page = browser.new_page(viewport=VIEWPORT)
    try:
        # the player refuses the link; Compare keeps it (the SDNC runs at 4096) and says the DNC is not run there
        for path, said in (("player?model=dnc&slots=4096", "using slots = default"),
                           ("compare?dense=dnc&slots=4096", "estimate")):
            page.goto(f"{url}/{path}", wait_until="domcontentloaded")
            settle(page, 120_000)
            no_exception(page)
            warnings = " ".join(page.locator('[data-testid="stAlertContentWarning"]').all_inner_texts())
            assert "at most 1024" in warnings and said in warnings, (path, warnings)
    finally:
        page.close()


def test_switching_pages_keeps_model_and_task(server, browser):  # noqa: F811
    url, _, _ = server
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{url}/player", wait_until="domcontentloaded")
        settle(page, 120_000)
        pick(page, "keep_player_model", "SDNC")
        pick(page, "keep_player_task", "associative recall")
        type_number(page, "keep_player_level", 4)
        type_number(page, "keep_player_seed", 6)
        page.locator('[data-testid="stSidebarNavLink"][href$="/compare"]').click()
        settle(page, 120_000)
        no_exception(page)
        assert "SDNC" in shown(page, "keep_compare_sparse")
        assert "associative recall" in shown(page, "keep_compare_task")
        assert number(page, "keep_compare_level") == "4" and number(page, "keep_compare_seed") == "6"
        assert "sparse=sdnc" in page.url and "task=associative_recall" in page.url, page.url
        page.locator('[data-testid="stSidebarNavLink"][href$="/player"]').click()
        settle(page, 120_000)
        no_exception(page)
        assert "SDNC" in shown(page, "keep_player_model")
        assert "associative recall" in shown(page, "keep_player_task")
        assert "model=sdnc" in page.url and "task=associative_recall" in page.url, page.url
    finally:
        page.close()


def test_a_player_address_with_settings_opens_without_page_not_found(server, browser):  # noqa: F811
    """/player?model=… once showed 'Page not found' over the player (fixed in app.py, a3a6cd4)."""
    url, _, _ = server
    context, page = open_fresh(browser, f"{url}/player?model=sam&step=2", "text=What happened at step")
    try:
        assert page.get_by_text("What happened at step 2").count() == 1
        assert page.get_by_text("Page not found").count() == 0
    finally:
        context.close()
