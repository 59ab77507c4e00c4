"""The what-if page in a real browser, as a logged-in operator: two scenarios of a dispenser
run, and their KPI table and plots are drawn with data; "Scenarios to compare" shows exactly
that many editable scenarios, and Run simulates exactly those, with the values entered.

One dispenser, one server and one signed-in browser serve the whole module (each test opens
the page afresh). Without Chromium these tests skip, unless ``TWIN_TEST_BROWSER=1`` (CI sets
it) says they must run, in which case a missing browser fails them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select
from sqlalchemy import func, select

from app.db import Database
from app.db.migrate import upgrade
from app.db.models import SensorReading
from app.whatif import MAX_SCENARIOS
from layouts import ids
from tests import browser_support
from tests.browser_support import serving, wait
from tests.conftest import Tenant, add_plant, add_tenant, make_settings

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.browser_fixtures"]  # chrome_paths


@dataclass(frozen=True)
class Estate:
    db: Database
    tenant: Tenant
    url: str


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    """A supplier with one water dispenser (no tariff: costs at the settings' default rate),
    served by the real app."""
    home = tmp_path_factory.mktemp("whatif")
    settings = make_settings(home)
    db = Database(settings)
    upgrade(db.engine)
    tenant = add_tenant(db, "Alpha Energy")
    add_plant(db, ["temperature", "level", "flow", "power"], supplier_id=tenant.supplier_id,
              name="Alpha Office", asset_type="water_dispenser")
    with serving(settings) as url:
        yield Estate(db, tenant, url)
    db.engine.dispose()


@pytest.fixture(scope="module")
def signed_in(chrome_paths: tuple[str, str], estate: Estate,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One browser for the module, signed in as the operator; it closes before the server."""
    with browser_support.signed_in(chrome_paths, tmp_path_factory.mktemp("chrome"), estate.url,
                                   *estate.tenant.users["operator"], path="/whatif") as driver:
        yield driver


@pytest.fixture
def browser(signed_in: WebDriver, estate: Estate) -> WebDriver:
    """The module's browser on a freshly loaded what-if page, its presets arrived, and the
    console's errors so far read (so each test sees only its own)."""
    signed_in.get(f"{estate.url}/whatif")
    wait(signed_in).until(lambda d: d.find_element(*field("name", MAX_SCENARIOS - 1)).get_attribute("value"))
    errors(signed_in)
    return signed_in


def errors(driver: WebDriver) -> list[str]:
    """The browser console's errors since the last call: a failed request (an HTTP 400 from
    ``/_dash-update-component``) and an error the page logged (Dash's "body stream already
    read") both land here."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


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


def column(scenario: int) -> tuple[str, str]:
    return By.CSS_SELECTOR, f"""[id='{{"scenario":{scenario},"type":"{ids.WHATIF_COLUMN}"}}']"""


def shown_columns(driver: WebDriver) -> list[int]:
    """The scenarios whose column the user can see."""
    return [n for n in range(MAX_SCENARIOS) if driver.find_element(*column(n)).is_displayed()]


def choose_count(driver: WebDriver, count: int) -> None:
    """Choose how many scenarios to compare, and wait until that many columns show."""
    Select(driver.find_element(By.ID, ids.WHATIF_COUNT)).select_by_value(str(count))
    wait(driver, 10).until(lambda d: shown_columns(d) == list(range(count)))


def retype(element: WebElement, text: str) -> None:
    element.clear()
    element.send_keys(text)


def run(driver: WebDriver) -> dict[str, list[str]]:
    """Press Run and read the results table: its column heads (under ``""``) and each row's cells."""
    old = driver.find_elements(By.ID, f"{ids.WHATIF_KPIS}-table")
    driver.find_element(By.ID, ids.WHATIF_RUN).click()
    if old:
        wait(driver).until(ec.staleness_of(old[0]))
    table = wait(driver).until(ec.visibility_of_element_located((By.ID, f"{ids.WHATIF_KPIS}-table")))
    rows = {"": [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")][1:]}
    rows.update({r.find_element(By.TAG_NAME, "th").text: [td.text for td in r.find_elements(By.TAG_NAME, "td")]
                 for r in table.find_elements(By.CSS_SELECTOR, "tbody tr") if r.find_elements(By.TAG_NAME, "td")})
    return rows


def test_two_scenarios_run_and_their_kpis_and_plots_are_drawn(browser: WebDriver, estate: Estate) -> None:
    # The presets arrived: the dispenser as it is, and with twice the users.
    assert browser.find_element(*field("name", 1)).get_attribute("value") == "Twice the users"
    assert browser.find_element(*field("users", 1)).get_attribute("value") == "6"
    assert not browser.find_element(*field("load_kw", 0)).is_displayed()  # a boiler's field
    # A value out of range is named, with what to do, and nothing runs.
    setpoint = browser.find_element(*field("setpoint_c", 0))
    retype(setpoint, "120")
    browser.find_element(By.ID, ids.WHATIF_RUN).click()
    wait(browser).until(ec.text_to_be_present_in_element(
        (By.ID, ids.WHATIF_PROGRESS_TEXT), "As it is: setpoint: enter a number from 40 to 95 °C."))
    retype(setpoint, "60")

    rows = run(browser)
    assert rows[""] == ["As it is", "Twice the users"]
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

    with estate.db.Session() as session:  # a scenario never writes into the asset's history
        assert session.scalar(select(func.count()).select_from(SensorReading)) == 0
    assert errors(browser) == []


def test_choosing_how_many_scenarios_to_compare_shows_exactly_that_many(browser: WebDriver) -> None:
    assert shown_columns(browser) == [0, 1]  # two at first
    for count in (1, 3, MAX_SCENARIOS, 2, 1):
        choose_count(browser, count)
        # Each one shown can be edited; none hidden can.
        for scenario in range(MAX_SCENARIOS):
            assert browser.find_element(*field("name", scenario)).is_displayed() == (scenario < count)
            assert browser.find_element(*field("users", scenario)).is_enabled()
    # Every change was answered: no 400 from the server, no error in the page.
    assert errors(browser) == []


def test_run_simulates_exactly_the_scenarios_shown_with_the_values_entered(browser: WebDriver) -> None:
    choose_count(browser, 3)
    retype(browser.find_element(*field("name", 2)), "Busy and cooler")
    retype(browser.find_element(*field("users", 2)), "12")
    retype(browser.find_element(*field("setpoint_c", 2)), "52.5")
    retype(browser.find_element(*field("users", 0)), "4")

    rows = run(browser)
    assert rows[""] == ["As it is", "Twice the users", "Busy and cooler"]  # no fourth, none unseen
    assert rows["Users (people)"] == ["4", "6", "12"]
    assert rows["Setpoint (°C)"] == ["60", "60", "52.5"]
    assert len(rows["Energy"]) == 3
    assert [t["name"] for t in drawn(browser, ids.WHATIF_TEMPERATURE)["traces"]] == rows[""]

    choose_count(browser, 1)  # fewer: the others are left out of the next run
    rows = run(browser)
    assert rows[""] == ["As it is"] and rows["Users (people)"] == ["4"]
    assert drawn(browser, ids.WHATIF_ENERGY)["bars"] == 1
    assert errors(browser) == []
