"""Sensor-reading fixtures shared by the bulk-path tests: awkward rows, frames, read-back."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
import psycopg
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.db import Database
from app.db.models import SensorReading
from tests.conftest import utc

Row = tuple[int, datetime, float]

T0 = utc(2024, 3, 1, 12)
#: values whose shortest repr is long, tiny, huge or subnormal: any text path that rounds loses them
AWKWARD_FLOATS = (
    0.1 + 0.2,
    1 / 3,
    -1234.5678901234567,
    math.pi * 1e-300,
    5e-324,
    1.7976931348623157e308,
    float(2**53 + 2),
    123456.0,
)
#: what a foreign-key violation raised from the raw driver cursor looks like on each database
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError, IntegrityError)


def frame(rows: Sequence[Row]) -> pd.DataFrame:
    """A readings frame as callers build it (tz-aware ``ts``)."""
    return pd.DataFrame(
        {
            "sensor_id": [r[0] for r in rows],
            "ts": pd.to_datetime([r[1] for r in rows], utc=True),
            "value": [r[2] for r in rows],
        }
    )


def rows_for(sensor_id: int, n: int, *, start: datetime = T0, step: timedelta | None = None,
             offset: float = 0.0) -> list[Row]:
    """``n`` readings of one sensor at awkward microsecond instants with awkward values."""
    step = step or timedelta(seconds=1, microseconds=123_457)
    return [
        (sensor_id, start + k * step, AWKWARD_FLOATS[k % len(AWKWARD_FLOATS)] + offset * (k + 1))
        for k in range(n)
    ]


def stored(database: Database) -> list[Row]:
    """Every reading, read back through the ORM model, in key order."""
    with database.Session() as session:
        readings = session.scalars(
            select(SensorReading).order_by(SensorReading.sensor_id, SensorReading.ts)
        )
        return [(r.sensor_id, r.ts, r.value) for r in readings]


def count(database: Database) -> int:
    with database.Session() as session:
        return session.scalar(select(func.count()).select_from(SensorReading)) or 0


def assert_rows_equal(actual: Sequence[Row], expected: Sequence[Row]) -> None:
    """Same ids, same instants to the microsecond, same float bits, all tz-aware UTC."""
    expected = sorted(expected, key=lambda r: (r[0], r[1]))
    assert [(i, t) for i, t, _ in actual] == [(i, t) for i, t, _ in expected]
    assert [v.hex() for _, _, v in actual] == [v.hex() for _, _, v in expected]
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for _, t, _ in actual)
