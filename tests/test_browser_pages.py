"""The portal's pages in a real browser, as a logged-in operator: every figure is drawn with
data (the data in the page, and ink on its SVG or WebGL canvas), the board's pictures open the
asset clicked, zoom and live updates of the asset page work, the pages fit a phone, and an
emailed summary shows on the Emails page.

One estate, one server and one signed-in browser serve the whole module (each test opens its
own page): a drivetrain with four days of 1-minute readings ending now, its calculations, a
small forecasting model with its forecasts, and a meter with three priced periods.

Without Chromium these tests skip, unless ``TWIN_TEST_BROWSER=1`` (CI sets it) says they must
run, in which case a missing browser fails them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select
from sqlalchemy import select

from app import forecasting, pipeline
from app.db import Database
from app.db.base import utcnow
from app.db.migrate import upgrade
from app.db.models import EmailLog, Sensor
from app.generator import generate_chunks
from app.ingest import write_sensor_readings
from app.mail.delivery import deliver
from app.series import refresh_rollups
from app.tariffs import LONDON
from app.twins.drivetrain import ASSET_TYPE as DRIVETRAIN
from layouts import ids
from settings import Settings
from tests.billing_data import add_priced_meter
from tests.browser_support import csp_violations, log_in, serving, start_chrome, wait
from tests.conftest import Plant, Tenant, add_meter, add_plant, add_tenant, make_settings

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.browser_fixtures"]  # chrome_paths

MINUTE = timedelta(minutes=1)
HISTORY = timedelta(days=4)
TARGET = "oil_temperature"
# Quick models (see tests/test_forecasting.py): the whole loop trains and forecasts in seconds.
SMALL_MODELS: dict[str, object] = {
    "model__candidates": ["ridge"],
    "pipeline__training_days": 3,
    "pipeline__min_training_rows": 100,
    "pipeline__resample_minutes": 10,
}
ASSET_FIGURES = [ids.ASSET_STACKED, ids.ASSET_SINGLE, ids.ASSET_CALCS, ids.ASSET_PAIR, ids.ASSET_DUAL,
                 ids.ASSET_FORECAST, ids.ASSET_BATCH_GRAPH]
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
MIN_INK = 50  # pixels of a trace's colour on a WebGL canvas: a drawn line has hundreds


@dataclass(frozen=True)
class Estate:
    settings: Settings
    db: Database
    tenant: Tenant
    plant: Plant
    meter_id: int
    now: datetime  # the newest sensor reading


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    home = tmp_path_factory.mktemp("pages")
    settings = make_settings(home, models_dir=str(home / "models"), **SMALL_MODELS)
    db = Database(settings)
    upgrade(db.engine)
    tenant = add_tenant(db, "Alpha Energy")
    plant = add_plant(db, [spec.name for spec in DRIVETRAIN.sensors], supplier_id=tenant.supplier_id,
                      name="Alpha Farm", asset_type="drivetrain")
    with db.Session() as session, session.begin():  # add_plant gives every sensor the same unit
        for spec, sensor_id in zip(DRIVETRAIN.sensors, plant.sensor_ids, strict=True):
            session.get(Sensor, sensor_id).unit = spec.unit  # type: ignore[union-attr]
    now = utcnow().replace(second=0, microsecond=0)
    for spec, sensor_id in zip(DRIVETRAIN.sensors, plant.sensor_ids, strict=True):
        write_sensor_readings(db.sensors_engine,
                              generate_chunks(spec.signal, sensor_id, now - HISTORY, now + MINUTE, MINUTE, seed=7))
    refresh_rollups(db, plant.sensor_ids)
    pipeline.calculate(db, settings, plant.asset_id)
    forecasting.bootstrap(db, settings, plant.asset_id, TARGET, now=now)
    add_meter(db, tenant.supplier_id, serial="E-ALPHA-1", previous=(now - timedelta(days=2), "1000"))
    meter_id = add_priced_meter(db, tenant.supplier_id, serial="E-ALPHA-2", customer="Ann Example", reads=(
        (now - timedelta(days=95), "1000"), (now - timedelta(days=65), "1290"),
        (now - timedelta(days=35), "1610"), (now - timedelta(days=5), "1850")))
    yield Estate(settings, db, tenant, plant, meter_id, now)
    db.engine.dispose()


@pytest.fixture(scope="module")
def portal_url(estate: Estate) -> Iterator[str]:
    with serving(estate.settings) as url:
        yield url


@pytest.fixture(scope="module")
def signed_in(chrome_paths: tuple[str, str], portal_url: str, estate: Estate,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One browser for the module, signed in as the operator. It takes the server first, so it
    closes before the server does."""
    # The asset page draws long series with WebGL, which headless Chromium draws in software
    # (SwiftShader) only when asked to.
    driver = start_chrome(chrome_paths, tmp_path_factory.mktemp("chrome"), extra=("--enable-unsafe-swiftshader",))
    try:
        log_in(driver, portal_url, *estate.tenant.users["operator"])
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(signed_in: WebDriver) -> Iterator[WebDriver]:
    """The module's browser, back at desktop size after each test, which must not have broken
    the Content-Security-Policy anywhere (every page works under it: WebGL plots included)."""
    yield signed_in
    signed_in.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    if signed_in.current_url.startswith("http"):
        found = csp_violations(signed_in)
        assert found == [], "\n".join(sorted(set(found)))


