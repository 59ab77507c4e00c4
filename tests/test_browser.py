"""The portal in a real browser: the Meters page (its grid, the reading modal and the
confirmation of a save) and signing out, in Debian's headless Chromium against the app served
by waitress (fixtures in ``tests.browser_fixtures``).

Without Chromium these tests skip, unless ``TWIN_TEST_BROWSER=1`` (CI sets it) says they must
run, in which case a missing browser fails them.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from sqlalchemy import func, select

from app.db import Database
from app.db.base import utcnow
from app.db.models import MeterReading
from tests.billing_data import add_priced_meter
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


# -- the reading modal: half-typed numbers, causes that fit, the reason in view, the toast ----


def usual_meter(db: Database, supplier_id: int) -> None:
    """E-USUAL-1: 10 kWh a day (800, 900, 1000 kWh ten days apart), last read two days ago; on
    the tariff ``alpha``'s meter gave the supplier."""
    last = utcnow() - timedelta(days=2)
    add_priced_meter(db, supplier_id, serial="E-USUAL-1", reads=(
        (last - timedelta(days=20), "800"), (last - timedelta(days=10), "900"), (last, "1000")))


def preview_text(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "reading-preview").text


def in_view(driver: WebDriver, element_id: str) -> bool:
    """Displayed and wholly inside the window, without scrolling anything."""
    return driver.execute_script(
        "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight"
        " && r.left >= 0 && r.right <= window.innerWidth;", element_id)


def test_a_number_still_being_typed_is_not_priced_and_a_lower_one_waits_for_its_cause(
    portal: str, browser: WebDriver, alpha: tuple[Tenant, int]
) -> None:
    tenant, _ = alpha
    log_in(browser, portal, *tenant.users["operator"])
    open_modal(browser, "E-ALPHA-1")
    value = browser.find_element(By.ID, "reading-value")
    value.send_keys("9")  # on the way to 9xxx, or 0990: not a credit of 991 kWh
    wait(browser).until(lambda d: "TOTAL" in preview_text(d) or "Keep typing" in preview_text(d))
    assert "TOTAL" not in preview_text(browser) and "credit" not in preview_text(browser)
    assert "Keep typing: the last reading was 1000" in preview_text(browser)
    hint = browser.find_element(By.ID, "reading-save-hint")
    save = browser.find_element(By.ID, "reading-save")
    assert hint.text == "Keep typing the reading." and hint.is_displayed()
    assert not save.is_enabled()

    value.send_keys("90")
    wait(browser).until(lambda d: "Keep typing" in preview_text(d) and d.find_element(
        By.ID, "reading-value").get_attribute("value") == "990")
    value.send_keys(Keys.TAB)  # leaving the field: 990 is the whole reading
    wait(browser).until(lambda d: "credit or a rollover" in preview_text(d)
                        and d.find_element(By.ID, "reading-lower-means").text)
    assert "TOTAL" not in preview_text(browser)
    causes = browser.find_element(By.ID, "reading-lower-means").text
    assert "record a credit" in causes and "rolled over" in causes and "catches up" not in causes
    assert in_view(browser, "reading-reason")
    assert hint.text == "To save, choose what explains this reading and give a reason."

    browser.find_element(By.XPATH, "//label[contains(., 'record a credit')]").click()
    wait(browser).until(lambda d: "Supplier TOTAL to date" in preview_text(d))
    assert "-10.000 kWh" in preview_text(browser)
    assert hint.text == "To save, give a reason." and not save.is_enabled()


