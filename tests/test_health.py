"""Asset health from hand-made data: alerts, models and validations, sensor freshness and
damage, each inserted directly on SQLite; and every query scoped to the supplier."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from app.db import Database
from app.db.models import (
    Alert,
    Asset,
    Calculation,
    ModelVersion,
    Sensor,
    SensorReading,
    Site,
    Validation,
)
from app.health import AssetHealth, estate_health, worst_first
from tests.conftest import add_plant, add_tenant, utc

NOW = utc(2026, 3, 2, 12, 0)


def fresh(db: Database, sensor_ids: list[int], at: datetime = NOW - timedelta(minutes=1)) -> None:
    with db.Session() as session, session.begin():
        session.add_all([SensorReading(sensor_id=sid, ts=at, value=1.0) for sid in sensor_ids])


def alert(db: Database, asset_id: int, severity: str, classification: str = "leakage",
          status: str = "open") -> None:
    with db.Session() as session, session.begin():
        session.add(Alert(asset_id=asset_id, started_at=NOW - timedelta(hours=1), kind="rule",
                          severity=severity, classification=classification, message="test",
                          status=status))


def model(db: Database, asset_id: int, *dispositions: str, status: str = "active",
          needs_retraining: bool = False, version: int = 1, target: str = "oil_temperature") -> int:
    """A model version with validations of the given dispositions, oldest first."""
    with db.Session() as session, session.begin():
        row = ModelVersion(
            asset_id=asset_id, target=target, version=version, status=status, algorithm="ridge",
            file_path="x.joblib", file_sha256="0" * 64, features=[], params={}, library_versions={},
            train_from=NOW - timedelta(days=10), train_to=NOW - timedelta(days=1), rows=100,
            holdout_metrics={}, needs_retraining=needs_retraining,
        )
        session.add(row)
        session.flush()
        for i, disposition in enumerate(dispositions):
            session.add(Validation(model_version_id=row.id, window_from=NOW - timedelta(hours=2 + i),
                                   window_to=NOW - timedelta(hours=1 + i), n=10, disposition=disposition,
                                   reason="test"))
            session.flush()
        return row.id


def health(db: Database, supplier_id: int, now: datetime = NOW) -> dict[str, AssetHealth]:
    with db.Session() as session:
        sites = estate_health(session, db.sensors_engine, supplier_id, now)
    return {a.name: a for site in sites for a in site.assets}


@pytest.fixture
def turbine(db: Database):  # type: ignore[no-untyped-def]
    """A drivetrain with three fresh sensors and a model that validated well: healthy."""
    plant = add_plant(db, ["torque", "speed", "oil_temperature"], asset_type="drivetrain")
    fresh(db, plant.sensor_ids)
    model(db, plant.asset_id, "keep")
    return plant


def test_fresh_data_and_a_good_model_are_green(db, turbine) -> None:  # type: ignore[no-untyped-def]
    asset = health(db, turbine.supplier_id)["Turbine 1"]
    assert (asset.level, asset.concerns, asset.score) == ("green", [], 0)
    assert asset.model_status == "Forecasts checked and accurate"
    assert asset.latest_reading_at == NOW - timedelta(minutes=1)
    assert asset.type_label == "Wind drivetrain" and asset.sensors == 3


def test_unresolved_critical_alerts_are_red_and_closed_ones_do_not_count(db, turbine) -> None:  # type: ignore[no-untyped-def]
    alert(db, turbine.asset_id, "critical")
    alert(db, turbine.asset_id, "critical", status="acknowledged")  # someone is on it: still there
    alert(db, turbine.asset_id, "critical", "overuse", status="closed")
    asset = health(db, turbine.supplier_id)["Turbine 1"]
    assert asset.level == "red"
    assert asset.open_alerts_critical == 2 and asset.open_alerts_warning == 0
    assert asset.concerns == ["2 critical alerts open: leak"]


def test_a_warning_alert_is_amber(db, turbine) -> None:  # type: ignore[no-untyped-def]
    alert(db, turbine.asset_id, "warning", "sensor_error")
    asset = health(db, turbine.supplier_id)["Turbine 1"]
    assert asset.level == "amber" and asset.open_alerts_warning == 1
    assert asset.concerns == ["1 warning open: sensor fault"]


@pytest.mark.parametrize(("age", "level", "words"), [
    (timedelta(minutes=30), "green", None),
    (timedelta(hours=3), "amber", "No data for 3 hours"),
    (timedelta(days=2), "red", "No data for 2 days"),
])
def test_stale_data_is_amber_then_red(db, age, level, words) -> None:  # type: ignore[no-untyped-def]
    plant = add_plant(db, ["torque", "speed"], asset_type="drivetrain")
    fresh(db, plant.sensor_ids, at=NOW - age)
    model(db, plant.asset_id, "keep")
    asset = health(db, plant.supplier_id)["Turbine 1"]
    assert asset.level == level
    assert asset.concerns == ([words] if words else [])


@pytest.mark.parametrize(("age", "level", "words"), [
    (timedelta(hours=1, minutes=20), "green", None),  # two half-hour readings missed: not yet
    (timedelta(hours=2), "amber", "No data for 2 hours"),
    (timedelta(hours=13), "amber", "No data for 13 hours"),
    (timedelta(days=2), "red", "No data for 2 days"),
])
def test_lateness_is_judged_at_the_sensors_own_cadence(db, age, level, words) -> None:  # type: ignore[no-untyped-def]
    plant = add_plant(db, ["demand"], asset_type="generic")
    with db.Session() as session, session.begin():
        session.get(Sensor, plant.sensor_ids[0]).interval_s = 1800
    fresh(db, plant.sensor_ids, at=NOW - age)
    model(db, plant.asset_id, "keep", target="demand")
    asset = health(db, plant.supplier_id)["Turbine 1"]
    assert asset.level == level
    assert asset.concerns == ([words] if words else [])


def test_retired_assets_leave_the_overview(db, turbine) -> None:  # type: ignore[no-untyped-def]
    with db.Session() as session, session.begin():
        session.get(Asset, turbine.asset_id).retired_at = NOW
    assert health(db, turbine.supplier_id) == {}


def test_one_silent_sensor_among_reporting_ones_is_amber(db) -> None:  # type: ignore[no-untyped-def]
    plant = add_plant(db, ["torque", "oil_temperature"], asset_type="drivetrain")
    fresh(db, plant.sensor_ids[:1])
    fresh(db, plant.sensor_ids[1:], at=NOW - timedelta(hours=5))
    model(db, plant.asset_id, "keep")
    asset = health(db, plant.supplier_id)["Turbine 1"]
    assert asset.level == "amber" and asset.concerns == ["Sensor 'oil temperature' silent for 5 hours"]


def test_no_sensors_and_no_data_yet_are_amber(db) -> None:  # type: ignore[no-untyped-def]
    silent = add_plant(db, ["torque"], asset_type="drivetrain")
    model(db, silent.asset_id, "keep")
    bare = add_plant(db, [], asset_type="pipeline", name="Empty Field")
    assert health(db, silent.supplier_id)["Turbine 1"].concerns == ["No data received yet"]
    assert "No sensors set up" in health(db, bare.supplier_id)["Turbine 1"].concerns


def test_no_active_model_is_amber(db) -> None:  # type: ignore[no-untyped-def]
    plant = add_plant(db, ["torque"], asset_type="drivetrain")
    fresh(db, plant.sensor_ids)
    model(db, plant.asset_id, "retrain", status="retired")  # an old one does not count
    asset = health(db, plant.supplier_id)["Turbine 1"]
    assert asset.level == "amber"
    assert asset.model_status == "No forecasting model yet"
    assert asset.concerns == ["No forecasting model yet"]


def test_the_latest_validation_decides_whether_forecasts_are_failing(db) -> None:  # type: ignore[no-untyped-def]
    failing = add_plant(db, ["torque"], asset_type="drivetrain", name="Failing Farm")
    fresh(db, failing.sensor_ids)
    model(db, failing.asset_id, "keep", "retrain")  # kept once, then failed
    recovered = add_plant(db, ["torque"], asset_type="drivetrain", name="Recovered Farm")
    fresh(db, recovered.sensor_ids)
    model(db, recovered.asset_id, "retrain", "keep")
    unchecked = add_plant(db, ["torque"], asset_type="drivetrain", name="New Farm")
    fresh(db, unchecked.sensor_ids)
    model(db, unchecked.asset_id)

    bad = health(db, failing.supplier_id)["Turbine 1"]
    assert bad.level == "amber" and bad.concerns == ["Forecasts failing validation: retraining"]
    good = health(db, recovered.supplier_id)["Turbine 1"]
    assert good.level == "green" and good.model_status == "Forecasts checked and accurate"
    new = health(db, unchecked.supplier_id)["Turbine 1"]
    assert new.level == "green" and new.model_status == "Forecasting, not yet checked"


def test_a_model_marked_for_retraining_is_failing(db) -> None:  # type: ignore[no-untyped-def]
    plant = add_plant(db, ["torque"], asset_type="drivetrain")
    fresh(db, plant.sensor_ids)
    model(db, plant.asset_id, needs_retraining=True)
    assert health(db, plant.supplier_id)["Turbine 1"].model_status == "Forecasts failing validation: retraining"


def damaged(db: Database, values: list[tuple[datetime, float]], limit: float | None) -> int:
    plant = add_plant(db, ["torque"], asset_type="drivetrain")
    fresh(db, plant.sensor_ids)
    model(db, plant.asset_id, "keep")
    with db.Session() as session, session.begin():
        asset = session.get(Asset, plant.asset_id)
        assert asset is not None
        asset.parameters = {**asset.parameters, **({"damage_limit": limit} if limit else {})}
        session.add_all([Calculation(asset_id=plant.asset_id, name="accumulated_destruction", ts=ts,
                                     value=value) for ts, value in values])
        # another calculation of the asset must not be read as damage
        session.add(Calculation(asset_id=plant.asset_id, name="destruction_rate", ts=NOW, value=99.0))
    return plant.supplier_id


@pytest.mark.parametrize(("latest", "level", "words"), [
    (0.5, "green", []),
    (0.85, "amber", ["Wear at 85 % of its limit"]),
    (1.2, "red", ["Wear past its limit (120 %)"]),
])
def test_damage_against_its_limit(db, latest, level, words) -> None:  # type: ignore[no-untyped-def]
    # the newest value counts, not the largest
    supplier = damaged(db, [(NOW - timedelta(hours=2), 5.0), (NOW - timedelta(hours=1), latest)], limit=1.0)
    asset = health(db, supplier)["Turbine 1"]
    assert asset.damage == latest and asset.damage_fraction == pytest.approx(latest)
    assert asset.level == level and asset.concerns == words


def test_damage_without_a_limit_is_shown_but_no_concern(db) -> None:  # type: ignore[no-untyped-def]
    supplier = damaged(db, [(NOW, 20.7)], limit=None)
    asset = health(db, supplier)["Turbine 1"]
    assert (asset.damage, asset.damage_fraction, asset.damage_label) == (20.7, None, "Wear")
    assert asset.level == "green"


def test_worst_first_puts_every_red_above_any_amber(db) -> None:  # type: ignore[no-untyped-def]
    tenant = add_tenant(db, "Gamma Heat")
    amber = add_plant(db, ["torque"], asset_type="drivetrain", name="Amber Farm", supplier_id=tenant.supplier_id)
    red = add_plant(db, ["torque"], asset_type="drivetrain", name="Red Farm", supplier_id=tenant.supplier_id)
    green = add_plant(db, ["torque"], asset_type="drivetrain", name="Green Farm", supplier_id=tenant.supplier_id)
    for plant in (amber, red, green):
        fresh(db, plant.sensor_ids)
    # amber: several amber concerns at once (no model, two warnings); red: a single critical alert
    alert(db, amber.asset_id, "warning")
    alert(db, amber.asset_id, "warning", "overuse")
    model(db, red.asset_id, "keep")
    model(db, green.asset_id, "keep")
    alert(db, red.asset_id, "critical")
    with db.Session() as session:
        ordered = worst_first(estate_health(session, db.sensors_engine, tenant.supplier_id, NOW))
    assert [(a.site_name, a.level) for a in ordered] == [
        ("Red Farm", "red"), ("Amber Farm", "amber"), ("Green Farm", "green")]
    assert ordered[1].concerns[0] == "2 warnings open: leak, overuse"


def test_another_suppliers_sites_assets_and_alerts_never_appear(db) -> None:  # type: ignore[no-untyped-def]
    mine = add_plant(db, ["torque"], asset_type="drivetrain", name="Alpha Farm")
    theirs = add_plant(db, ["torque"], asset_type="drivetrain", name="Beta Farm")
    fresh(db, mine.sensor_ids)
    model(db, mine.asset_id, "keep")
    alert(db, theirs.asset_id, "critical")
    with db.Session() as session:
        sites = estate_health(session, db.sensors_engine, mine.supplier_id, NOW)
    assert [s.name for s in sites] == ["Alpha Farm"]
    assert [(a.id, a.level) for a in sites[0].assets] == [(mine.asset_id, "green")]


def test_a_site_without_assets_is_listed_empty_and_a_supplier_without_sites_gets_none(db) -> None:  # type: ignore[no-untyped-def]
    tenant = add_tenant(db, "Delta Gas")
    assert health(db, tenant.supplier_id) == {}
    with db.Session() as session, session.begin():
        session.add(Site(supplier_id=tenant.supplier_id, name="Empty Yard"))
    with db.Session() as session:
        sites = estate_health(session, db.sensors_engine, tenant.supplier_id, NOW)
    assert [(s.name, s.assets, s.level) for s in sites] == [("Empty Yard", [], "green")]


def count_queries(db: Database, supplier_id: int) -> int:
    statements: list[Any] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        health(db, supplier_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return len(statements)


def test_the_query_count_does_not_grow_with_assets_beyond_one_seek_per_sensor(db) -> None:  # type: ignore[no-untyped-def]
    tenant = add_tenant(db, "Epsilon Power")

    def add_assets(site_name: str, n: int) -> None:
        with db.Session() as session, session.begin():
            site = Site(supplier_id=tenant.supplier_id, name=site_name)
            session.add(site)
            session.flush()
            for i in range(n):
                asset = Asset(site_id=site.id, name=f"Pipe {i}", asset_type="pipeline", parameters={})
                session.add(asset)
                session.flush()
                session.add(Sensor(asset_id=asset.id, name="flow_in", unit="m3/h"))

    add_assets("North", 2)
    few = count_queries(db, tenant.supplier_id)
    add_assets("South", 6)
    # 6 more assets: 6 more sensors to seek, and nothing else
    assert count_queries(db, tenant.supplier_id) == few + 6
