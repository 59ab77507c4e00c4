"""The calculate stage for one asset: batches, watermark, carry from stored calculations, runs.

Sensor data is a drivetrain's, generated with the type's own signals and stored through the
one bulk path (``write_sensor_readings``). The reference for every stored value is a single
pass of the drivetrain's ``calculate`` over the same readings, in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

import app.pipeline
from app.calculations import Carry
from app.db import Database
from app.db.models import Calculation, PipelineRun, PipelineState
from app.generator import generate_chunks
from app.ingest import write_sensor_readings
from app.pipeline import calculate
from app.plant.status import latest_status
from app.twins.drivetrain import ASSET_TYPE as DRIVETRAIN
from settings import Settings
from tests.conftest import Plant, add_plant, make_settings, utc

T0 = utc(2024, 3, 1)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
SENSORS = [spec.name for spec in DRIVETRAIN.sensors]  # torque, speed, oil_temperature
NAMES = ["accumulated_destruction", "destruction_rate"]


# -- helpers --------------------------------------------------------------------------------


def drivetrain(database: Database, sensors: list[str] = SENSORS) -> Plant:
    return add_plant(database, sensors, asset_type="drivetrain")


def write_readings(
    database: Database, plant: Plant, start: datetime, end: datetime, seed: int = 5
) -> pd.DataFrame:
    """1-minute readings of every drivetrain sensor over [start, end), stored and returned wide."""
    columns = {}
    for spec, sensor_id in zip(DRIVETRAIN.sensors, plant.sensor_ids, strict=True):
        frame = pd.concat(generate_chunks(spec.signal, sensor_id, start, end, MINUTE, seed=seed))
        write_sensor_readings(database.sensors_engine, frame)
        columns[spec.name] = frame.set_index("ts")["value"]
    return pd.DataFrame(columns)


def single_pass(*parts: pd.DataFrame) -> pd.DataFrame:
    """The reference: the drivetrain's calculation over all readings at once, sorted by name."""
    out, _ = DRIVETRAIN.calculate(pd.concat(parts).sort_index(), Carry(), {})
    return out[NAMES]


def stored(database: Database, asset_id: int) -> pd.DataFrame:
    """The asset's stored calculations, one column per name, indexed by time."""
    with database.Session() as session:
        rows = session.execute(
            select(Calculation.ts, Calculation.name, Calculation.value).where(
                Calculation.asset_id == asset_id
            )
        ).all()
    long = pd.DataFrame(rows, columns=["ts", "name", "value"])
    long["ts"] = pd.to_datetime(long["ts"], utc=True)
    return long.pivot(index="ts", columns="name", values="value").sort_index()[NAMES]


def calculation_count(database: Database, asset_id: int) -> int:
    with database.Session() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(Calculation)
                .where(Calculation.asset_id == asset_id)
            )
            or 0
        )


def watermark(database: Database, asset_id: int) -> datetime | None:
    with database.Session() as session:
        return session.scalar(
            select(PipelineState.watermark).where(PipelineState.asset_id == asset_id)
        )


def runs(database: Database, asset_id: int) -> list[PipelineRun]:
    with database.Session() as session:
        found = session.scalars(
            select(PipelineRun).where(PipelineRun.asset_id == asset_id).order_by(PipelineRun.id)
        ).all()
        session.expunge_all()
        return list(found)


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame, rtol: float) -> None:
    assert actual.index.equals(expected.index)
    for name in NAMES:
        np.testing.assert_allclose(
            actual[name].to_numpy(), expected[name].to_numpy(), rtol=rtol, atol=0, err_msg=name
        )


# -- a first run ------------------------------------------------------------------------------


def test_calculate_stores_rate_and_accumulated_destruction_for_every_reading_time(
    db: Database, settings: Settings
) -> None:
    plant = drivetrain(db)
    day = write_readings(db, plant, T0, T0 + DAY)

    summary = calculate(db, settings, plant.asset_id)

    assert summary.decision == "calculated"
    result = stored(db, plant.asset_id)
    assert len(result) == 1440 and result.notna().all(axis=None)  # 1 day of minutes, both names
    assert_same(result, single_pass(day), rtol=1e-12)
    # A day at rates of ~(0..45)/5e6 per second adds up to ~86,400 x 8e-6 = ~0.7: not a zero test.
    assert 0.1 < result["accumulated_destruction"].iloc[-1] < 2.0
    assert watermark(db, plant.asset_id) == T0 + DAY - MINUTE


