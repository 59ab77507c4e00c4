"""The Board view in a real browser: under the site's picture, each concern in plain words with
its estimated cost a day, its trend against last week and its owner.

A small estate: one site with a maintenance contact, one water dispenser whose heater has drawn
20 W more since a leak alert two days ago (10-minute readings, two weeks), an electricity
tariff. One server and one browser for the module.

Without Chromium these tests skip, unless ``TWIN_TEST_BROWSER=1`` says they must run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from sqlalchemy import insert

from app.db import Database
from app.db.base import utcnow
from app.db.migrate import upgrade
from app.db.models import Alert, Asset, SensorReading, Site, Tariff
from tests.browser_support import serving, signed_in, wait
from tests.conftest import Tenant, add_plant, add_tenant, make_settings

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.browser_fixtures"]  # chrome_paths


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, Tenant]]:
    home = tmp_path_factory.mktemp("board")
    settings = make_settings(home)
    db = Database(settings)
    upgrade(db.engine)
    tenant = add_tenant(db, "Alpha Energy")
    plant = add_plant(db, ["temperature", "level", "flow", "power"], supplier_id=tenant.supplier_id,
                      name="Hilltop", asset_type="water_dispenser")
    now = utcnow().replace(second=0, microsecond=0)
    leak = now - timedelta(days=2)
    times = [now - timedelta(days=14) + timedelta(minutes=10 * i) for i in range(14 * 144 + 1)]
    with db.Session() as session, session.begin():
        session.execute(insert(SensorReading), [
            {"sensor_id": sid, "ts": ts, "value": (0.030 if ts >= leak else 0.010) if sid == plant.sensor_ids[3]
             else 0.5} for sid in plant.sensor_ids for ts in times])
        session.get(Site, plant.site_id).maintenance_emails = "fixer@hilltop.example"  # type: ignore[union-attr]
        session.get(Asset, plant.asset_id).name = "Dispenser D1"  # type: ignore[union-attr]
        session.add(Tariff(supplier_id=tenant.supplier_id, code="E", name="Standard electricity",
                           fuel="electricity", unit_rate_p_per_kwh=Decimal("24.50"),
                           standing_charge_p_per_day=Decimal("60.99"), vat_rate=Decimal("0.05"),
                           prices_include_vat=True, valid_from=date(2020, 1, 1)))
        session.add(Alert(asset_id=plant.asset_id, started_at=leak, kind="rule", severity="critical",
                          classification="leakage", message="Level falling with nothing drawn", status="open"))
    yield settings, tenant
    db.engine.dispose()


@pytest.fixture(scope="module")
def browser(chrome_paths: tuple[str, str], estate: tuple[object, Tenant],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebDriver, str]]:
    settings, tenant = estate
    with serving(settings) as url, signed_in(  # type: ignore[arg-type]
            chrome_paths, tmp_path_factory.mktemp("chrome"), url, *tenant.users["viewer"]) as driver:
        yield driver, url


def test_the_board_shows_each_concerns_impact_trend_and_owner(browser: tuple[WebDriver, str]) -> None:
    driver, url = browser
    driver.get(url + "/board")
    table = wait(driver).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[id*='board-concerns']")))
    headings = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    assert headings == ["Health", "Asset", "What is wrong", "Estimated impact a day",
                        "Trend (this week vs last)", "Owner"]
    first = table.find_elements(By.CSS_SELECTOR, "tbody tr")[0]
    cells = [td.text for td in first.find_elements(By.TAG_NAME, "td")]
    assert cells[1] == "Dispenser D1"
    assert cells[2] == "Act now: water is leaking (1 critical alert open)."
    # 20 W more for 24 h = 0.48 kWh a day, at 24.50 p/kWh = 11.76p
    assert "About 0.48 kWh a day more heater electricity" in cells[3] and "about 12p a day" in cells[3]
    assert "Worse than last week: 1 alert, 0 the week before." in cells[4]
    assert cells[5] == "fixer@hilltop.example"
