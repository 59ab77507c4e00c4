"""Celery on a real worker (never eager mode): the embedded broker and, in CI, Redis."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from sqlalchemy import select

from app.db import Database
from app.db.migrate import upgrade
from app.db.models import WorkerHeartbeat
from settings import Settings
from tests.conftest import make_settings
from workers.celery_app import beat_schedule, create_celery


def wait_for(condition, timeout_s: float = 20.0, interval_s: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


def heartbeat_round_trip(settings: Settings) -> WorkerHeartbeat:
    database = Database(settings)
    upgrade(database.engine)
    celery = create_celery(settings)
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        celery.send_task("twin.heartbeat")

        def seen() -> WorkerHeartbeat | None:
            with database.Session() as session:
                return session.scalar(select(WorkerHeartbeat))

        return wait_for(seen)


def test_a_worker_on_the_embedded_broker_runs_the_heartbeat(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.broker_url.startswith("sqla+sqlite:///")
    row = heartbeat_round_trip(settings)
    assert row.hostname and row.seen_at.tzinfo is not None


@pytest.mark.redis
def test_a_worker_on_redis_runs_the_heartbeat(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, broker__url=redis_url)
    assert settings.result_backend == redis_url
    row = heartbeat_round_trip(settings)
    assert row.hostname


def test_beat_schedules_the_heartbeat_from_settings(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, broker__heartbeat_interval_s=7)
    schedule = beat_schedule(settings)
    assert schedule["worker-heartbeat"]["task"] == "twin.heartbeat"
    assert schedule["worker-heartbeat"]["schedule"] == 7.0
    assert schedule["predict boiler/water_temperature"]["args"] == ("predict", "boiler", None,
                                                                   "water_temperature", "forecast")
    # A surrogate's entry carries its mode to the tasks it fans out to.
    assert schedule["validate drivetrain/destruction_rate (surrogate)"]["args"] == (
        "validate", "drivetrain", None, "destruction_rate", "surrogate")
    assert create_celery(settings, beat=True).conf.beat_schedule.keys() == schedule.keys()
    celery = create_celery(settings)
    assert list(celery.conf.beat_schedule) == ["worker-heartbeat"]  # workers need no schedule
    assert celery.conf.worker_hijack_root_logger is False


def test_a_schedule_dispatch_fans_out_to_each_asset_of_the_type(tmp_path: Path) -> None:
    from datetime import timedelta

    from app.db.models import PipelineState
    from app.generator import generate_chunks
    from app.ingest import write_sensor_readings
    from app.twins import asset_type
    from tests.conftest import add_plant, utc

    settings = make_settings(tmp_path)
    database = Database(settings)
    upgrade(database.engine)
    kind = asset_type("pipeline")
    assets = []
    for name in ("North main", "South main"):
        plant = add_plant(database, [s.name for s in kind.sensors], asset_type="pipeline", name=name)
        for sensor_id, spec in zip(plant.sensor_ids, kind.sensors, strict=True):
            write_sensor_readings(database.engine, generate_chunks(
                spec.signal, sensor_id, utc(2024, 10, 1), utc(2024, 10, 1, 2), timedelta(minutes=1), seed=1))
        assets.append(plant.asset_id)
    celery = create_celery(settings)
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        celery.send_task("twin.schedule.dispatch", args=("calculate", "pipeline", None, "pressure_drop"))

        def calculated() -> bool:
            with database.Session() as session:
                marks = session.scalars(select(PipelineState.asset_id)).all()
            return sorted(marks) == sorted(assets)

        wait_for(calculated)