def test_a_run_is_recorded_as_done_with_its_rows_and_stage_timings(
    db: Database, settings: Settings
) -> None:
    plant = drivetrain(db)
    write_readings(db, plant, T0, T0 + DAY)

    summary = calculate(db, settings, plant.asset_id)

    [run] = runs(db, plant.asset_id)
    assert (run.kind, run.status) == ("calculate", "done")
    assert run.rows == summary.rows == 1440 * 3  # readings read: 1,440 minutes x 3 sensors
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert set(run.summary["timings_s"]) == {"load", "calculate", "save", "detect"}
    assert all(seconds >= 0 for seconds in run.summary["timings_s"].values())
    assert run.summary["batches"] == 1 and run.summary["decision"] == "calculated"


# -- watermark and continuation ------------------------------------------------------------


def test_a_second_run_without_new_data_is_up_to_date_and_changes_nothing(
    db: Database, settings: Settings
) -> None:
    plant = drivetrain(db)
    write_readings(db, plant, T0, T0 + DAY)
    calculate(db, settings, plant.asset_id)
    before = (
        stored(db, plant.asset_id),
        watermark(db, plant.asset_id),
        len(runs(db, plant.asset_id)),
    )

    summary = calculate(db, settings, plant.asset_id)

    assert summary.decision == "up to date" and summary.rows == 0
    after = stored(db, plant.asset_id), watermark(db, plant.asset_id), len(runs(db, plant.asset_id))
    assert_same(after[0], before[0], rtol=0)
    assert after[1:] == before[1:]


def test_new_data_is_calculated_from_the_watermark_and_the_total_continues_exactly(
    db: Database, settings: Settings
) -> None:
    plant = drivetrain(db)
    first = write_readings(db, plant, T0, T0 + DAY, seed=5)
    calculate(db, settings, plant.asset_id)
    second = write_readings(db, plant, T0 + DAY, T0 + DAY + timedelta(hours=6), seed=6)

    summary = calculate(db, settings, plant.asset_id)

    # Only the new 6 hours are read: 360 minutes x 3 sensors, starting just after the watermark.
    assert summary.start == T0 + DAY - MINUTE + timedelta(microseconds=1)
    assert summary.rows == 360 * 3
    assert watermark(db, plant.asset_id) == T0 + DAY + timedelta(hours=6) - MINUTE
    # The first new sample counts the 60 s since the last old one, on top of the stored total.
    assert_same(stored(db, plant.asset_id), single_pass(first, second), rtol=1e-9)


