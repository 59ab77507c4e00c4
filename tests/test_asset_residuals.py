"""The asset page's "Sensor against expectation" card through Dash's real endpoint: a sensor's
readings against what the twin expects, the residual and the drift check's CUSUM against its
threshold; the sensor of the newest open drift alert chosen first; a sentence, not blank axes,
while there is too little history."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from app.db import Database
from app.db.models import Alert
from app.simulation import Fault, simulate_asset, write
from layouts import ids
from tests.conftest import Plant, Tenant, add_plant, component, dash_as, utc

T0 = utc(2026, 3, 2)
PIPE_SENSORS = ["inlet_flow", "outlet_flow", "pressure_drop"]
# 8 m³/h less each hour, from the middle of the last day: the drift check's textbook case.
DRIFT = Fault("drift", T0 + timedelta(days=3, hours=8), T0 + timedelta(days=4), "outlet_flow", -8.0)


def pipeline(db: Database, tenant: Tenant, days: float, name: str, *faults: Fault) -> Plant:
    plant = add_plant(db, PIPE_SENSORS, name=name, asset_type="pipeline", supplier_id=tenant.supplier_id)
    write(db, plant.asset_id, simulate_asset(db, plant.asset_id, T0, T0 + timedelta(days=days), faults=faults))
    return plant


def add_alert(db: Database, plant: Plant, sensor: str, kind: str, hours: float, status: str = "open") -> None:
    with db.Session() as session, session.begin():
        session.add(Alert(asset_id=plant.asset_id, sensor_id=plant.sensor_ids[PIPE_SENSORS.index(sensor)],
                          started_at=T0 + timedelta(hours=hours), kind=kind, severity="warning",
                          classification="sensor_error", message=f"{sensor} {kind}", status=status))


def inputs(plant: Plant, sensor: str | None, preset: str = "1d") -> dict[str, Any]:
    return {f"{ids.ASSET_ID}.data": plant.asset_id, f"{ids.ASSET_RANGE}.value": preset,
            f"{ids.ASSET_CUSTOM}.start_date": None, f"{ids.ASSET_CUSTOM}.end_date": None,
            f"{ids.ASSET_RESIDUAL_SENSOR}.value": sensor}


def answer(response) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"]


@pytest.fixture
def drifting(db: Database, tenants: tuple[Tenant, Tenant]) -> Plant:
    """Four days of a pipeline whose outlet flow meter drifts in the last."""
    return pipeline(db, tenants[0], 4, "Drift Farm", DRIFT)


def test_the_newest_open_drift_alert_chooses_the_sensor(client, db, tenants, drifting) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0])

    def picker() -> dict[str, Any]:
        body = answer(call(f"{ids.ASSET_BODY}.children", {f"{ids.ASSET_ID}.data": drifting.asset_id}))
        return component(body[ids.ASSET_BODY]["children"], ids.ASSET_RESIDUAL_SENSOR)

    first = picker()
    assert first["value"] == "inlet_flow"  # no drift alert: the first sensor
    assert [o["value"] for o in first["options"]] == PIPE_SENSORS
    add_alert(db, drifting, "pressure_drop", "drift", 60)
    add_alert(db, drifting, "outlet_flow", "drift", 80)
    add_alert(db, drifting, "inlet_flow", "drift", 90, status="closed")  # newer, but closed
    add_alert(db, drifting, "pressure_drop", "high", 95)  # newer, but not a drift
    assert picker()["value"] == "outlet_flow"


def test_a_drifting_sensor_shows_reading_expectation_residual_and_cusum_past_its_threshold(
        client, tenants, drifting) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0])
    out = answer(call(f"{ids.ASSET_RESIDUALS}.figure", inputs(drifting, "outlet_flow")))
    figure = out[ids.ASSET_RESIDUALS]["figure"]
    by_name = {t["name"]: t for t in figure["data"]}
    reading, expected = by_name["Outlet flow read"], by_name["Expected by the twin"]
    assert (reading["yaxis"], expected["yaxis"]) == ("y", "y")
    assert by_name["Residual (read − expected)"]["yaxis"] == "y2"
    upper, lower = by_name["CUSUM, reading high"], by_name["CUSUM, reading low"]
    assert upper["yaxis"] == lower["yaxis"] == "y3"
    layout = figure["layout"]
    assert layout["yaxis"]["title"]["text"] == "Outlet flow (m³/h)"
    assert layout["xaxis3"]["title"]["text"] == "Time (UK)"
    assert layout["xaxis"]["matches"] == layout["xaxis2"]["matches"] == "x3"  # one time axis
    threshold = [s for s in layout["shapes"] if s["yref"] == "y3"]
    assert len(threshold) == 1 and threshold[0]["line"]["dash"] == "dash"
    h = threshold[0]["y0"]
    assert 5 < h < 15
    assert any(a["text"] == f"alarm threshold h = {h:.1f} σ" for a in layout["annotations"])
    # The meter reads ever less than the twin expects: the downward CUSUM passes the threshold.
    assert max(v for v in lower["y"] if v is not None) > h
    assert lower["y"][0] < h
    note = json.dumps(out[ids.ASSET_RESIDUAL_NOTE]["children"])
    assert "inlet flow" in note and "pressure drop" in note


def test_too_little_history_is_said_in_words(client, db, tenants) -> None:  # type: ignore[no-untyped-def]
    young = pipeline(db, tenants[0], 1, "Young Farm")
    call = dash_as(client, tenants[0])
    out = answer(call(f"{ids.ASSET_RESIDUALS}.figure", inputs(young, "outlet_flow")))
    figure = out[ids.ASSET_RESIDUALS]["figure"]
    assert figure["data"] == []
    assert figure["layout"]["annotations"][0]["text"].startswith("Not enough history yet: the twin learns what "
                                                                 "to expect of outlet flow")
    assert out[ids.ASSET_RESIDUAL_NOTE]["children"] is None


def test_another_suppliers_asset_shows_nothing(client, tenants, drifting) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[1])
    body = json.dumps(answer(call(f"{ids.ASSET_RESIDUALS}.figure", inputs(drifting, "outlet_flow"))))
    assert "not available" in body and "Expected by the twin" not in body
    page = json.dumps(answer(call(f"{ids.ASSET_BODY}.children", {f"{ids.ASSET_ID}.data": drifting.asset_id})))
    assert "This asset is not here" in page and "outlet" not in page and ids.ASSET_RESIDUAL_SENSOR not in page