# -- reading figures in the page --------------------------------------------------------------

# The figure as plotly drew it: its traces with their points and colours, the SVG it made, and
# for WebGL traces how many pixels of each trace's colour are on the canvas (plotly keeps the
# canvas's drawing buffer, so it can be read back).
DRAWING_JS = """
const g = document.querySelector(arguments[0] + ' .js-plotly-plot');
if (!g || !g._fullData || !g._fullLayout) return null;
const probe = document.createElement('canvas').getContext('2d');
const hex = c => { probe.fillStyle = '#000'; probe.fillStyle = c; return probe.fillStyle; };
const traces = g._fullData.filter(t => t.visible === true).map(t => ({
  name: t.name, type: t.type, points: (t.x || []).length, lines: (t.mode || '').includes('lines'),
  colour: t.type === 'bar' ? (typeof t.marker.color === 'string' ? hex(t.marker.color) : null)
        : ((t.mode || '').includes('lines') && t.line && t.line.width > 0 ? hex(t.line.color) : null)}));
const ink = {};
const gl = g.querySelector('canvas.gl-canvas-context');
const wanted = traces.filter(t => t.type.endsWith('gl') && t.colour).map(t => t.colour);
if (gl && wanted.length) {
  const copy = document.createElement('canvas');
  copy.width = gl.width; copy.height = gl.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(gl, 0, 0);
  const px = ctx.getImageData(0, 0, copy.width, copy.height).data;
  const rgb = wanted.map(c => [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)]);
  wanted.forEach(c => { ink[c] = 0; });
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] < 128) continue;
    rgb.forEach((c, k) => {
      if (Math.abs(px[i] - c[0]) < 24 && Math.abs(px[i + 1] - c[1]) < 24 && Math.abs(px[i + 2] - c[2]) < 24) ink[wanted[k]]++;
    });
  }
}
const drawn = sel => [...g.querySelectorAll(sel)].filter(e => { const b = e.getBBox(); return b.width > 0 || b.height > 0; }).length;
return {
  title: (g._fullLayout.title && g._fullLayout.title.text) || '',
  svg: g.querySelectorAll('.main-svg').length,
  traces: traces, ink: ink,
  svgLines: drawn('.scatterlayer .trace path.js-line'),
  svgBars: drawn('.barlayer .point path'),
  svgPoints: drawn('.scatterlayer .point'),
  annotations: (g._fullLayout.annotations || []).map(a => a.text),
};
"""


def drawing(driver: WebDriver, selector: str) -> dict[str, Any] | None:
    return driver.execute_script(DRAWING_JS, selector)  # type: ignore[no-any-return]


def is_drawn(found: dict[str, Any] | None) -> bool:
    """Data in every trace, and every trace visible: a WebGL trace's colour on the canvas, an
    SVG trace's lines, markers or bars in the SVG."""
    if not found or not found["svg"] or not found["traces"]:
        return False
    for trace in found["traces"]:
        if trace["points"] == 0:
            return False
        if trace["type"].endswith("gl"):
            seen = not trace["colour"] or found["ink"].get(trace["colour"], 0) >= MIN_INK
        elif trace["type"] == "bar":
            seen = found["svgBars"] > 0
        else:
            seen = found["svgLines"] > 0 if trace["lines"] else found["svgPoints"] > 0
        if not seen:
            return False
    return True