def test_rerunning_an_earlier_range_rewrites_the_same_rows(
    any_db: Database, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    plant = drivetrain(any_db)
    write_readings(any_db, plant, T0, T0 + DAY)
    calculate(any_db, settings, plant.asset_id)
    before, count = stored(any_db, plant.asset_id), calculation_count(any_db, plant.asset_id)

    summary = calculate(
        any_db,
        settings,
        plant.asset_id,
        start=T0 + timedelta(hours=6),
        end=T0 + timedelta(hours=12),
    )

    assert summary.rows == 360 * 3  # 6 hours x 3 sensors re-read
    assert calculation_count(any_db, plant.asset_id) == count == 1440 * 2
    # The re-run's running total restarts from the stored value at 05:59, not from zero.
    assert_same(stored(any_db, plant.asset_id), before, rtol=1e-12)


def test_rerunning_an_earlier_range_keeps_the_watermark_at_the_newest_calculated_time(
    db: Database, settings: Settings
) -> None:
    plant = drivetrain(db)
    write_readings(db, plant, T0, T0 + DAY)
    calculate(db, settings, plant.asset_id)

    calculate(
        db, settings, plant.asset_id, start=T0 + timedelta(hours=6), end=T0 + timedelta(hours=12)
    )

    # The watermark is "the newest sensor time already calculated": still 23:59, not 11:59,
    # so the next routine run is up to date instead of recalculating the last 12 hours.
    assert watermark(db, plant.asset_id) == T0 + DAY - MINUTE
    assert calculate(db, settings, plant.asset_id).decision == "up to date"


# -- batches ----------------------------------------------------------------------------------


def test_small_batches_give_the_same_results_as_one_batch(db: Database, tmp_path: Path) -> None:
    # 200-minute windows (as 600 one-minute readings of 3 sensors were)
    small = make_settings(tmp_path, pipeline__batch_seconds=12000)
    plant = drivetrain(db)
    day = write_readings(db, plant, T0, T0 + DAY)
    progress: list[tuple[int, int]] = []

    summary = calculate(
        db, small, plant.asset_id, progress=lambda done, total: progress.append((done, total))
    )

    # 1,440 minutes in 200-minute windows: 7 full ones and a last of 40 minutes = 8 batches
    assert summary.batches == 8
    assert progress == [(n, 8) for n in range(1, 9)]
    assert_same(stored(db, plant.asset_id), single_pass(day), rtol=1e-9)


def failing_on_call(number: int, real: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
    calls = 0

    def read(*args: object) -> pd.DataFrame:
        nonlocal calls
        calls += 1
        if calls == number:
            raise OSError("source went away")
        return real(*args)

    return read


def test_a_run_that_fails_half_way_keeps_its_finished_batches_and_the_next_run_resumes(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = make_settings(tmp_path, pipeline__batch_seconds=12000)
    plant = drivetrain(db)
    day = write_readings(db, plant, T0, T0 + DAY)
    monkeypatch.setattr(app.pipeline, "read_wide", failing_on_call(3, app.pipeline.read_wide))

    with pytest.raises(OSError, match="source went away"):
        calculate(db, small, plant.asset_id)

    # Two 200-minute batches were saved before the third failed: 400 minutes, watermark 06:39.
    assert watermark(db, plant.asset_id) == T0 + timedelta(minutes=399)
    assert [run.status for run in runs(db, plant.asset_id)] == ["failed"]
    monkeypatch.undo()

    calculate(db, small, plant.asset_id)

    assert [run.status for run in runs(db, plant.asset_id)] == ["failed", "done"]
    assert_same(stored(db, plant.asset_id), single_pass(day), rtol=1e-9)


# -- assets the catalogue left incomplete ---------------------------------------------------


def test_an_asset_lacking_a_required_sensor_runs_what_it_can_and_names_the_sensor(
    db: Database, settings: Settings
) -> None:
    plant = drivetrain(db, ["torque", "speed"])
    frame = pd.concat(generate_chunks(DRIVETRAIN.sensor("torque").signal, plant.sensor_ids[0],
                                      T0, T0 + HOUR, MINUTE, seed=1))
    write_sensor_readings(db.sensors_engine, frame)

    summary = calculate(db, settings, plant.asset_id)

    assert summary.decision == "calculated"
    assert any("oil_temperature" in note for note in summary.details["status"])
    with db.Session() as session:  # the type's calculations wait for the sensor
        assert session.scalar(select(func.count()).select_from(Calculation)) == 0
    with db.Session() as session:
        status = latest_status(session, plant.asset_id)
    assert status.level == "attention" and "oil_temperature" in status.text


def test_a_sensor_without_readings_does_not_stop_the_asset(
    db: Database, settings: Settings
) -> None:
    # All three sensors exist, but oil temperature never reported: the KeyError of old.
    plant = drivetrain(db)
    for spec, sensor_id in list(zip(DRIVETRAIN.sensors, plant.sensor_ids, strict=True))[:2]:
        write_sensor_readings(db.sensors_engine, pd.concat(
            generate_chunks(spec.signal, sensor_id, T0, T0 + HOUR, MINUTE, seed=1)))

    summary = calculate(db, settings, plant.asset_id)

    assert summary.decision == "calculated"
    notes = " ".join(summary.details["status"])
    assert "no readings yet from oil_temperature" in notes
    assert "own calculations skipped" in notes


def test_an_asset_without_sensor_data_says_there_is_none_yet(
    db: Database, settings: Settings
) -> None:
    plant = drivetrain(db)

    summary = calculate(db, settings, plant.asset_id)

    assert summary.decision == "no sensor data yet"
    assert calculation_count(db, plant.asset_id) == 0 and runs(db, plant.asset_id) == []
