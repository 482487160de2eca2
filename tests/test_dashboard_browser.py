"""The demo project's dashboard in a real headless Chromium: sign in, see the devices and
a drawn chart, switch a device and watch its command settle."""

from __future__ import annotations

from pathlib import Path

import pytest

from .baking import TEMPLATE_DIR, unavailable

CHROMIUM = Path("/usr/bin/chromium")
# Kept after the run, for a person to look at (CI keeps the folder as an artifact).
ARTIFACTS = TEMPLATE_DIR / "tests" / "artifacts"
# Chromium's own background traffic would only meet this machine's closed network.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        unavailable(f"Chromium is not installed at {CHROMIUM}", "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page, base_url: str, user: str, password: str) -> None:
    page.goto(f"{base_url}/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("table.devices")


def test_a_person_signs_in_reads_a_chart_and_switches_a_device(demo, browser):
    base_url, user, password = demo
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    sign_in(page, base_url, user, password)
    assert page.locator("table.devices tbody tr").count() == 12
    page.screenshot(path=ARTIFACTS / "devices.png", full_page=True)

    page.click("table.devices tbody tr:first-child a")
    chart = page.wait_for_selector("svg.chart")
    points = page.locator("svg.chart polyline.line").first.get_attribute("points").split()
    assert int(chart.get_attribute("data-points")) == len(points) > 100
    assert page.locator("#device-state").inner_text() == "on"
    page.screenshot(path=ARTIFACTS / "device.png", full_page=True)

    page.click("button[value=false]")
    page.wait_for_function(
        "document.getElementById('command-state').textContent === 'confirmed'", timeout=30_000
    )
    assert page.locator("#device-state").inner_text() == "off"
    page.screenshot(path=ARTIFACTS / "device-switched.png", full_page=True)
    page.reload()
    latest_command = page.locator("table.commands tbody tr").first.inner_text()
    assert "confirmed" in latest_command and "standby" in latest_command

    page.click("text=API")
    page.wait_for_selector(".swagger-ui .opblock")
    page.screenshot(path=ARTIFACTS / "api-docs.png")
    # Everything came from the project itself: the pages work offline.
    assert [url for url in requested if not url.startswith(base_url)] == []


def test_the_devices_page_shows_what_the_devices_push_without_a_reload(demo, browser):
    # The demo's devices push a reading every 10 s; the page fetches its live parts as often.
    base_url, user, password = demo
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, base_url, user, password)
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    readings = "Array.from(document.querySelectorAll('#devices-now .reading'), r => r.textContent)"
    shown = page.evaluate(readings)

    page.wait_for_function(
        f"shown => JSON.stringify({readings}) !== JSON.stringify(shown)", arg=shown, timeout=60_000
    )

    assert len(page.evaluate(readings)) == len(shown) > 0
    assert navigations == []


def test_the_pages_fit_a_phone(demo, browser):
    base_url, user, password = demo
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)

    sign_in(page, base_url, user, password)
    assert_fits(page, 390)
    page.screenshot(path=ARTIFACTS / "devices-phone.png", full_page=True)
    page.click("table.devices tbody tr:nth-child(2) a")
    page.wait_for_selector("svg.chart")
    assert_fits(page, 390)
    page.screenshot(path=ARTIFACTS / "device-phone.png", full_page=True)


def assert_fits(page, width: int) -> None:
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= width, f"{page.url} is {page_width} px wide on a {width} px screen"
