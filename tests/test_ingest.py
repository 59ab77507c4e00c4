"""The bulk path for sensor readings: exact, idempotent on (sensor, ts), chunked, transactional.

Most tests run on the embedded SQLite and on live PostgreSQL (``any_db``); the COPY fast path,
the merge path and the race fallback are PostgreSQL's own.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from sqlalchemy import select

import app.ingest
from app.db import Database
from app.db.models import SensorReading
from app.generator import SignalSpec, generate_chunks
from app.ingest import IngestError, IngestResult, write_sensor_readings
from tests.conftest import add_plant, utc
from tests.sensor_data import (
    INTEGRITY_ERRORS,
    T0,
    Row,
    assert_rows_equal,
    count,
    frame,
    rows_for,
    stored,
)

# -- exact round trip -----------------------------------------------------------------------


def test_readings_round_trip_exactly_through_the_orm(any_db: Database) -> None:
    plant = add_plant(any_db)
    rows = rows_for(plant.sensor_ids[0], 16) + rows_for(plant.sensor_ids[1], 16, offset=0.5)

    result = write_sensor_readings(any_db.engine, frame(rows))

    assert result == IngestResult(rows=32, chunks=1, merged_chunks=0)
    back = stored(any_db)
    assert_rows_equal(back, rows)
    assert any(t.microsecond for _, t, _ in back)  # the instants really carry microseconds


def test_timestamps_of_another_zone_are_stored_as_the_same_utc_instant(db: Database) -> None:
    sensor = add_plant(db, 1).sensor_ids[0]
    paris = timezone(timedelta(hours=2))
    local = pd.DataFrame(
        {
            "sensor_id": [sensor],
            "ts": pd.DatetimeIndex([datetime(2024, 6, 1, 14, 30, 0, 250, tzinfo=paris)]),
            "value": [1.5],
        }
    )

    write_sensor_readings(db.engine, local)

    assert stored(db) == [(sensor, utc(2024, 6, 1, 12, 30, 0, 250), 1.5)]


def test_orm_range_queries_find_bulk_written_rows_with_exact_bounds(any_db: Database) -> None:
    # SQLite compares ts as text: the bulk path must write the ORM's exact format
    sensor = add_plant(any_db, 1).sensor_ids[0]
    rows = rows_for(sensor, 10, step=timedelta(seconds=1))  # whole seconds: '.000000' matters
    write_sensor_readings(any_db.engine, frame(rows))

    with any_db.Session() as session:
        found = session.scalars(
            select(SensorReading.ts)
            .where(SensorReading.sensor_id == sensor)
            .where(SensorReading.ts >= rows[2][1], SensorReading.ts < rows[7][1])
            .order_by(SensorReading.ts)
        ).all()

    assert found == [r[1] for r in rows[2:7]]


def test_a_reading_first_written_by_the_orm_is_updated_not_duplicated(any_db: Database) -> None:
    sensor = add_plant(any_db, 1).sensor_ids[0]
    when = utc(2024, 3, 1, 12, 0, 0, 500)
    with any_db.Session() as session, session.begin():
        session.add(SensorReading(sensor_id=sensor, ts=when, value=1.0))

    write_sensor_readings(any_db.engine, frame([(sensor, when, 2.0)]))

    assert stored(any_db) == [(sensor, when, 2.0)]


# -- idempotence ----------------------------------------------------------------------------


def test_resending_the_same_rows_changes_and_duplicates_nothing(any_db: Database) -> None:
    sensor = add_plant(any_db, 1).sensor_ids[0]
    rows = rows_for(sensor, 24)
    write_sensor_readings(any_db.engine, frame(rows))
    before = stored(any_db)

    again = write_sensor_readings(any_db.engine, frame(rows))

    assert again.rows == 24
    assert count(any_db) == 24
    assert_rows_equal(stored(any_db), before)


def test_resending_with_changed_values_updates_them_the_latest_wins(any_db: Database) -> None:
    sensor = add_plant(any_db, 1).sensor_ids[0]
    first = rows_for(sensor, 10)
    write_sensor_readings(any_db.engine, frame(first))
    # a correction of the last 5 plus 5 new readings
    corrected = [(i, t, v + 1000.25) for i, t, v in rows_for(sensor, 15)[5:]]

    write_sensor_readings(any_db.engine, frame(corrected))

    assert_rows_equal(stored(any_db), first[:5] + corrected)


def test_duplicates_of_sensor_and_ts_inside_one_frame_keep_the_last(any_db: Database) -> None:
    sensor = add_plant(any_db, 1).sensor_ids[0]
    t1, t2 = T0, T0 + timedelta(minutes=1)
    rows = [(sensor, t1, 1.0), (sensor, t2, 2.0), (sensor, t1, 3.0), (sensor, t1, 4.0)]

    result = write_sensor_readings(any_db.engine, frame(rows))

    assert result.rows == 2
    assert stored(any_db) == [(sensor, t1, 4.0), (sensor, t2, 2.0)]


def test_duplicates_split_across_chunks_also_keep_the_last(any_db: Database) -> None:
    sensor = add_plant(any_db, 1).sensor_ids[0]
    rows = [(sensor, T0, 1.0), (sensor, T0 + timedelta(minutes=1), 2.0), (sensor, T0, 3.0)]

    write_sensor_readings(any_db.engine, frame(rows), chunk_rows=2)

    assert stored(any_db) == [(sensor, T0, 3.0), (sensor, T0 + timedelta(minutes=1), 2.0)]


# -- chunking and progress ------------------------------------------------------------------


def test_chunking_stores_the_same_rows_and_counts_the_chunks(any_db: Database) -> None:
    plant = add_plant(any_db, 4)
    expected: list[Row] = []
    for sensor, (chunk_rows, chunks) in zip(plant.sensor_ids, [(3, 4), (5, 2), (10, 1), (1000, 1)]):
        rows = rows_for(sensor, 10)
        expected += rows

        result = write_sensor_readings(any_db.engine, frame(rows), chunk_rows=chunk_rows)

        assert (result.rows, result.chunks) == (10, chunks), chunk_rows
    assert_rows_equal(stored(any_db), expected)


def test_an_iterable_of_frames_is_chunked_frame_by_frame(any_db: Database) -> None:
    plant = add_plant(any_db)
    first, second = rows_for(plant.sensor_ids[0], 7), rows_for(plant.sensor_ids[1], 5)

    result = write_sensor_readings(
        any_db.engine, iter([frame(first), frame([]), frame(second)]), chunk_rows=4
    )

    assert (result.rows, result.chunks) == (12, 4)  # 4+3, nothing for the empty frame, 4+1
    assert_rows_equal(stored(any_db), first + second)


def test_generated_series_ingest_in_chunks_and_resend_idempotently(any_db: Database) -> None:
    sensor = add_plant(any_db, 1).sensor_ids[0]
    spec = SignalSpec(minimum=0.0, amplitude=3000.0, cycles_per_day=4, noise_pct=3.0)

    def chunks() -> Any:
        return generate_chunks(spec, sensor, T0, T0 + timedelta(days=3), timedelta(minutes=1),
                               seed=1, chunk_rows=1000)

    first = write_sensor_readings(any_db.engine, chunks(), chunk_rows=1500)
    again = write_sensor_readings(any_db.engine, chunks(), chunk_rows=1500)

    expected = pd.concat(list(chunks()), ignore_index=True)
    assert first.rows == again.rows == count(any_db) == len(expected) == 4320
    assert first.chunks == 5  # five 1000-row frames, each under chunk_rows
    back = stored(any_db)
    assert [v for _, _, v in back] == expected["value"].tolist()
    assert [t for _, t, _ in back] == expected["ts"].dt.to_pydatetime().tolist()


def test_progress_is_called_with_the_row_count_of_each_chunk(db: Database) -> None:
    sensor = add_plant(db, 1).sensor_ids[0]
    rows = rows_for(sensor, 10)
    calls: list[int] = []

    write_sensor_readings(db.engine, frame(rows), chunk_rows=4, progress=calls.append)

    assert calls == [4, 4, 2]


def test_progress_counts_rows_written_after_in_chunk_duplicates_are_dropped(db: Database) -> None:
    sensor = add_plant(db, 1).sensor_ids[0]
    rows = [(sensor, T0, 1.0), (sensor, T0, 2.0), (sensor, T0 + timedelta(seconds=1), 3.0)]
    calls: list[int] = []

    result = write_sensor_readings(db.engine, frame(rows), progress=calls.append)

    assert calls == [2] and result.rows == 2


def test_an_empty_frame_writes_nothing_and_reports_no_chunk(db: Database) -> None:
    result = write_sensor_readings(db.engine, frame([]))

    assert result == IngestResult()
    assert count(db) == 0


# -- refusals -------------------------------------------------------------------------------


def refused_frames(sensor: int) -> dict[str, pd.DataFrame]:
    good = frame([(sensor, T0, 1.0), (sensor, T0 + timedelta(seconds=1), 2.0)])
    naive = good.copy()
    naive["ts"] = naive["ts"].dt.tz_localize(None)
    cases = {
        "missing value column": good.drop(columns=["value"]),
        "missing ts column": good.drop(columns=["ts"]),
        "missing sensor_id column": good.drop(columns=["sensor_id"]),
        "naive ts": naive,
    }
    for label, bad in [("NaN", math.nan), ("inf", math.inf), ("-inf", -math.inf),
                       ("None", None), ("non-numeric string", "12,5 bar")]:
        broken = good.astype({"value": object})
        broken.loc[1, "value"] = bad
        cases[f"{label} value"] = broken
    return cases


@pytest.mark.parametrize(
    "case",
    ["missing value column", "missing ts column", "missing sensor_id column", "naive ts",
     "NaN value", "inf value", "-inf value", "None value", "non-numeric string value"],
)
def test_unstorable_rows_raise_ingest_error_and_store_nothing(db: Database, case: str) -> None:
    # validation runs before any database work, the same for every dialect: SQLite suffices
    sensor = add_plant(db, 1).sensor_ids[0]
    bad = refused_frames(sensor)[case]

    with pytest.raises(IngestError):
        write_sensor_readings(db.engine, bad)

    assert count(db) == 0


def test_the_refusal_message_names_the_missing_column(db: Database) -> None:
    sensor = add_plant(db, 1).sensor_ids[0]
    with pytest.raises(IngestError, match=r"missing \['value'\]"):
        write_sensor_readings(db.engine, refused_frames(sensor)["missing value column"])


def test_the_refusal_message_says_which_row_has_no_finite_value(db: Database) -> None:
    sensor = add_plant(db, 1).sensor_ids[0]
    expected = r"1 reading\(s\) have no finite value \(first at row 1\)"
    with pytest.raises(IngestError, match=expected):
        write_sensor_readings(db.engine, refused_frames(sensor)["NaN value"])


def test_the_refused_row_is_counted_across_chunks_and_frames(db: Database) -> None:
    sensor = add_plant(db, 1).sensor_ids[0]
    good = frame(rows_for(sensor, 7))
    bad = frame(rows_for(sensor, 5, start=T0 + timedelta(days=1)))
    bad.loc[3, "value"] = float("nan")
    with pytest.raises(IngestError, match=r"first at row 10\)"):  # 7 + 3, in the 3rd chunk
        write_sensor_readings(db.engine, [good, bad], chunk_rows=4)


# Regression: a NaT used to be stored on SQLite as the text 'Na ', after which every ORM read of
# the table failed; a None sensor_id became -2**63 and 1.5 became sensor 1 (the wrong sensor).
@pytest.mark.parametrize("case", ["NaT ts", "None sensor_id", "fractional sensor_id"])
def test_a_missing_timestamp_or_a_non_integer_sensor_id_is_refused(db: Database, case: str) -> None:
    sensors = add_plant(db, 2).sensor_ids
    bad = frame([(sensors[0], T0, 1.0), (sensors[1], T0, 2.0)])
    if case == "NaT ts":
        bad["ts"] = pd.DatetimeIndex([T0, pd.NaT])
    elif case == "None sensor_id":
        bad["sensor_id"] = [sensors[0], None]
    else:
        bad["sensor_id"] = [float(sensors[0]), sensors[0] + 0.5]

    with pytest.raises(IngestError):
        write_sensor_readings(db.engine, bad)

    assert count(db) == 0


def test_a_refusal_in_a_later_chunk_keeps_the_chunks_an_engine_already_committed(
    db: Database,
) -> None:
    # validation is per chunk (a stream is never held whole): earlier chunks are already stored
    sensor = add_plant(db, 1).sensor_ids[0]
    rows = rows_for(sensor, 4)
    bad = frame(rows).astype({"value": object})
    bad.loc[3, "value"] = math.nan

    with pytest.raises(IngestError):
        write_sensor_readings(db.engine, bad, chunk_rows=2)

    assert_rows_equal(stored(db), rows[:2])


def test_an_unknown_dialect_raises_not_implemented() -> None:
    target: Any = SimpleNamespace(dialect=SimpleNamespace(name="oracle"))
    with pytest.raises(NotImplementedError, match="oracle"):
        write_sensor_readings(target, frame([(1, T0, 1.0)]))


# -- transactions ---------------------------------------------------------------------------


def second_chunk_violates_the_foreign_key(sensor: int) -> pd.DataFrame:
    """Two good rows, then two rows of a sensor that does not exist (chunk_rows=2)."""
    return frame(rows_for(sensor, 2) + rows_for(987_654, 2))


def test_given_an_engine_each_chunk_commits_so_a_failing_chunk_keeps_the_earlier_ones(
    any_db: Database,
) -> None:
    sensor = add_plant(any_db, 1).sensor_ids[0]

    with pytest.raises(INTEGRITY_ERRORS):
        write_sensor_readings(any_db.engine, second_chunk_violates_the_foreign_key(sensor),
                              chunk_rows=2)

    assert_rows_equal(stored(any_db), rows_for(sensor, 2))


def test_given_a_connection_the_call_is_one_transaction_and_a_failing_chunk_rolls_back_all(
    any_db: Database,
) -> None:
    sensor = add_plant(any_db, 1).sensor_ids[0]

    with pytest.raises(INTEGRITY_ERRORS):
        with any_db.engine.begin() as conn:
            write_sensor_readings(conn, second_chunk_violates_the_foreign_key(sensor),
                                  chunk_rows=2)

    assert count(any_db) == 0


def test_given_a_connection_rows_are_invisible_until_the_caller_commits(any_db: Database) -> None:
    sensor = add_plant(any_db, 1).sensor_ids[0]
    rows = rows_for(sensor, 6)

    with any_db.engine.begin() as conn:
        result = write_sensor_readings(conn, frame(rows), chunk_rows=2)
        assert count(any_db) == 0  # another connection sees nothing yet

    assert result.chunks == 3
    assert_rows_equal(stored(any_db), rows)


# BUG (reported): the writers use the raw DBAPI connection, so SQLAlchemy never autobegins; with
# engine.connect() (commit-as-you-go) conn.commit() is then a no-op and the pool's reset rolls the
# rows back: they vanish without an error.
def test_given_a_connection_from_connect_the_callers_commit_keeps_the_rows(
    any_db: Database,
) -> None:
    sensor = add_plant(any_db, 1).sensor_ids[0]
    rows = rows_for(sensor, 3)

    with any_db.engine.connect() as conn:
        write_sensor_readings(conn, frame(rows))
        conn.commit()

    assert_rows_equal(stored(any_db), rows)


def test_given_a_connection_the_callers_rollback_discards_the_rows(any_db: Database) -> None:
    sensor = add_plant(any_db, 1).sensor_ids[0]

    with any_db.engine.connect() as conn:
        write_sensor_readings(conn, frame(rows_for(sensor, 3)))
        conn.rollback()

    assert count(any_db) == 0


# -- PostgreSQL: COPY fast path, merge path, race fallback ----------------------------------


@pytest.mark.postgres
def test_postgres_new_data_takes_the_copy_fast_path(pg_db: Database) -> None:
    plant = add_plant(pg_db)
    write_sensor_readings(pg_db.engine, frame(rows_for(plant.sensor_ids[0], 5)))

    # the same instants on another sensor, and later instants on the same one: both new
    other_sensor = write_sensor_readings(pg_db.engine, frame(rows_for(plant.sensor_ids[1], 5)))
    later = write_sensor_readings(
        pg_db.engine, frame(rows_for(plant.sensor_ids[0], 5, start=T0 + timedelta(hours=1)))
    )

    assert other_sensor.merged_chunks == 0 and later.merged_chunks == 0
    assert count(pg_db) == 15


@pytest.mark.postgres
def test_postgres_overlapping_data_takes_the_merge_path_per_chunk(pg_db: Database) -> None:
    sensor = add_plant(pg_db, 1).sensor_ids[0]
    rows = rows_for(sensor, 8)
    write_sensor_readings(pg_db.engine, frame(rows[:4]))
    resent = [(i, t, -v) for i, t, v in rows]

    # chunk 1 re-sends stored instants (merge); chunk 2 is new data (COPY)
    result = write_sensor_readings(pg_db.engine, frame(resent), chunk_rows=4)

    assert (result.chunks, result.merged_chunks) == (2, 1)
    assert_rows_equal(stored(pg_db), resent)


@pytest.mark.postgres
def test_postgres_merge_path_applies_inside_the_span_of_stored_rows(pg_db: Database) -> None:
    # a chunk whose span covers stored rows is merged even if none of its own instants clash
    sensor = add_plant(pg_db, 1).sensor_ids[0]
    write_sensor_readings(pg_db.engine, frame([(sensor, T0 + timedelta(seconds=30), 1.0)]))
    around = [(sensor, T0, 2.0), (sensor, T0 + timedelta(minutes=1), 3.0)]

    result = write_sensor_readings(pg_db.engine, frame(around))

    assert result.merged_chunks == 1
    assert [v for _, _, v in stored(pg_db)] == [2.0, 1.0, 3.0]


def pretend_nothing_overlaps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the overlap check miss stored rows, as when a concurrent writer lands them between
    the check and the COPY; returns a list that grows by one per check."""
    checks: list[int] = []

    def no_overlap(cursor: Any, chunk: pd.DataFrame) -> bool:
        checks.append(len(chunk))
        return False

    monkeypatch.setattr(app.ingest, "_pg_overlaps", no_overlap)
    return checks


