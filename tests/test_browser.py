"""The portal in a real browser: Debian's headless Chromium driven by Selenium, against the app
served by a real WSGI server (waitress) on a free local port.

Without Chromium these tests skip, unless ``TWIN_TEST_BROWSER=1`` (CI sets it) says they must
run, in which case a missing browser fails them.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import func, select

from app.db import Database
from app.db.base import utcnow
from app.db.models import MeterReading
from settings import Settings
from tests.conftest import Tenant, add_meter, add_tenant

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_S = 20


@pytest.fixture(scope="session")
def chrome_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    driver = shutil.which("chromedriver") or (CHROMEDRIVER if Path(CHROMEDRIVER).exists() else None)
    if browser and driver:
        return browser, driver
    message = "Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("TWIN_TEST_BROWSER"):
        pytest.fail(f"TWIN_TEST_BROWSER is set but {message}")
    pytest.skip(message)


@pytest.fixture
def browser(chrome_paths: tuple[str, str], tmp_path: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = chrome_paths[0]
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chrome_paths[1]), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def portal(settings: Settings, db: Database) -> Iterator[str]:
    """The real app behind waitress, on a free port; yields its base URL. Tests take it before
    ``browser``, so the browser closes first and no request is cut off by the server closing."""
    from waitress.server import create_server

    from app import create_app

    server = create_server(create_app(settings), host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


@pytest.fixture
def alpha(db: Database) -> tuple[Tenant, int]:
    tenant = add_tenant(db, "Alpha Energy")
    add_tenant(db, "Beta Power")
    meter = add_meter(db, tenant.supplier_id, serial="E-ALPHA-1",
                      previous=(utcnow() - timedelta(days=2), "1000"))
    return tenant, meter


def wait(driver: WebDriver):  # type: ignore[no-untyped-def]
    return WebDriverWait(driver, WAIT_S, ignored_exceptions=(WebDriverException,))


def log_in(driver: WebDriver, base: str, email: str, password: str, path: str = "/meters") -> None:
    driver.get(base + path)
    wait(driver).until(ec.presence_of_element_located((By.ID, "email"))).send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    wait(driver).until(lambda d: d.current_url.endswith(path))


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
