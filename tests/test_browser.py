"""The portal in a real browser: the Meters page and signing out, in Debian's headless
Chromium against the app served by waitress (fixtures in ``tests.browser_fixtures``).

Without Chromium these tests skip, unless ``TWIN_TEST_BROWSER=1`` (CI sets it) says they must
run, in which case a missing browser fails them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from sqlalchemy import func, select

from app.db import Database
from app.db.base import utcnow
from app.db.models import MeterReading
from tests.browser_support import log_in, wait
from tests.conftest import Tenant, add_meter, add_tenant

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.browser_fixtures"]  # chrome_paths, browser, portal


@pytest.fixture
def alpha(db: Database) -> tuple[Tenant, int]:
    tenant = add_tenant(db, "Alpha Energy")
    add_tenant(db, "Beta Power")
    meter = add_meter(db, tenant.supplier_id, serial="E-ALPHA-1",
                      previous=(utcnow() - timedelta(days=2), "1000"))
    return tenant, meter


def grid_text(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "meters-grid").text


def open_modal(driver: WebDriver, serial: str) -> None:
    row = wait(driver).until(ec.element_to_be_clickable(
        (By.XPATH, f"//div[contains(@class,'ag-center-cols-container')]//div[@role='row'][.//*[text()='{serial}']]"
                   f" | //div[contains(@class,'ag-pinned-left-cols-container')]//div[@role='row'][.//*[text()='{serial}']]")))
    row.click()
    enter = driver.find_element(By.ID, "meters-enter-reading")
    wait(driver).until(lambda d: enter.is_enabled())
    enter.click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, "reading-value")))


def editable_fields(driver: WebDriver) -> list[str]:
    modal = driver.find_element(By.ID, "reading-modal")
    fields = modal.find_elements(By.CSS_SELECTOR, "input, textarea, select, [contenteditable='true']")
    return [f.get_attribute("id") for f in fields
            if f.is_displayed() and f.is_enabled() and not f.get_attribute("readonly")]


def readings(db: Database) -> int:
    with db.Session() as session:
        return session.scalar(select(func.count()).select_from(MeterReading)) or 0


def test_an_operator_enters_a_reading_and_sees_the_cost_before_saving(
    portal: str, browser: WebDriver, alpha: tuple[Tenant, int], db: Database
) -> None:
    tenant, _ = alpha
    log_in(browser, portal, *tenant.users["operator"])
    wait(browser).until(lambda d: "E-ALPHA-1" in grid_text(d))
    total_before = browser.find_element(By.ID, "supplier-total").text

    open_modal(browser, "E-ALPHA-1")
    assert editable_fields(browser) == ["reading-value"]
    details = browser.find_element(By.ID, "reading-details").text
    assert "E-ALPHA-1" in details and "24.50 p/kWh" in details and "1,000.000 kWh" in details

    browser.find_element(By.ID, "reading-value").send_keys("1010")
    # 10 kWh at 24.50 p plus 2 days at 60.99 p, VAT included: 366.98 p, before any save
    wait(browser).until(lambda d: "£3.67" in d.find_element(By.ID, "reading-preview").text)
    preview = browser.find_element(By.ID, "reading-preview").text
    assert "10.000 kWh" in preview and "Supplier TOTAL to date" in preview
    assert readings(db) == 1  # nothing saved yet

    browser.find_element(By.ID, "reading-save").click()
    wait(browser).until(ec.invisibility_of_element_located((By.ID, "reading-value")))
    wait(browser).until(lambda d: "1,010.000 kWh" in grid_text(d))
    wait(browser).until(lambda d: d.find_element(By.ID, "supplier-total").text != total_before)
    assert readings(db) == 2

    browser.refresh()  # kept after a reload
    wait(browser).until(lambda d: "1,010.000 kWh" in grid_text(d))


def test_a_refused_reading_shows_why_and_saves_nothing(
    portal: str, browser: WebDriver, alpha: tuple[Tenant, int], db: Database
) -> None:
    tenant, _ = alpha
    log_in(browser, portal, *tenant.users["operator"])
    open_modal(browser, "E-ALPHA-1")
    browser.find_element(By.ID, "reading-value").send_keys("12a")
    wait(browser).until(lambda d: "must be digits" in d.find_element(By.ID, "reading-preview").text)
    save = browser.find_element(By.ID, "reading-save")
    assert not save.is_enabled()
    browser.find_element(By.ID, "reading-value").clear()
    browser.find_element(By.ID, "reading-value").send_keys("9999999")
    wait(browser).until(lambda d: "6 digits" in d.find_element(By.ID, "reading-preview").text)
    assert not save.is_enabled()
    browser.find_element(By.ID, "reading-cancel").click()
    wait(browser).until(ec.invisibility_of_element_located((By.ID, "reading-value")))
    assert readings(db) == 1
    assert "1,000.000 kWh" in grid_text(browser)


def test_a_viewer_sees_the_preview_but_cannot_save(
    portal: str, browser: WebDriver, alpha: tuple[Tenant, int], db: Database
) -> None:
    tenant, _ = alpha
    log_in(browser, portal, *tenant.users["viewer"])
    open_modal(browser, "E-ALPHA-1")
    browser.find_element(By.ID, "reading-value").send_keys("1010")
    wait(browser).until(lambda d: "£3.67" in d.find_element(By.ID, "reading-preview").text)
    assert "Viewers can see the cost" in browser.find_element(By.ID, "reading-preview").text
    assert not browser.find_element(By.ID, "reading-save").is_enabled()


def test_logging_out_lands_on_the_login_page(
    portal: str, browser: WebDriver, alpha: tuple[Tenant, int]
) -> None:
    tenant, _ = alpha
    log_in(browser, portal, *tenant.users["operator"])
    # The navigation bar is drawn by Dash after the page loads: wait for it, not just the URL.
    wait(browser).until(ec.element_to_be_clickable((By.LINK_TEXT, "Sign out"))).click()
    wait(browser).until(lambda d: "/login" in d.current_url)
    browser.get(portal + "/meters")
    wait(browser).until(lambda d: "/login?next=/meters" in d.current_url)
