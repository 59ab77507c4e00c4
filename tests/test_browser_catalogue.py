"""The plant catalogue in a real browser: an admin adds a site, a generic asset and its sensor
on /admin/catalogue, then opens the asset's page and sees its title and its pipeline status line
(a brand-new asset with no readings, which the page shows calmly). Nothing breaks the
Content-Security-Policy on the way.

Without Chromium this test skips, unless ``TWIN_TEST_BROWSER=1`` (CI sets it) says it must run,
in which case a missing browser fails it.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from sqlalchemy import select

from app.db import Database
from app.db.models import Asset
from layouts import ids
from tests.browser_support import csp_violations, log_in, wait
from tests.conftest import add_tenant

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.browser_fixtures"]  # chrome_paths, browser, portal


def press(driver: WebDriver, element: WebElement) -> None:
    """Click ``element`` once it is in the middle of the window (the editor scrolls by itself)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'nearest', behavior: 'instant'});", element)
    wait(driver).until(lambda d: element.is_displayed() and element.is_enabled())
    element.click()


def type_into(driver: WebDriver, ident: str, text: str) -> None:
    field = wait(driver).until(ec.visibility_of_element_located((By.ID, ident)))
    field.clear()
    field.send_keys(text)


def says(driver: WebDriver, ident: str, text: str) -> None:
    wait(driver).until(ec.text_to_be_present_in_element((By.ID, ident), text))


def test_an_admin_adds_a_site_a_generic_asset_and_a_sensor_then_opens_the_asset_page(
    portal: str, browser: WebDriver, db: Database
) -> None:
    tenant = add_tenant(db, "Alpha Energy")
    log_in(browser, portal, *tenant.users["admin"], path="/admin/catalogue")
    says(browser, ids.CAT_TREE, "No sites yet.")

    press(browser, browser.find_element(By.ID, ids.CAT_ADD_SITE))
    type_into(browser, ids.CAT_SITE_NAME, "Canal Pumping Station")
    type_into(browser, ids.CAT_SITE_LOCATION, "Leicester")
    press(browser, browser.find_element(By.ID, ids.CAT_SITE_SAVE))
    says(browser, ids.CAT_SITE_RESULT, "Added the site “Canal Pumping Station”")
    says(browser, ids.CAT_TREE, "Canal Pumping Station")

    press(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Add an asset to it']"))
    says(browser, ids.CAT_ASSET_TITLE, "New asset at Canal Pumping Station")
    type_into(browser, ids.CAT_ASSET_NAME, "Pump 7")
    press(browser, browser.find_element(By.ID, ids.CAT_ASSET_SAVE))
    says(browser, ids.CAT_ASSET_RESULT, "Added the generic asset “Pump 7”")
    opened = browser.find_element(By.LINK_TEXT, "Open asset page").get_attribute("href")

    press(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Add a sensor']"))
    says(browser, ids.CAT_SENSOR_TITLE, "New sensor of Pump 7")
    type_into(browser, ids.CAT_SENSOR_NAME, "flow_m3h")
    type_into(browser, ids.CAT_SENSOR_UNIT, "m³/h")
    type_into(browser, ids.CAT_SENSOR_INTERVAL, "1800")
    says(browser, ids.CAT_SENSOR_INTERVAL_TEXT, "= 30 min")
    press(browser, browser.find_element(By.ID, ids.CAT_SENSOR_SAVE))
    says(browser, ids.CAT_SENSOR_RESULT, "Added the sensor “flow_m3h”")
    says(browser, ids.CAT_TREE, "flow_m3h")
    assert "30 min" in browser.find_element(By.ID, ids.CAT_TREE).text

    with db.Session() as session:
        asset = session.scalar(select(Asset).where(Asset.name == "Pump 7"))
        assert asset is not None and asset.asset_type == "generic"
        assert [s.name for s in asset.sensors] == ["flow_m3h"]
        asset_id = asset.id
    assert opened.endswith(f"/assets/{asset_id}")

    press(browser, browser.find_element(By.CSS_SELECTOR, f"#{ids.CAT_TREE} a[href='/assets/{asset_id}']"))
    wait(browser).until(lambda d: d.current_url.endswith(f"/assets/{asset_id}"))
    wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, f"#{ids.ASSET_HEADER} h1").text == "Pump 7")
    status = wait(browser).until(ec.visibility_of_element_located((By.ID, ids.ASSET_STATUS)))
    assert status.text == "The pipeline has not run yet" and status.get_attribute("data-level") == "never"
    says(browser, ids.ASSET_HEADER, "No data yet")
    assert csp_violations(browser) == []
