"""The what-if page in a real browser, as a logged-in operator: two scenarios of a dispenser
run, and their KPI table and plots are drawn with data.

Without Chromium these tests skip, unless ``TWIN_TEST_BROWSER=1`` (CI sets it) says they must
run, in which case a missing browser fails them.
"""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from sqlalchemy import func, select

from app.db import Database
from app.db.models import SensorReading
from layouts import ids
from tests.browser_support import log_in, wait
from tests.conftest import add_plant, add_tenant

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.browser_fixtures"]  # chrome_paths, browser, portal

# Each trace's points, and the lines and bars plotly drew for them in the SVG.
DRAWN_JS = """
const g = document.querySelector(arguments[0] + ' .js-plotly-plot');
if (!g || !g._fullData) return null;
const seen = sel => [...g.querySelectorAll(sel)].filter(e => { const b = e.getBBox(); return b.width > 0 && b.height > 0; }).length;
return {traces: g._fullData.map(t => ({name: t.name, type: t.type, y: Array.from(t.y || [])})),
        lines: seen('.scatterlayer .trace path.js-line'), bars: seen('.barlayer .point path')};
"""


def drawn(driver: WebDriver, graph_id: str) -> dict[str, Any]:
    def ready(d: WebDriver) -> dict[str, Any] | None:
        found = d.execute_script(DRAWN_JS, f"#{graph_id}")
        if found and found["traces"] and all(t["y"] for t in found["traces"]) and (found["lines"] or found["bars"]):
            return found  # type: ignore[no-any-return]
        return None

    return wait(driver).until(ready)  # type: ignore[no-any-return]


def field(name: str, scenario: int) -> tuple[str, str]:
    """A pattern-matching id as Dash writes it into the page: its JSON, keys sorted."""
    return By.CSS_SELECTOR, f"""[id='{{"field":"{name}","scenario":{scenario},"type":"{ids.WHATIF_FIELD}"}}']"""


def test_two_scenarios_run_and_their_kpis_and_plots_are_drawn(portal: str, browser: WebDriver, db: Database) -> None:
    tenant = add_tenant(db, "Alpha Energy")
    add_plant(db, ["temperature", "level", "flow", "power"], supplier_id=tenant.supplier_id,
              name="Alpha Office", asset_type="water_dispenser")
    log_in(browser, portal, *tenant.users["operator"], path="/whatif")
    # The presets arrive: the dispenser as it is, and with twice the users.
    wait(browser).until(lambda d: d.find_element(*field("name", 1)).get_attribute("value") == "Twice the users")
    assert browser.find_element(*field("users", 1)).get_attribute("value") == "6"
    assert not browser.find_element(*field("load_kw", 0)).is_displayed()  # a boiler's field
    # A value out of range is named, with what to do, and nothing runs.
    setpoint = browser.find_element(*field("setpoint_c", 0))
    setpoint.clear()
    setpoint.send_keys("120")
    browser.find_element(By.ID, ids.WHATIF_RUN).click()
    wait(browser).until(ec.text_to_be_present_in_element(
        (By.ID, ids.WHATIF_PROGRESS_TEXT), "As it is: setpoint: enter a number from 40 to 95 °C."))
    setpoint.clear()
    setpoint.send_keys("60")
    browser.find_element(By.ID, ids.WHATIF_RUN).click()

    table = wait(browser).until(ec.visibility_of_element_located((By.ID, f"{ids.WHATIF_KPIS}-table")))
    headers = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    assert headers == ["", "As it is", "Twice the users"]
    rows = {r.find_element(By.TAG_NAME, "th").text: [td.text for td in r.find_elements(By.TAG_NAME, "td")]
            for r in table.find_elements(By.CSS_SELECTOR, "tbody tr") if r.find_elements(By.TAG_NAME, "td")}
    assert rows["Users (people)"] == ["3", "6"]
    assert all(v.endswith("kWh") or "kWh (+" in v for v in rows["Energy"])
    assert rows["Cost at 24.50 p/kWh"][0].startswith("£")  # no tariff: the settings' default
    assert "%" in rows["OEE"][0] and "°C" in rows["Average temperature"][0]
    assert "Simulated" in browser.find_element(By.ID, ids.WHATIF_PROGRESS_TEXT).text

    temperature = drawn(browser, ids.WHATIF_TEMPERATURE)
    assert [t["name"] for t in temperature["traces"]] == ["As it is", "Twice the users"]
    assert all(len(t["y"]) > 100 for t in temperature["traces"]) and temperature["lines"] == 2
    energy = drawn(browser, ids.WHATIF_ENERGY)
    assert energy["bars"] == 2
    few, many = energy["traces"][0]["y"]
    assert many > few  # twice the users draw more hot water

    with db.Session() as session:  # a scenario never writes into the asset's history
        assert session.scalar(select(func.count()).select_from(SensorReading)) == 0
