"""The pipeline on real Celery workers and the real Redis (never eager mode): train, predict,
validate and retrain through the broker, and a worker killed with SIGKILL mid-training.

Workers run as separate processes (``python -m app worker``), exactly as deployed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from sqlalchemy import func, select

from app import forecasting, jobs
from app.db import Database
from app.db.base import utcnow
from app.db.migrate import upgrade
from app.db.models import Job, ModelEvent, ModelVersion, Prediction, Validation
from app.generator import generate_chunks
from app.ingest import write_sensor_readings
from app.queue import TaskQueue
from app.twins import asset_type
from settings import Settings, load_settings
from tests.conftest import add_plant

pytestmark = [pytest.mark.redis, pytest.mark.slow]

TARGET = "water_temperature"
SETTINGS = {
    "broker": {"visibility_timeout_s": 4},
    "pipeline": {"training_days": 4, "min_training_rows": 100, "resample_minutes": 10,
                 "horizon_minutes": 60},
    "thresholds": {"min_validation_points": 3},
}


def worker_env(tmp_path: Path, sections: dict[str, dict[str, Any]], **variables: str) -> dict[str, str]:
    """The environment of worker processes (none of the caller's TWIN_*): the packaged
    settings with ``sections`` changed, in a file under ``tmp_path``, and ``variables``."""
    settings_file = tmp_path / "settings.json"
    packaged = json.loads(Path(load_settings.__globals__["DEFAULT_SETTINGS_FILE"]).read_text())
    for section, values in sections.items():
        packaged[section].update(values)
    settings_file.write_text(json.dumps(packaged))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env.update(TWIN_HOME=str(tmp_path / "home"), TWIN_SETTINGS_FILE=str(settings_file), **variables)
    return env


@pytest.fixture
def world(tmp_path: Path, redis_url: str) -> Iterator[tuple[Settings, Database, dict[str, str]]]:
    """Settings shared by this process and its worker processes, on a clean Redis database."""
    redis.Redis.from_url(redis_url).flushdb()
    env = worker_env(tmp_path, SETTINGS, TWIN_BROKER_URL=redis_url)
    settings = load_settings(environ=env)
    database = Database(settings)
    upgrade(database.engine)
    yield settings, database, env
    database.engine.dispose()
    redis.Redis.from_url(redis_url).flushdb()


def boiler(database: Database, settings: Settings, start: datetime, end: datetime,
           drift_from: datetime | None = None) -> int:
    """A boiler with 1-minute data over [start, end); from ``drift_from`` on, its water
    temperature swings 6 K every half hour (a fault the model never saw, which spoils its
    forecasts at any time of day: scaling the daily sine, as this once did, left a model that
    forecasts the change from its newest reading right near the sine's peaks and troughs, and
    the test failed at those hours)."""
    kind = asset_type("boiler")
    plant = add_plant(database, [s.name for s in kind.sensors], asset_type="boiler")
    for sensor_id, spec in zip(plant.sensor_ids, kind.sensors, strict=True):
        for frame in generate_chunks(spec.signal, sensor_id, start, end, timedelta(minutes=1), seed=7):
            if drift_from is not None and spec.name == TARGET:
                drifted = frame["ts"] >= drift_from
                minutes = (frame.loc[drifted, "ts"] - drift_from) / timedelta(minutes=1)
                frame.loc[drifted, "value"] += 6.0 * np.sin(2 * np.pi * minutes.to_numpy(dtype=float) / 30)
            write_sensor_readings(database.engine, frame)
    return plant.asset_id


class Workers:
    """Worker processes, each in its own process group so SIGKILL takes its pool too."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir, self.processes = env, log_dir, []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker{len(self.processes)}.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "app", "worker", "--concurrency", "1"],
                                   env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def workers(world, tmp_path: Path) -> Iterator[Workers]:  # type: ignore[no-untyped-def]
    pool = Workers(world[2], tmp_path)
    yield pool
    pool.stop()


def wait_for(condition, timeout_s: float = 120.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not met within {timeout_s} s")


def job_status(database: Database, job_id: int) -> Job:
    with database.Session() as session:
        return session.get(Job, job_id)


def new_job(database: Database, asset_id: int) -> int:
    with database.Session() as session, session.begin():
        return jobs.create_job(session, supplier_id=1, kind="train", asset_id=asset_id, target=TARGET).id


def count(database: Database, model: type, *where) -> int:  # type: ignore[no-untyped-def]
    with database.Session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_train_predict_validate_and_retrain_run_on_workers(world, workers) -> None:  # type: ignore[no-untyped-def]
    settings, database, _ = world
    now = utcnow().replace(second=0, microsecond=0)
    drift_at = now - timedelta(days=2)
    asset_id = boiler(database, settings, now - timedelta(days=6), now, drift_from=drift_at)
    # The champion learnt the boiler before the fault (trained as of two days ago).
    forecasting.train(database, settings, asset_id, TARGET, now=drift_at, reason="before the fault")
    forecasting.predict(database, settings, asset_id, TARGET, now=now - timedelta(hours=1))
    queue = TaskQueue(settings)
    workers.start()

    queue.send("twin.validate", asset_id, TARGET)  # fails, and queues retraining by itself
    wait_for(lambda: count(database, ModelVersion, ModelVersion.asset_id == asset_id,
                           ModelVersion.status == "active", ModelVersion.version == 2),
             what="a retrained version 2 promoted by the worker")
    with database.Session() as session:
        validation = session.scalar(select(Validation))
        events = {e.event: e.reason for e in session.scalars(select(ModelEvent))}
        v1 = session.scalar(select(ModelVersion).where(ModelVersion.version == 1))
    assert validation.disposition == "retrain" and "backtest" in validation.reason
    assert v1.status == "retired" and v1.needs_retraining
    assert "marked_for_retraining" in events and "MAE" in events["activated"] and "retired" in events

    queue.send("twin.predict", asset_id, TARGET)
    queue.send("twin.predict", asset_id, TARGET)  # idempotent: the same forecasts again
    steps = settings.pipeline.horizon_minutes // settings.pipeline.resample_minutes
    with database.Session() as session:
        v2 = session.scalar(select(ModelVersion).where(ModelVersion.version == 2))
    wait_for(lambda: count(database, Prediction, Prediction.model_version_id == v2.id) == steps,
             what="forecasts of version 2")
    queue.send("twin.calculate", asset_id)
    wait_for(lambda: count(database, ModelVersion) and _calculated(database, asset_id),
             what="calculations by the worker")


def _calculated(database: Database, asset_id: int) -> bool:
    from app.db.models import PipelineState

    with database.Session() as session:
        return session.scalar(select(PipelineState.watermark).where(PipelineState.asset_id == asset_id)) is not None


def test_a_worker_killed_mid_training_leaves_exactly_one_version(world, workers) -> None:  # type: ignore[no-untyped-def]
    settings, database, env = world
    now = utcnow().replace(second=0, microsecond=0)
    asset_id = boiler(database, settings, now - timedelta(days=4), now)
    # A slow training (trees on a 1-minute grid: an hour ahead is 60 steps, one model each),
    # so the kill lands while it trains.
    slow = json.loads(Path(env["TWIN_SETTINGS_FILE"]).read_text())
    slow.setdefault("model", {}).update({"candidates": ["gbm"]})
    slow["pipeline"].update({"resample_minutes": 1})
    Path(env["TWIN_SETTINGS_FILE"]).write_text(json.dumps(slow))
    job_id = new_job(database, asset_id)
    first = workers.start()
    TaskQueue(settings).send("twin.train", asset_id, TARGET, job_id, "test")
    wait_for(lambda: job_status(database, job_id).progress >= 30, what="training under way")
    workers.kill(first)
    assert job_status(database, job_id).status == "running"  # killed before it could finish
    assert count(database, ModelVersion) == 0

    workers.start()  # the broker delivers the task again after its visibility timeout
    wait_for(lambda: job_status(database, job_id).status == "done", timeout_s=240,
             what="the redelivered training to finish")
    assert count(database, ModelVersion) == 1
    with database.Session() as session:
        version = session.scalar(select(ModelVersion))
    assert version.status == "active" and version.params["job_id"] == job_id
    assert np.isfinite(version.holdout_metrics["mae"])
