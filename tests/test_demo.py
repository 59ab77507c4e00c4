"""Demo data: the estate a new user meets, deterministic, loaded once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.db.migrate import upgrade
from app.db.models import (
    Asset,
    Customer,
    Meter,
    MeterReading,
    Sensor,
    SensorReading,
    Site,
    Supplier,
    Tariff,
    User,
)
from app.demo import DemoError, read_logins, seed_demo
from tests.conftest import make_settings, utc

NOW = utc(2026, 11, 20, 12, 0)


def seeded(tmp_path: Path, **overrides: object) -> tuple[Database, list]:
    small = {"demo_data__meters": 8, "demo_data__meter_history_days": 60,
             "demo_data__sensor_history_days": 1}
    settings = make_settings(tmp_path, demo=True, **{**small, **overrides})
    database = Database(settings)
    upgrade(database.engine)
    return database, seed_demo(database, settings, now=NOW)


def count(database: Database, model: type) -> int:
    with database.Session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_demo_has_two_suppliers_with_staff_meters_sites_and_history(tmp_path: Path) -> None:
    database, logins = seeded(tmp_path)
    assert count(database, Supplier) == 2
    assert count(database, User) == 6 == len(logins)
    assert {login.role for login in logins} == {"admin", "operator", "viewer"}
    assert count(database, Meter) == 8
    assert count(database, Customer) >= 4
    with database.Session() as session:
        per_supplier = dict(session.execute(
            select(Supplier.name, func.count(Site.id)).join(Site).group_by(Supplier.name)).all())
        types = set(session.scalars(select(Asset.asset_type)).all())
        first, last = session.execute(
            select(func.min(SensorReading.ts), func.max(SensorReading.ts))).one()
        reads = session.execute(select(func.min(MeterReading.read_at), func.max(MeterReading.read_at))).one()
        kinds = set(session.scalars(select(MeterReading.kind)).all())
        cap = session.scalar(select(Tariff).where(Tariff.code == "STD-E").order_by(Tariff.valid_from))
    assert per_supplier == {"Northwind Energy": 2, "Southbank Power": 1}
    assert types == {"boiler", "pressure_tank", "pipeline", "heat_exchanger", "drivetrain",
                     "water_dispenser"}
    # a day of 1-minute history for every sensor, ending now
    assert first == NOW - timedelta(days=1) and last == NOW - timedelta(minutes=1)
    assert count(database, SensorReading) == count(database, Sensor) * 24 * 60
    assert reads[0] >= NOW - timedelta(days=61) and reads[1] <= NOW
    assert kinds == {"actual", "estimated"}
    assert cap.prices_include_vat and str(cap.vat_rate) == "0.0500"


def test_meter_registers_never_go_backwards(tmp_path: Path) -> None:
    database, _ = seeded(tmp_path)
    with database.Session() as session:
        for meter_id in session.scalars(select(Meter.id)):
            values = session.scalars(select(MeterReading.value).where(MeterReading.meter_id == meter_id)
                                     .order_by(MeterReading.read_at)).all()
            assert values == sorted(values) and len(values) >= 2


def test_demo_logins_work_and_are_kept_private(tmp_path: Path) -> None:
    from app import create_app

    database, logins = seeded(tmp_path)
    settings = make_settings(tmp_path, demo=True)
    assert read_logins(settings) == logins
    assert (tmp_path / "demo_logins.json").stat().st_mode & 0o777 == 0o600
    client = create_app(settings).test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    login = logins[0]
    response = client.post("/login", data={"email": login.email, "password": login.password,
                                           "csrf_token": token})
    assert response.status_code == 302


def test_the_same_seed_gives_the_same_estate(tmp_path: Path) -> None:
    first, _ = seeded(tmp_path / "a")
    second, _ = seeded(tmp_path / "b")

    def fingerprint(database: Database) -> tuple:
        with database.Session() as session:
            return (
                session.scalars(select(Meter.serial).order_by(Meter.id)).all(),
                session.scalar(select(func.sum(MeterReading.value))),
                session.scalar(select(func.sum(SensorReading.value))),
            )

    assert fingerprint(first) == fingerprint(second)


def test_seeding_twice_is_refused(tmp_path: Path) -> None:
    database, _ = seeded(tmp_path)
    with pytest.raises(DemoError, match="already holds suppliers"):
        seed_demo(database, make_settings(tmp_path, demo=True), now=NOW)


@pytest.mark.slow
def test_every_demo_asset_has_an_active_model_with_forecasts_and_a_validation(tmp_path: Path) -> None:
    from app.db.models import Asset, ModelVersion, Prediction, Validation

    database, _ = seeded(tmp_path, demo_data__sensor_history_days=5, pipeline__training_days=5,
                         model__candidates=["ridge"], pipeline__min_training_rows=300)
    with database.Session() as session:
        assets = session.scalars(select(Asset.id)).all()
        active = session.scalars(select(ModelVersion).where(ModelVersion.status == "active")).all()
        assert sorted({v.asset_id for v in active}) == sorted(assets)
        # The drivetrain's growing total is forecast, and its destruction rate has a surrogate.
        assert {(v.target, v.mode) for v in active if v.target.endswith("destruction")
                or v.mode == "surrogate"} == {("accumulated_destruction", "forecast"),
                                              ("destruction_rate", "surrogate")}
        for version in active:
            assert session.scalar(select(func.count()).select_from(Prediction)
                                  .where(Prediction.model_version_id == version.id)) > 0
            checked = session.scalars(select(Validation).where(Validation.model_version_id == version.id)).all()
            # Validated on the replayed half day, and none of them asks to be retrained.
            assert [v.disposition for v in checked] == ["keep"], (version.target, [v.reason for v in checked])