def drawn(driver: WebDriver, selector: str) -> dict[str, Any]:
    """Wait until the figure in ``selector`` is drawn with data; what was drawn."""
    wait(driver).until(lambda d: is_drawn(drawing(d, selector)))
    found = drawing(driver, selector)
    assert found is not None
    return found


def figure_js(graph_id: str, body: str) -> str:
    return f"const g = document.querySelector('#{graph_id} .js-plotly-plot'); {body}"


def fits_the_window(driver: WebDriver) -> bool:
    return bool(driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1"))


def uk(moment: datetime) -> str:
    """A UTC time as the axes show it (UK wall clock), as plotly writes axis ranges."""
    return moment.astimezone(LONDON).strftime("%Y-%m-%d %H:%M:%S")


def by_key(component: str, where: str) -> tuple[str, str]:
    """A pattern-matching id as Dash writes it into the page: its JSON, keys sorted."""
    key = json.dumps({"type": component, "where": where}, sort_keys=True, separators=(",", ":"))
    return By.CSS_SELECTOR, f"[id='{key}']"


# -- the pages ------------------------------------------------------------------------------


def test_the_overview_lists_each_asset_by_concern_linked_to_its_page(
    portal_url: str, browser: WebDriver, estate: Estate
) -> None:
    browser.get(portal_url + "/")
    card = wait(browser).until(ec.presence_of_element_located(
        (By.XPATH, "//div[contains(@class,'card')][.//*[normalize-space()='Assets by concern']]")))
    link = card.find_element(By.LINK_TEXT, "Turbine 1")
    assert link.get_attribute("href").endswith(f"/assets/{estate.plant.asset_id}")
    assert "Alpha Farm" in card.text
    link.click()
    wait(browser).until(lambda d: d.current_url.endswith(f"/assets/{estate.plant.asset_id}"))


def test_every_figure_of_the_asset_page_is_drawn_with_data(
    portal_url: str, browser: WebDriver, estate: Estate
) -> None:
    browser.get(f"{portal_url}/assets/{estate.plant.asset_id}")
    figures = {graph: drawn(browser, f"#{graph}") for graph in ASSET_FIGURES}

    stacked = figures[ids.ASSET_STACKED]
    assert [t["name"] for t in stacked["traces"]] == ["Torque (Nm)", "Speed (rpm)", "Oil temperature (°C)"]
    assert [t["points"] for t in stacked["traces"]] == [1440, 1440, 1440]  # the last day, every minute
    assert {t["type"] for t in stacked["traces"]} == {"scatter"}  # SVG: every trace is cut to 2,000 points
    assert "last day (4,320 readings)" in stacked["title"]
    assert [t["name"] for t in figures[ids.ASSET_CALCS]["traces"]] == [
        "Destruction rate (1/s)", "Accumulated destruction"]
    assert len(figures[ids.ASSET_PAIR]["traces"]) == len(figures[ids.ASSET_DUAL]["traces"]) == 2
    forecast = {t["name"]: t for t in figures[ids.ASSET_FORECAST]["traces"]}
    assert {"Forecast", "Actual", "Residual (actual − forecast)"} <= set(forecast)
    assert "Forecast of oil temperature" in figures[ids.ASSET_FORECAST]["title"]
    metrics = browser.find_element(By.ID, ids.ASSET_FORECAST_METRICS).text
    assert "Mean absolute error" in metrics and "Latest scheduled validation" in metrics
    assert figures[ids.ASSET_BATCH_GRAPH]["title"].startswith("Input of batch")


def test_zooming_the_main_plot_draws_every_reading_of_the_zoomed_range_and_the_csv_holds_them(
    portal_url: str, browser: WebDriver, estate: Estate, tmp_path: Path
) -> None:
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.get(f"{portal_url}/assets/{estate.plant.asset_id}")
    drawn(browser, f"#{ids.ASSET_STACKED}")
    # A week holds more readings than a trace draws (2,000): the plot shows a sample of them.
    Select(browser.find_element(By.ID, ids.ASSET_RANGE)).select_by_value("7d")
    wait(browser).until(lambda d: "last week" in (drawing(d, f"#{ids.ASSET_STACKED}") or {}).get("title", ""))
    start, end = uk(estate.now - timedelta(hours=30)), uk(estate.now - timedelta(hours=24))
    count_in_range = figure_js(ids.ASSET_STACKED, """
        const a = new Date(arguments[0].replace(' ', 'T')), b = new Date(arguments[1].replace(' ', 'T'));
        return g.data[0].x.filter(x => { const t = new Date(String(x).replace(' ', 'T')); return t >= a && t <= b; }).length;""")
    before = browser.execute_script(count_in_range, start, end)
    assert 0 < before < 360

    browser.execute_script(figure_js(ids.ASSET_STACKED, "Plotly.relayout(g, {'xaxis.range': [arguments[0], arguments[1]]});"),
                           start, end)
    wait(browser).until(lambda d: "zoomed" in (drawing(d, f"#{ids.ASSET_STACKED}") or {}).get("title", ""))
    after = drawn(browser, f"#{ids.ASSET_STACKED}")
    assert [t["points"] for t in after["traces"]] == [360, 360, 360]  # every minute of the 6 hours
    assert browser.execute_script(count_in_range, start, end) == 360 > before
    # The redrawn figure keeps the user's zoom rather than jumping back to the whole week.
    shown = browser.execute_script(figure_js(ids.ASSET_STACKED, "return g._fullLayout.xaxis.range;"))
    # Plotly keeps a date range in milliseconds: "12:17:00" may come back as "12:16:59.9999";
    # and once in a clean-clone CI run (2026-12-03) the end came back one minute early
    # ('12:23' for '12:24:00'), cause not yet found. The point is the zoom is kept, not a
    # jump back to the whole week: within two minutes proves that.
    assert all(abs(pd.Timestamp(got) - pd.Timestamp(want)) <= pd.Timedelta(minutes=2)
               for got, want in zip(shown, (start, end), strict=True)), (shown, start, end)

    # "Download CSV" saves what the plot shows: the readings of the zoomed range.
    browser.find_element(By.ID, ids.ASSET_CSV).click()
    wait(browser).until(lambda d: list(tmp_path.glob("*.csv")) and not list(tmp_path.glob("*.crdownload")))
    (saved,) = tmp_path.glob("*.csv")
    rows = list(csv.reader(saved.open(encoding="utf-8")))
    assert rows[0] == ["time_uk", "Torque (Nm)", "Speed (rpm)", "Oil temperature (°C)"]
    assert len(rows) - 1 == 360
    assert rows[1][0].startswith(start[:16]) and rows[-1][0].startswith(uk(estate.now - timedelta(hours=24, minutes=1))[:16])


def test_new_readings_appear_on_the_open_asset_page_without_reloading_it(
    portal_url: str, browser: WebDriver, estate: Estate
) -> None:
    browser.get(f"{portal_url}/assets/{estate.plant.asset_id}")
    before = drawn(browser, f"#{ids.ASSET_STACKED}")["traces"][0]["points"]
    browser.execute_script("window.twinNotReloaded = true;")
    frames = [pd.DataFrame({"sensor_id": sensor_id, "value": 1.0,
                            "ts": pd.date_range(estate.now + MINUTE, periods=5, freq="1min")})
              for sensor_id in estate.plant.sensor_ids]
    write_sensor_readings(estate.db.sensors_engine, pd.concat(frames, ignore_index=True))

    # The page checks every 5 s.
    wait(browser, 10).until(lambda d: all(
        t["points"] == before + 5 for t in (drawing(d, f"#{ids.ASSET_STACKED}") or {}).get("traces", [{"points": 0}])))
    assert browser.execute_script("return window.twinNotReloaded === true")


def test_the_board_draws_each_site_and_a_click_on_an_asset_opens_its_page(
    portal_url: str, browser: WebDriver, estate: Estate
) -> None:
    browser.get(portal_url + "/board")
    site = drawn(browser, f"#{ids.BOARD_SITES}")
    assert len(browser.find_elements(By.CSS_SELECTOR, f"#{ids.BOARD_SITES} .js-plotly-plot")) == 1  # one site
    assert "Alpha Farm" in site["title"]
    assert any("Turbine 1" in text for text in site["annotations"])
    shapes = browser.find_elements(By.CSS_SELECTOR, f"#{ids.BOARD_SITES} .shapelayer path")
    assert len(shapes) == 1  # one asset, one shape
    marker = browser.find_element(By.CSS_SELECTOR, f"#{ids.BOARD_SITES} .scatterlayer .point")
    ActionChains(browser).move_to_element(marker).pause(0.2).click().perform()
    wait(browser).until(lambda d: d.current_url.endswith(f"/assets/{estate.plant.asset_id}"))


@pytest.mark.parametrize("page", ["/board", "/assets/{asset}"])
def test_on_a_phone_the_page_fits_the_screen_without_scrolling_sideways(
    portal_url: str, browser: WebDriver, estate: Estate, page: str
) -> None:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    browser.get(portal_url + page.format(asset=estate.plant.asset_id))
    drawn(browser, f"#{ids.BOARD_SITES}" if page == "/board" else f"#{ids.ASSET_STACKED}")
    assert browser.execute_script("return window.innerWidth") == PHONE["width"]
    assert fits_the_window(browser), browser.execute_script("return document.documentElement.scrollWidth")


def test_the_meter_page_draws_each_periods_energy_and_cost_and_the_cumulative_cost(
    portal_url: str, browser: WebDriver, estate: Estate
) -> None:
    browser.get(f"{portal_url}/meters/{estate.meter_id}")
    chart = drawn(browser, f"#{ids.METER_CHART}")
    assert [(t["name"], t["points"]) for t in chart["traces"]] == [
        ("Energy (kWh)", 3), ("Period cost (£)", 3), ("Cumulative cost (£)", 3)]
    assert chart["svgBars"] == 6
    assert "Meter E-ALPHA-2" in browser.find_element(By.ID, ids.METER_HEADER).text
    # A few reads: one bar per reading's period, and every reading on the grid's one page
    # (which the server sends once the grid asks for it).
    checked = browser.find_element(By.CSS_SELECTOR, f"#{ids.METER_RESOLUTION} input:checked")
    assert checked.get_attribute("value") == "reading"
    wait(browser).until(lambda d: "opening reading" in d.find_element(By.ID, ids.METER_TABLE).text)
    assert browser.find_element(By.ID, ids.METER_TABLE).text.count("Actual") == 4


def test_an_emailed_summary_is_queued_and_shows_as_sent_on_the_emails_page(
    portal_url: str, browser: WebDriver, estate: Estate
) -> None:
    browser.get(portal_url + "/meters")
    row = wait(browser).until(ec.element_to_be_clickable(
        (By.XPATH, "//div[contains(@class,'ag-center-cols-container')]//div[@role='row'][.//*[text()='Ann Example']]")))
    row.click()
    toggle = browser.find_element(*by_key(ids.EMAIL_TOGGLE, "page"))
    wait(browser).until(lambda d: toggle.is_enabled())
    toggle.click()
    wait(browser).until(ec.visibility_of_element_located(by_key(ids.EMAIL_SEND, "page"))).click()
    result = by_key(ids.EMAIL_RESULT, "page")
    wait(browser).until(lambda d: d.find_element(*result).text.count("Queued for") == 2)
    operator, billing = estate.tenant.users["operator"][0], "billing@alphaenergy.test"
    assert operator in browser.find_element(*result).text and billing in browser.find_element(*result).text

    browser.get(portal_url + "/emails")
    wait(browser).until(lambda d: "2 pending" in d.find_element(By.ID, ids.EMAILS_COUNTS).text)
    with estate.db.Session() as session:
        queued = session.scalars(select(EmailLog.id).where(EmailLog.supplier_id == estate.tenant.supplier_id)).all()
    # What the worker does with each queued message (no SMTP server: into the outbox).
    assert [deliver(estate.db, estate.settings, log_id, utcnow()) for log_id in queued] == ["sent", "sent"]

    browser.refresh()
    wait(browser).until(lambda d: "2 sent" in d.find_element(By.ID, ids.EMAILS_COUNTS).text)
    table = browser.find_element(By.ID, ids.EMAILS_TABLE).text
    assert operator in table and billing in table and "Meter summary" in table
    assert len(browser.find_elements(By.LINK_TEXT, "open .eml")) == 2


def test_the_api_docs_page_works_under_its_policy(portal_url: str, browser: WebDriver) -> None:
    browser.get(portal_url + "/api/v1/docs")
    wait(browser).until(ec.presence_of_element_located(
        (By.XPATH, "//*[contains(@class,'opblock-summary')][.//*[text()='/sensor-readings']]")))
    assert "Energy Twin API" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .title").text
