"""The asset page's Performance card through Dash's real endpoint: the metrics of the example of
docs/metrics.md stored as a dispenser's readings and alerts, for its supplier only."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from flask.testing import FlaskClient

from app.db import Database
from app.db.models import Alert, Asset
from app.ingest import write_sensor_readings
from app.metrics import by_key
from app.performance import asset_performance
from layouts import ids
from settings import Settings
from tests.conftest import AuthActions, DashCaller, Plant, Tenant, add_plant
from tests.test_metrics import PARAMETERS, SPANS, T0, example

SENSORS = ["temperature", "level", "flow", "power"]


@pytest.fixture
def dispenser(db: Database, tenants: tuple[Tenant, Tenant]) -> Plant:
    plant = add_plant(db, SENSORS, supplier_id=tenants[0].supplier_id, name="Alpha Office",
                      asset_type="water_dispenser")
    frame = example()
    rows = pd.concat([pd.DataFrame({"sensor_id": sensor_id, "ts": frame.index, "value": frame[name].to_numpy()})
                      for name, sensor_id in zip(SENSORS, plant.sensor_ids, strict=True)], ignore_index=True)
    with db.sensors_engine.begin() as conn:
        write_sensor_readings(conn, rows)
    with db.Session() as session, session.begin():
        session.get_one(Asset, plant.asset_id).parameters = PARAMETERS
        for start, end in SPANS:
            session.add(Alert(asset_id=plant.asset_id, started_at=start, ended_at=end, kind="static",
                              severity="warning", classification="other", message="test episode"))
    return plant


def card(client: FlaskClient, tenant: Tenant, asset_id: int, preset: str = "1h") -> tuple[str, str]:
    AuthActions(client).login(*tenant.users["viewer"])
    response = DashCaller(client)(f"{ids.ASSET_METRICS}.children", {
        f"{ids.ASSET_ID}.data": asset_id, f"{ids.ASSET_RANGE}.value": preset,
        f"{ids.ASSET_CUSTOM}.start_date": None, f"{ids.ASSET_CUSTOM}.end_date": None})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    out: dict[str, Any] = response.get_json()["response"]
    return json.dumps(out[ids.ASSET_METRICS]["children"], ensure_ascii=False), str(out[ids.ASSET_METRICS_NOTE]["children"])


def test_the_card_shows_each_metric_with_its_value_unit_band_and_formula(client, tenants, dispenser) -> None:  # type: ignore[no-untyped-def]
    tiles, note = card(client, tenants[0], dispenser.asset_id)
    assert "10 readings, 2 anomaly episodes" in note
    for text in ("Availability", "80.0 %", "OEE", "30.0 %", "Performance", "75.0 %", "1.33×", "1.5 min",
                 "availability × performance × quality", "Bad", "Warning", "Good"):
        assert text in tiles, text
    # The band's colour goes with its words.
    assert '"color": "danger"' in tiles and '"color": "success"' in tiles


def test_another_suppliers_asset_shows_no_metrics(client, tenants, dispenser) -> None:  # type: ignore[no-untyped-def]
    tiles, note = card(client, tenants[1], dispenser.asset_id)
    assert note == "This asset is not available." and tiles == "null"


def test_a_drivetrain_says_not_applicable_rather_than_inventing_numbers(client, db, tenants) -> None:  # type: ignore[no-untyped-def]
    plant = add_plant(db, ["torque"], supplier_id=tenants[0].supplier_id)
    with db.sensors_engine.begin() as conn:
        write_sensor_readings(conn, pd.DataFrame({"sensor_id": plant.sensor_ids[0],
                                                  "ts": pd.date_range(T0, periods=5, freq="1min"),
                                                  "value": [1.0, 2, 3, 4, 5]}))
    tiles, _note = card(client, tenants[0], plant.asset_id)
    assert ("Not applicable to a wind drivetrain: availability, performance, quality, OEE, energy per litre, "
            "thermal variation, non-productive consumption, peak flow ratio.") in tiles
    assert "Availability" not in tiles  # no tile for it
    assert "no anomaly in" in tiles  # mean time between anomalies still has something to say


def test_a_range_longer_than_max_days_is_measured_over_its_newest_days(db: Database, settings: Settings,
                                                                      tenants, dispenser) -> None:  # type: ignore[no-untyped-def]
    end = T0 + timedelta(minutes=10)
    found = asset_performance(db, settings, tenants[0].supplier_id, dispenser.asset_id,
                              end - timedelta(days=400), end)
    assert found.shortened and found.start == end - timedelta(days=settings.metrics.max_days)
    assert by_key(found.metrics)["availability"].value == pytest.approx(80.0)
    assert found.episodes == 2