@pytest.mark.postgres
def test_postgres_copy_hitting_a_racing_writers_rows_falls_back_to_the_merge(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    sensor = add_plant(pg_db, 1).sensor_ids[0]
    raced = rows_for(sensor, 6)[::2]  # the "concurrent writer's" rows
    write_sensor_readings(pg_db.engine, frame(raced))
    checks = pretend_nothing_overlaps(monkeypatch)
    ours = [(i, t, v + 7.5) for i, t, v in rows_for(sensor, 6)]

    result = write_sensor_readings(pg_db.engine, frame(ours))

    assert checks == [6]  # the COPY really was attempted
    assert (result.rows, result.chunks, result.merged_chunks) == (6, 1, 1)
    assert_rows_equal(stored(pg_db), ours)


@pytest.mark.postgres
def test_postgres_race_fallback_inside_a_connection_keeps_the_earlier_chunks_of_the_transaction(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the failed COPY is undone to a savepoint, not by aborting the caller's transaction
    sensor = add_plant(pg_db, 1).sensor_ids[0]
    rows = rows_for(sensor, 6)
    write_sensor_readings(pg_db.engine, frame(rows[4:]))
    pretend_nothing_overlaps(monkeypatch)
    ours = [(i, t, -v) for i, t, v in rows]

    with pg_db.engine.begin() as conn:
        result = write_sensor_readings(conn, frame(ours), chunk_rows=2)

    assert (result.chunks, result.merged_chunks) == (3, 1)
    assert_rows_equal(stored(pg_db), ours)


@pytest.mark.postgres
def test_postgres_a_foreign_key_violation_in_the_copy_is_not_mistaken_for_a_race(
    pg_db: Database,
) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        write_sensor_readings(pg_db.engine, frame(rows_for(987_654, 2)))
    assert count(pg_db) == 0


@pytest.mark.postgres
def test_postgres_copy_text_keeps_every_float_bit(pg_db: Database) -> None:
    sensor = add_plant(pg_db, 1).sensor_ids[0]
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.normal(0, 1e6, 500), rng.uniform(-1, 1, 500) * 1e-200])
    rows = [(sensor, T0 + timedelta(seconds=k), float(v)) for k, v in enumerate(values)]

    write_sensor_readings(pg_db.engine, frame(rows))

    assert_rows_equal(stored(pg_db), rows)
