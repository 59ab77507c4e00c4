"""Plot series: hourly rollups of the readings, and any range read in at most ``max_points``.

The reference for every rollup is a pandas groupby of the same readings by UTC hour. Readings
are stored through the one bulk path (``write_sensor_readings``); SQL Server is covered by
compiling the hour-bucket queries under its dialect (and, at session end, every statement the
suite ran: tests/mssql_capture.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.dialects import mssql, postgresql, sqlite

from app import series
from app.cli import main
from app.db import Database
from app.db.models import Calculation, CalculationRollup, SensorRollup
from app.ingest import write_sensor_readings
from app.pipeline import calculate
from app.series import (
    hour_bucket,
    load_calculation,
    load_series,
    load_tail,
    refresh_rollups,
    rollup_query,
)
from app.twins.drivetrain import ASSET_TYPE as DRIVETRAIN
from settings import Settings
from tests.conftest import add_plant, utc
from tests.test_pipeline import write_readings

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FIVE_MINUTES = timedelta(minutes=5)
YEAR_START = utc(2023, 1, 1)


def readings(sensor_id: int, start: datetime, periods: int, step: timedelta,
             seed: int = 1) -> pd.DataFrame:
    """A daily sine plus noise, one reading every ``step``, as the bulk path takes it."""
    ts = pd.date_range(start, periods=periods, freq=step, tz="UTC")
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * (ts - ts[0]).total_seconds().to_numpy() / 86_400
    values = 50 + 10 * np.sin(phase) + rng.normal(0, 1, periods)
    return pd.DataFrame({"sensor_id": sensor_id, "ts": ts, "value": values})


def expected_rollups(frame: pd.DataFrame) -> pd.DataFrame:
    """The rollups as pandas computes them, indexed by (sensor_id, bucket)."""
    grouped = frame.assign(bucket=frame["ts"].dt.floor("h")).groupby(["sensor_id", "bucket"])
    return pd.DataFrame({
        "n": grouped["value"].count(), "min_value": grouped["value"].min(),
        "max_value": grouped["value"].max(), "sum_value": grouped["value"].sum(),
        "first_ts": grouped["ts"].min(), "last_ts": grouped["ts"].max(),
    })


def stored_rollups(database: Database, sensor_ids: list[int]) -> pd.DataFrame:
    with database.Session() as session:
        rows = session.scalars(select(SensorRollup).where(SensorRollup.sensor_id.in_(sensor_ids))
                               .order_by(SensorRollup.sensor_id, SensorRollup.bucket)).all()
    columns = ["sensor_id", "bucket", "n", "min_value", "max_value", "sum_value", "first_ts",
               "last_ts"]
    frame = pd.DataFrame([[getattr(r, c) for c in columns] for r in rows], columns=columns)
    for column in ("bucket", "first_ts", "last_ts"):
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.as_unit("ns")
    return frame.set_index(["sensor_id", "bucket"])


def assert_rollups_match(database: Database, frame: pd.DataFrame) -> None:
    actual = stored_rollups(database, sorted(set(frame["sensor_id"])))
    expected = expected_rollups(frame.assign(ts=frame["ts"].dt.as_unit("ns")))
    assert list(actual.index) == list(expected.index)
    for column in ("n", "min_value", "max_value", "first_ts", "last_ts"):
        assert list(actual[column]) == list(expected[column]), column
    # Sums are added in another order by each database: equal to rounding.
    np.testing.assert_allclose(actual["sum_value"], expected["sum_value"], rtol=1e-12)


def in_range(frame: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    return frame[(frame["ts"] >= start) & (frame["ts"] < end)]


# -- rollups --------------------------------------------------------------------------------


def test_rollups_equal_a_pandas_groupby_of_the_readings(shared_db: Database) -> None:
    plant = add_plant(shared_db, 2, name="Groupby Farm")
    # Awkward instants: every 7 min 13.123457 s, so hours hold 8 or 9 readings and none
    # falls on the hour.
    step = timedelta(minutes=7, seconds=13, microseconds=123_457)
    frame = pd.concat([readings(plant.sensor_ids[0], utc(2024, 3, 1, 10, 3), 200, step, seed=1),
                       readings(plant.sensor_ids[1], utc(2024, 3, 1, 22, 59, 59), 50, step,
                                seed=2)])
    write_sensor_readings(shared_db.sensors_engine, frame)

    written = refresh_rollups(shared_db, plant.sensor_ids)

    assert written == len(expected_rollups(frame))
    assert_rollups_match(shared_db, frame)


def test_a_second_refresh_changes_nothing(shared_db: Database) -> None:
    plant = add_plant(shared_db, 1, name="Idempotent Farm")
    frame = readings(plant.sensor_ids[0], utc(2024, 3, 1), 600, timedelta(minutes=1))
    write_sensor_readings(shared_db.sensors_engine, frame)
    first = refresh_rollups(shared_db, plant.sensor_ids)
    before = stored_rollups(shared_db, plant.sensor_ids)

    again = refresh_rollups(shared_db, plant.sensor_ids)

    assert again == first == 10
    pd.testing.assert_frame_equal(stored_rollups(shared_db, plant.sensor_ids), before)


def test_a_refresh_since_a_time_recomputes_that_whole_hour_and_later_ones(
    shared_db: Database,
) -> None:
    plant = add_plant(shared_db, 1, name="Since Farm")
    sensor = plant.sensor_ids[0]
    old = readings(sensor, utc(2024, 3, 1), 150, timedelta(minutes=1))  # 00:00 to 02:29
    write_sensor_readings(shared_db.sensors_engine, old)
    refresh_rollups(shared_db, [sensor])
    # The rest of hour 02 arrives, with a correction of its first reading, and hour 03.
    new = readings(sensor, utc(2024, 3, 1, 2, 30), 90, timedelta(minutes=1), seed=9)
    correction = pd.DataFrame({"sensor_id": [sensor], "ts": [pd.Timestamp(utc(2024, 3, 1, 2))],
                               "value": [1000.0]})
    write_sensor_readings(shared_db.sensors_engine, pd.concat([new, correction]))

    written = refresh_rollups(shared_db, [sensor], since=utc(2024, 3, 1, 2, 30))

    assert written == 2  # hours 02 and 03, from the start of the hour 02:30 falls in
    everything = pd.concat([old[old["ts"] != pd.Timestamp(utc(2024, 3, 1, 2))], new, correction])
    assert_rollups_match(shared_db, everything)


def test_no_readings_write_no_rollups(db: Database) -> None:
    plant = add_plant(db, 1)
    assert refresh_rollups(db, plant.sensor_ids) == 0
    assert refresh_rollups(db, []) == 0


def test_twin_rollups_refresh_rebuilds_an_assets_rollups(db: Database, tmp_path: Path) -> None:
    plant = add_plant(db, 2)
    other = add_plant(db, 1, name="Other Farm")
    frame = readings(plant.sensor_ids[0], utc(2024, 3, 1), 180, timedelta(minutes=1))
    write_sensor_readings(db.sensors_engine, pd.concat(
        [frame, readings(other.sensor_ids[0], utc(2024, 3, 1), 60, timedelta(minutes=1))]))

    result = CliRunner().invoke(main, ["rollups", "refresh", "--asset", str(plant.asset_id)],
                                env={"TWIN_HOME": str(tmp_path)}, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert "refreshed 3 hourly rollups of 2 sensors" in result.output
    assert_rollups_match(db, frame)
    assert stored_rollups(db, other.sensor_ids).empty


# -- the hour bucket in each database's SQL ----------------------------------------------------


def test_the_hour_bucket_compiles_for_each_database() -> None:
    query = rollup_query([1, 2], since=utc(2024, 1, 1))

    sql_server = str(query.compile(dialect=mssql.dialect()))
    pg = str(query.compile(dialect=postgresql.dialect()))
    lite = str(query.compile(dialect=sqlite.dialect()))

    # The same text in the select list and GROUP BY, which SQL Server and PostgreSQL require.
    assert sql_server.count("DATEADD(hour, DATEDIFF(hour, 0, sensor_readings.ts), 0)") == 2
    assert pg.count("date_trunc('hour', sensor_readings.ts)") == 2
    assert lite.count("strftime('%Y-%m-%d %H:00:00', sensor_readings.ts)") == 2


def test_the_hour_bucket_of_a_calculation_compiles_for_sql_server() -> None:
    query = select(hour_bucket(Calculation.ts)).group_by(hour_bucket(Calculation.ts))
    assert "DATEADD(hour, DATEDIFF(hour, 0, calculations.ts), 0)" in str(
        query.compile(dialect=mssql.dialect()))


# -- load_series over a year --------------------------------------------------------------


@dataclass(frozen=True)
class Year:
    db: Database
    sensor_id: int
    frame: pd.DataFrame
    spike_at: pd.Timestamp
    dip_at: pd.Timestamp


@pytest.fixture(scope="module")
def year(shared_db: Database) -> Year:
    """A year of 5-minute readings (105,120) with one spike and one dip, rolled up."""
    plant = add_plant(shared_db, 1, name="Year Farm")
    frame = readings(plant.sensor_ids[0], YEAR_START, 365 * 288, FIVE_MINUTES)
    spike, dip = 100_000, 70_001
    frame.loc[spike, "value"] = 500.0
    frame.loc[dip, "value"] = -400.0
    write_sensor_readings(shared_db.sensors_engine, frame)
    refresh_rollups(shared_db, plant.sensor_ids)
    return Year(shared_db, plant.sensor_ids[0], frame, frame["ts"][spike], frame["ts"][dip])


@pytest.mark.parametrize("max_points", [2000, 500, 3])
def test_a_year_is_read_from_rollups_in_at_most_max_points(year: Year, max_points: int) -> None:
    result = load_series(year.db, year.sensor_id, YEAR_START, YEAR_START + 365 * DAY,
                         max_points=max_points)

    assert result.resolution == "hour" and result.downsampled
    assert len(result.ts) == len(result.values) == max_points
    assert result.raw_points == len(year.frame)
    assert str(result.ts.tz) == "UTC" and result.ts.is_monotonic_increasing
    assert result.values.dtype == np.float64


def test_a_single_spike_and_dip_in_a_year_stay_visible(year: Year) -> None:
    result = load_series(year.db, year.sensor_id, YEAR_START, YEAR_START + 365 * DAY)

    assert result.values.max() == 500.0 and result.values.min() == -400.0
    # Placed within the hour they happened in (the rollups keep no finer time).
    assert abs(result.ts[result.values.argmax()] - year.spike_at) < HOUR
    assert abs(result.ts[result.values.argmin()] - year.dip_at) < HOUR


def test_a_day_is_read_raw_and_exactly(year: Year) -> None:
    start = YEAR_START + 200 * DAY
    result = load_series(year.db, year.sensor_id, start, start + DAY)

    expected = in_range(year.frame, start, start + DAY)
    assert (result.resolution, result.downsampled, result.raw_points) == ("raw", False, 288)
    assert list(result.ts) == list(expected["ts"])
    assert result.values.tolist() == expected["value"].tolist()


def test_a_raw_range_with_more_points_than_wanted_is_cut_keeping_its_extremes(year: Year) -> None:
    start = year.spike_at.floor("D").to_pydatetime()
    result = load_series(year.db, year.sensor_id, start, start + DAY, max_points=50)

    assert (result.resolution, result.downsampled, len(result)) == ("raw", True, 50)
    assert result.values.max() == 500.0 and result.ts[result.values.argmax()] == year.spike_at


def test_a_long_range_not_on_hour_boundaries_holds_exactly_its_readings(year: Year) -> None:
    start = YEAR_START + 10 * DAY + timedelta(minutes=17, seconds=30)
    end = YEAR_START + 200 * DAY + timedelta(hours=3, minutes=2)

    result = load_series(year.db, year.sensor_id, start, end)

    expected = in_range(year.frame, start, end)
    assert result.resolution == "hour"
    assert result.raw_points == len(expected)
    # MinMaxLTTB keeps the first and last points: the partial hours at both ends are raw.
    assert (result.ts[0], result.ts[-1]) == (expected["ts"].iloc[0], expected["ts"].iloc[-1])


def test_a_range_without_readings_is_empty(year: Year) -> None:
    start = YEAR_START - 30 * DAY
    result = load_series(year.db, year.sensor_id, start, start + DAY)
    assert (len(result), result.raw_points, result.resolution) == (0, 0, "raw")
    assert str(result.ts.tz) == "UTC"


def test_readings_newer_than_the_rollups_are_included(shared_db: Database) -> None:
    plant = add_plant(shared_db, 1, name="Tail Farm")
    sensor = plant.sensor_ids[0]
    start = utc(2024, 1, 1)
    # 100 days of 5-minute readings ending at 10:25 on the last day: its last hour half full.
    old = readings(sensor, start, 100 * 288 - 162, FIVE_MINUTES)
    write_sensor_readings(shared_db.sensors_engine, old)
    refresh_rollups(shared_db, [sensor])
    # Readings after the refresh: the rest of that hour and two more, with a spike in them.
    new = readings(sensor, old["ts"].iloc[-1] + FIVE_MINUTES, 31, FIVE_MINUTES, seed=4)
    new.loc[3, "value"] = 900.0
    write_sensor_readings(shared_db.sensors_engine, new)

    result = load_series(shared_db, sensor, start, start + 200 * DAY)

    assert result.resolution == "hour"
    assert result.raw_points == len(old) + len(new)
    assert result.ts[-1] == new["ts"].iloc[-1]
    assert result.values.max() == 900.0 and result.ts[result.values.argmax()] == new["ts"][3]


def test_rollups_far_behind_show_the_newest_readings_and_say_so(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    plant = add_plant(db, 1)
    sensor = plant.sensor_ids[0]
    start = utc(2024, 1, 1)
    old = readings(sensor, start, 3 * 288, FIVE_MINUTES)
    write_sensor_readings(db.sensors_engine, old)
    refresh_rollups(db, [sensor])
    new = readings(sensor, start + 3 * DAY, 100, FIVE_MINUTES, seed=3)
    write_sensor_readings(db.sensors_engine, new)
    monkeypatch.setattr(series, "RAW_LIMIT", 100)
    monkeypatch.setattr(series, "TAIL_LIMIT", 10)

    result = load_series(db, sensor, start, start + 10 * DAY)

    assert result.resolution == "hour"
    assert list(result.ts[-10:]) == list(new["ts"][-10:])
    assert f"rollups of sensor {sensor} are more than 10 readings behind" in caplog.text


def test_unusable_arguments_are_refused(db: Database) -> None:
    naive = datetime(2024, 1, 1)
    with pytest.raises(ValueError, match="naive start"):
        load_series(db, 1, naive, utc(2024, 1, 2))
    with pytest.raises(ValueError, match="is not after"):
        load_series(db, 1, utc(2024, 1, 2), utc(2024, 1, 1))
    with pytest.raises(ValueError, match="max_points"):
        load_series(db, 1, utc(2024, 1, 1), utc(2024, 1, 2), max_points=2)
    with pytest.raises(ValueError, match="naive after"):
        load_tail(db, 1, naive)


# -- load_tail ------------------------------------------------------------------------------


def test_the_tail_is_the_readings_after_a_time_oldest_first_in_pages(any_db: Database) -> None:
    plant = add_plant(any_db, 1)
    sensor = plant.sensor_ids[0]
    frame = readings(sensor, utc(2024, 3, 1), 30, timedelta(seconds=10))
    write_sensor_readings(any_db.sensors_engine, frame)
    after = frame["ts"][9].to_pydatetime()

    page = load_tail(any_db, sensor, after, limit=15)
    rest = load_tail(any_db, sensor, page.ts[-1].to_pydatetime(), limit=15)

    assert list(page.ts) == list(frame["ts"][10:25]) and page.values.tolist() == frame["value"][10:25].tolist()
    assert list(rest.ts) == list(frame["ts"][25:])
    assert len(load_tail(any_db, sensor, rest.ts[-1].to_pydatetime())) == 0


# -- the pipeline keeps rollups fresh, and calculations ------------------------------------------


def test_each_calculate_run_refreshes_the_rollups_of_the_hours_it_read(
    db: Database, settings: Settings
) -> None:
    plant = add_plant(db, [spec.name for spec in DRIVETRAIN.sensors], asset_type="drivetrain")
    t0 = utc(2024, 3, 1)
    first = write_readings(db, plant, t0, t0 + DAY)
    calculate(db, settings, plant.asset_id)
    second = write_readings(db, plant, t0 + DAY, t0 + DAY + 2 * HOUR, seed=6)

    summary = calculate(db, settings, plant.asset_id)

    assert summary.details["rollup_rows"] == 3 * 3  # the watermark's hour (23:00) and two new
    wide = pd.concat([first, second])
    long = pd.concat(
        pd.DataFrame({"sensor_id": sensor_id, "ts": wide.index, "value": wide[name].to_numpy()})
        for sensor_id, name in zip(plant.sensor_ids, wide.columns, strict=True))
    assert_rollups_match(db, long)


def test_a_calculation_is_read_raw_for_short_ranges_and_hourly_for_long_ones(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant = add_plant(db, [spec.name for spec in DRIVETRAIN.sensors], asset_type="drivetrain")
    t0 = utc(2024, 3, 1)
    write_readings(db, plant, t0, t0 + DAY)
    calculate(db, settings, plant.asset_id)
    with db.Session() as session:
        stored = session.execute(
            select(Calculation.ts, Calculation.value)
            .where(Calculation.asset_id == plant.asset_id, Calculation.name == "destruction_rate")
            .order_by(Calculation.ts)).all()

    raw = load_calculation(db, plant.asset_id, "destruction_rate", t0, t0 + DAY)
    # A day counts as long when the raw limit is 100 readings (a year's worth in production).
    monkeypatch.setattr(series, "RAW_LIMIT", 100)
    hourly = load_calculation(db, plant.asset_id, "destruction_rate", t0, t0 + DAY, max_points=30)

    assert (raw.resolution, raw.raw_points, len(raw)) == ("raw", 1440, 1440)
    assert raw.values.tolist() == [value for _, value in stored]
    assert (hourly.resolution, hourly.raw_points, len(hourly)) == ("hour", 1440, 30)
    values = [value for _, value in stored]
    assert (hourly.values.max(), hourly.values.min()) == (max(values), min(values))


# -- calculation rollups -----------------------------------------------------------------------


def stored_calculation_rollups(database: Database, asset_id: int) -> pd.DataFrame:
    with database.Session() as session:
        rows = session.execute(
            select(CalculationRollup.name, CalculationRollup.bucket, CalculationRollup.n,
                   CalculationRollup.min_value, CalculationRollup.max_value, CalculationRollup.sum_value)
            .where(CalculationRollup.asset_id == asset_id)).all()
    frame = pd.DataFrame(rows, columns=["name", "bucket", "n", "min", "max", "sum"])
    frame["bucket"] = pd.to_datetime(frame["bucket"], utc=True)
    return frame.sort_values(["name", "bucket"]).reset_index(drop=True)


def calculations_by_hour(database: Database, asset_id: int) -> pd.DataFrame:
    """The reference: a pandas groupby of the stored calculations by name and UTC hour."""
    with database.Session() as session:
        rows = session.execute(select(Calculation.name, Calculation.ts, Calculation.value)
                               .where(Calculation.asset_id == asset_id)).all()
    frame = pd.DataFrame(rows, columns=["name", "ts", "value"])
    frame["bucket"] = pd.to_datetime(frame["ts"], utc=True).dt.floor("h")
    grouped = frame.groupby(["name", "bucket"])["value"].agg(["count", "min", "max", "sum"]).reset_index()
    return grouped.rename(columns={"count": "n"})[["name", "bucket", "n", "min", "max", "sum"]]


def test_each_calculate_run_refreshes_the_rollups_of_the_calculations_it_stored(
    db: Database, settings: Settings
) -> None:
    plant = add_plant(db, [spec.name for spec in DRIVETRAIN.sensors], asset_type="drivetrain")
    t0 = utc(2024, 3, 1)
    write_readings(db, plant, t0, t0 + timedelta(hours=5, minutes=30))
    calculate(db, settings, plant.asset_id)
    write_readings(db, plant, t0 + timedelta(hours=5, minutes=30), t0 + timedelta(hours=9))
    summary = calculate(db, settings, plant.asset_id)

    expected = calculations_by_hour(db, plant.asset_id)
    stored = stored_calculation_rollups(db, plant.asset_id)
    assert len(stored) == 2 * 9  # two calculations, nine hours, the half hour completed
    pd.testing.assert_frame_equal(stored[["name", "bucket", "n"]], expected[["name", "bucket", "n"]],
                                  check_dtype=False)
    for column in ("min", "max", "sum"):
        np.testing.assert_allclose(stored[column], expected[column], rtol=1e-12)
    assert summary.details["calculation_rollup_rows"] == 2 * 4  # 05:00 (refreshed whole) to 08:00


def test_a_long_range_of_a_calculation_is_read_from_its_rollups(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant = add_plant(db, [spec.name for spec in DRIVETRAIN.sensors], asset_type="drivetrain")
    t0 = utc(2024, 3, 1)
    write_readings(db, plant, t0, t0 + DAY)
    calculate(db, settings, plant.asset_id)
    monkeypatch.setattr(series, "RAW_LIMIT", 100)  # a day counts as long
    before = load_calculation(db, plant.asset_id, "accumulated_destruction", t0, t0 + DAY, max_points=60)
    # With the stored values of 03:00-20:59 gone, only the rollups still know those hours.
    with db.engine.begin() as conn:
        conn.execute(Calculation.__table__.delete().where(
            Calculation.asset_id == plant.asset_id, Calculation.ts >= t0 + timedelta(hours=3),
            Calculation.ts < t0 + timedelta(hours=21)))
    after = load_calculation(db, plant.asset_id, "accumulated_destruction", t0, t0 + DAY, max_points=60)

    assert (after.resolution, after.raw_points) == ("hour", 1440)
    np.testing.assert_allclose(after.values, before.values, rtol=1e-12)
    assert np.all(np.diff(after.values) >= 0)  # wear only grows, hour by hour too


def test_upgrading_makes_the_rollups_of_calculations_already_stored(settings: Settings) -> None:
    from app.db.migrate import upgrade

    database = Database(settings)
    upgrade(database.engine, "0008")
    plant = add_plant(database, [spec.name for spec in DRIVETRAIN.sensors], asset_type="drivetrain")
    t0 = utc(2024, 3, 1)
    stamps = pd.date_range(t0, periods=150, freq="1min")
    with database.engine.begin() as conn:
        conn.execute(Calculation.__table__.insert(), [
            {"asset_id": plant.asset_id, "name": "destruction_rate", "ts": ts.to_pydatetime(), "value": float(i)}
            for i, ts in enumerate(stamps)])
    upgrade(database.engine)
    stored = stored_calculation_rollups(database, plant.asset_id)
    assert stored["n"].tolist() == [60, 60, 30]
    assert stored["sum"].tolist() == [sum(range(60)), sum(range(60, 120)), sum(range(120, 150))]
    assert stored["bucket"].tolist() == [pd.Timestamp(t0 + timedelta(hours=h)) for h in range(3)]
    database.engine.dispose()


def test_a_series_read_once_is_thinned_for_a_narrower_plot_keeping_its_extremes() -> None:
    ts = pd.date_range("2026-01-01", periods=2000, freq="1min", tz="UTC")
    values = np.sin(np.arange(2000) / 50.0)
    values[777], values[1500] = 9.0, -9.0
    read = series.Series(pd.DatetimeIndex(ts), values, 2000, "raw", False)
    thin = series.thinned(read, 800)
    assert len(thin) <= 800 and thin.downsampled and thin.raw_points == 2000
    assert thin.values.max() == 9.0 and thin.values.min() == -9.0
    assert thin.ts.is_monotonic_increasing and thin.ts[0] == ts[0] and thin.ts[-1] == ts[-1]
    assert series.thinned(read, 2000) is read  # nothing to cut