def test_a_high_reading_asks_for_a_cause_that_fits_in_view_and_its_save_is_confirmed(
    portal: str, browser: WebDriver, alpha: tuple[Tenant, int], db: Database
) -> None:
    tenant, _ = alpha
    usual_meter(db, tenant.supplier_id)
    log_in(browser, portal, *tenant.users["operator"])
    open_modal(browser, "E-USUAL-1")
    browser.find_element(By.ID, "reading-value").send_keys("1100")  # 100 kWh in 2 days, usually 20

    wait(browser).until(lambda d: "more than twice" in d.find_element(By.ID, "reading-warnings").text
                        and d.find_element(By.ID, "reading-lower-means").text)
    causes = browser.find_element(By.ID, "reading-lower-means").text
    assert "catches up" in causes and "Genuine high use" in causes
    assert "record a credit" not in causes and "rolled over" not in causes
    hint = browser.find_element(By.ID, "reading-save-hint")
    assert hint.text == "To save, choose what explains this reading and give a reason."
    for width in (1280, 1440):  # the reason box in view in a laptop's window, no scrolling
        browser.set_window_size(width, 900)
        wait(browser).until(lambda d: in_view(d, "reading-reason"))
        assert in_view(browser, "reading-save-hint") and in_view(browser, "reading-save")

    browser.find_element(By.XPATH, "//label[contains(., 'Genuine high use')]").click()
    browser.find_element(By.ID, "reading-reason").send_keys("New heat pump, customer confirmed")
    save = browser.find_element(By.ID, "reading-save")
    wait(browser).until(lambda d: save.is_enabled())
    assert hint.text == ""
    save.click()

    toast = wait(browser).until(ec.visibility_of_element_located((By.ID, "reading-toast")))
    wait(browser).until(ec.invisibility_of_element_located((By.ID, "reading-value")))
    # 100 kWh at 24.50 p plus 2 days at 60.99 p, VAT included: 2450.00 + 121.98 = £25.72
    for words in ("Reading saved", "Meter E-USUAL-1", "1,100.000 kWh", "100.0 kWh", "£25.72"):
        assert words in toast.text
    time.sleep(3)  # a confirmation to read, not a flash: still there seconds later
    assert browser.find_element(By.ID, "reading-toast").is_displayed()
    browser.find_element(By.CSS_SELECTOR, "#reading-toast .btn-close").click()
    wait(browser).until(ec.invisibility_of_element_located((By.ID, "reading-toast")))


# -- the meters grid: its key columns on a laptop and on a phone --------------------------

KEY_COLUMNS = ("serial", "customer", "fuel", "last_value", "last_read_at", "period_cost", "cost_to_date")
HEADERS_IN_VIEW = """
const grid = document.getElementById('meters-grid').getBoundingClientRect();
return arguments[0].filter(id => {
  const cells = Array.from(document.querySelectorAll(`#meters-grid .ag-header-cell[col-id='${id}']`));
  return cells.some(c => { const r = c.getBoundingClientRect();
                           return r.width > 0 && r.left >= grid.left - 1 && r.right <= grid.right + 1; });
});"""
TRUNCATED = """
return Array.from(document.querySelectorAll("#meters-grid .ag-cell[col-id='last_read_at']"))
  .filter(c => c.scrollWidth > c.clientWidth).map(c => c.innerText);"""


def test_the_meters_grid_shows_its_key_columns_on_a_laptop_and_pins_the_meter_on_a_phone(
    portal: str, browser: WebDriver, alpha: tuple[Tenant, int]
) -> None:
    tenant, _ = alpha
    browser.set_window_size(1440, 900)
    log_in(browser, portal, *tenant.users["operator"])
    wait(browser).until(lambda d: "E-ALPHA-1" in grid_text(d))

    assert browser.execute_script(HEADERS_IN_VIEW, list(KEY_COLUMNS)) == list(KEY_COLUMNS)
    assert browser.execute_script(TRUNCATED) == []  # "Read on" shows its whole date and time

    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True})
    try:
        browser.refresh()
        wait(browser).until(lambda d: "E-ALPHA-1" in grid_text(d))
        pinned = browser.find_element(By.CSS_SELECTOR, "#meters-grid .ag-pinned-left-header")
        assert "Meter" in pinned.text
        # The rest are one scroll of the grid away, the meter still beside them.
        browser.execute_script("dash_ag_grid.getApiAsync('meters-grid').then("
                               "api => api.ensureColumnVisible('cost_to_date', 'end'));")
        wait(browser).until(lambda d: d.execute_script(HEADERS_IN_VIEW, ["cost_to_date"]) == ["cost_to_date"])
        assert browser.execute_script(HEADERS_IN_VIEW, ["serial"]) == ["serial"]
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
