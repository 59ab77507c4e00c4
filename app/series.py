"""Time series for plots: a sensor or a calculation over any range, in at most ``max_points``.

A year of 1-minute readings is 525,600 rows a sensor: too many to read for a page, and far
more than a plot has pixels. So:

* :func:`refresh_rollups` keeps ``sensor_rollups`` (one row per sensor and UTC hour: count,
  min, max, sum, first and last reading time) in the main database, computed with one grouped
  query on the sensor source. The pipeline refreshes the hours it has just read after each
  ``calculate``; ``twin rollups refresh`` rebuilds any range.
* :func:`load_series` reads raw readings when the range holds few (a day, a week), and the
  hourly rollups plus the raw readings the rollups do not cover otherwise (the partial hour at
  the start of the range, and the live tail newer than the newest rollup). Either way the
  result is cut to ``max_points`` with MinMaxLTTB, which keeps every bin's extremes: a
  one-minute spike in a year of data is still on the plot.
* :func:`load_tail` reads the readings after a time, for live updates of an open plot.
* :func:`refresh_calculation_rollups` keeps ``calculation_rollups`` the same way for an
  asset's stored calculations (the pipeline refreshes the hours it has just calculated), and
  :func:`load_calculation` reads a calculation as :func:`load_series` reads a sensor.

Rollups only know what was stored when they were refreshed. Readings back-filled before the
newest rollup of a sensor (a late file import, ``twin generate`` of past history) appear in
long-range plots after ``twin rollups refresh``; short ranges read raw rows and see them at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import DateTime, Engine, String, func, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from tsdownsample import MinMaxLTTBDownsampler

from app.db import Database
from app.db.base import UTCDateTime
from app.db.models import Calculation, CalculationRollup, SensorReading, SensorRollup
from app.db.upsert import upsert

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)  # the resolution every database stores ts with
#: A range holding at most this many readings is read raw: about two weeks of 1-minute data,
#: which one indexed scan returns in a few milliseconds.
RAW_LIMIT = 20_000
#: At most this many raw readings newer than a sensor's newest rollup are read; more means the
#: rollups are far behind (the pipeline has not run), and the newest readings matter most.
TAIL_LIMIT = 20_000
#: Sensors per grouped query of :func:`refresh_rollups` (a year of one sensor is 8,760 rows).
REFRESH_SENSORS_PER_QUERY = 20
UPSERT_ROWS = 5_000
#: Spacing of calculations (one per sensor reading), to tell a short range from a long one.
NOMINAL_INTERVAL = timedelta(minutes=1)

Resolution = Literal["raw", "hour"]


@dataclass(frozen=True, eq=False)
class Series:
    """Points of one quantity in time order, ready for a plot.

    ``ts`` is a timezone-aware (UTC) :class:`pandas.DatetimeIndex`, so converting for display
    is one ``ts.tz_convert("Europe/London")``; ``values`` is a float64 array of the same length.
    ``raw_points`` is how many stored readings the series was built from (for an hourly series
    the rollups' counts plus the raw readings read around them). ``resolution`` is "raw" when
    every point is a stored reading, "hour" when the range was read from hourly rollups: each
    hour then gives two points, its minimum and its maximum (see :func:`envelope`).
    ``downsampled`` says whether MinMaxLTTB dropped points to fit ``max_points``.
    """

    ts: pd.DatetimeIndex
    values: np.ndarray
    raw_points: int
    resolution: Resolution
    downsampled: bool

    def __len__(self) -> int:
        return len(self.values)


# -- the hour-bucket expression -------------------------------------------------------------


class hour_bucket(FunctionElement[datetime]):  # lower case like the func.* constructs
    """The start of the UTC hour of a naive-UTC timestamp column, in each database's SQL.

    Rendered without bind parameters so that the same expression in SELECT and GROUP BY is
    the same text: PostgreSQL and SQL Server refuse a grouped query whose select list and
    GROUP BY differ only in parameter names.
    """

    type = UTCDateTime()
    name = "hour_bucket"
    inherit_cache = True


@compiles(hour_bucket)
def _hour_bucket_default(element: hour_bucket, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date_trunc('hour', {compiler.process(element.clauses, **kw)})"


@compiles(hour_bucket, "sqlite")
def _hour_bucket_sqlite(element: hour_bucket, compiler: SQLCompiler, **kw: Any) -> str:
    # The same text SQLAlchemy stores a DateTime as, so the bucket compares and parses like ts.
    return f"strftime('%Y-%m-%d %H:00:00', {compiler.process(element.clauses, **kw)})"


@compiles(hour_bucket, "mssql")
def _hour_bucket_mssql(element: hour_bucket, compiler: SQLCompiler, **kw: Any) -> str:
    # Whole hours since 1900-01-01 added back to it: SQL Server before 2022 has no DATE_TRUNC.
    return f"DATEADD(hour, DATEDIFF(hour, 0, {compiler.process(element.clauses, **kw)}), 0)"


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour ``moment`` falls in (UTC-aware)."""
    _require_aware(moment, "moment")
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    """The first UTC hour start at or after ``moment``."""
    floor = floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None:
        raise ValueError(f"naive {name} {moment!r}: pass a timezone-aware UTC time")


def _check_range(start: datetime, end: datetime, max_points: int) -> None:
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    if max_points < 3:  # MinMaxLTTB keeps the first and last point and at least one between
        raise ValueError(f"max_points must be at least 3, not {max_points}")


# -- refreshing rollups ---------------------------------------------------------------------


def rollup_query(sensor_ids: Sequence[int], since: datetime | None = None) -> Any:
    """The grouped query that computes rollup rows of ``sensor_ids`` from ``since`` (an hour
    start) on, on the sensor source."""
    bucket = hour_bucket(SensorReading.ts)
    query = (
        select(
            SensorReading.sensor_id,
            bucket.label("bucket"),
            func.count().label("n"),
            func.min(SensorReading.value).label("min_value"),
            func.max(SensorReading.value).label("max_value"),
            func.sum(SensorReading.value).label("sum_value"),
            func.min(SensorReading.ts).label("first_ts"),
            func.max(SensorReading.ts).label("last_ts"),
        )
        .where(SensorReading.sensor_id.in_(list(sensor_ids)))
        .group_by(SensorReading.sensor_id, bucket)
    )
    if since is not None:
        query = query.where(SensorReading.ts >= since)
    return query


def refresh_rollups(db: Database, sensor_ids: Iterable[int], since: datetime | None = None) -> int:
    """Recompute the hourly rollups of ``sensor_ids`` from the hour ``since`` falls in (every
    hour when ``None``) and upsert them into ``sensor_rollups``; returns the rows written.

    Each hour is recomputed whole from the stored readings, so a refresh is idempotent and a
    later one completes an hour that was still filling. One grouped query per
    :data:`REFRESH_SENSORS_PER_QUERY` sensors on the sensor source; the upsert commits per
    query on the main database.
    """
    ids = sorted(set(sensor_ids))
    begin = floor_hour(since) if since is not None else None
    table = SensorRollup.__table__
    written = 0
    for first in range(0, len(ids), REFRESH_SENSORS_PER_QUERY):
        chunk = ids[first:first + REFRESH_SENSORS_PER_QUERY]
        with db.sensors_engine.connect() as source:
            rows = [dict(row) for row in source.execute(rollup_query(chunk, begin)).mappings()]
        with db.engine.begin() as conn:
            for piece in range(0, len(rows), UPSERT_ROWS):
                written += upsert(conn, table, rows[piece:piece + UPSERT_ROWS],
                                  keys=["sensor_id", "bucket"])
    log.debug("refreshed %d rollup rows of %d sensors since %s", written, len(ids), begin)
    return written


def refresh_calculation_rollups(db: Database, asset_id: int, since: datetime | None = None) -> int:
    """Recompute the hourly rollups of the asset's calculations from the hour ``since`` falls in
    (every hour when ``None``) and upsert them into ``calculation_rollups``; returns the rows
    written. Calculations and their rollups are both in the main database: one grouped query
    and the upsert in one transaction."""
    bucket = hour_bucket(Calculation.ts)
    query = (
        select(Calculation.asset_id, Calculation.name, bucket.label("bucket"), func.count().label("n"),
               func.min(Calculation.value).label("min_value"), func.max(Calculation.value).label("max_value"),
               func.sum(Calculation.value).label("sum_value"), func.min(Calculation.ts).label("first_ts"),
               func.max(Calculation.ts).label("last_ts"))
        .where(Calculation.asset_id == asset_id)
        .group_by(Calculation.asset_id, Calculation.name, bucket)
    )
    if since is not None:
        query = query.where(Calculation.ts >= floor_hour(since))
    written = 0
    with db.engine.begin() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
        for piece in range(0, len(rows), UPSERT_ROWS):
            written += upsert(conn, CalculationRollup.__table__, rows[piece:piece + UPSERT_ROWS],
                              keys=["asset_id", "name", "bucket"])
    log.debug("refreshed %d calculation rollup rows of asset %d since %s", written, asset_id, since)
    return written


# -- reading --------------------------------------------------------------------------------


def _naive(column: Any, dialect: str) -> Any:
    """``column`` (a UTCDateTime) as the database returns it: text on SQLite, naive datetimes
    elsewhere. UTCDateTime converts each value in Python (about 2 us); the readers here convert
    a whole column at once with :func:`_epoch_ns`."""
    return type_coerce(column, String() if dialect == "sqlite" else DateTime())


def _epoch_ns(values: Sequence[Any]) -> np.ndarray:
    """Naive-UTC datetimes or their SQLite text as int64 nanoseconds since the epoch."""
    if not len(values):
        return np.empty(0, dtype=np.int64)
    return pd.to_datetime(list(values), format="ISO8601").as_unit("ns").asi8


@dataclass(frozen=True)
class _Source:
    """Where one series' raw points are: the engine, the time and value columns and the
    condition that picks the series' rows (its primary key prefix)."""

    engine: Engine
    ts: Any
    value: Any
    key: ColumnElement[bool]
    name: str  # for log messages


def _sensor_source(db: Database, sensor_id: int) -> _Source:
    return _Source(db.sensors_engine, SensorReading.ts, SensorReading.value,
                   SensorReading.sensor_id == sensor_id, f"sensor {sensor_id}")


def _read_raw(source: _Source, start: datetime, end: datetime | None, *,
              limit: int | None = None, newest: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(epoch ns, values) of the source's points in [start, end) (``end`` None: no end), oldest
    first: one indexed range scan. With ``limit``, only the oldest ``limit`` points, or the
    newest with ``newest``."""
    if end is not None and end <= start:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    query = (
        select(_naive(source.ts, source.engine.dialect.name), source.value)
        .where(source.key, source.ts >= start)
        .order_by(source.ts.desc() if newest else source.ts)
    )
    if end is not None:
        query = query.where(source.ts < end)
    if limit is not None:
        query = query.limit(limit)
    with source.engine.connect() as conn:
        rows = conn.execute(query).all()
    if newest:
        rows.reverse()
    stamps, values = zip(*rows) if rows else ((), ())
    return _epoch_ns(stamps), np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class Buckets:
    """Hourly summaries in time order, as arrays: the rows of ``sensor_rollups`` for one
    sensor, or the same aggregation done on the fly (times in epoch nanoseconds)."""

    n: np.ndarray
    min_value: np.ndarray
    max_value: np.ndarray
    sum_value: np.ndarray
    first_ns: np.ndarray
    last_ns: np.ndarray

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> Buckets:
        """From rows of (n, min, max, sum, first ts, last ts) as :func:`_naive` returns them."""
        n, low, high, total, first, last = zip(*rows) if rows else ((),) * 6
        return cls(np.asarray(n, dtype=np.int64), np.asarray(low, dtype=np.float64),
                   np.asarray(high, dtype=np.float64), np.asarray(total, dtype=np.float64),
                   _epoch_ns(first), _epoch_ns(last))

    @property
    def readings(self) -> int:
        return int(self.n.sum())


def _read_rollups(db: Database, sensor_id: int, start: datetime, end: datetime) -> Buckets:
    """The sensor's rollups of the whole hours in [start, end) (both hour starts)."""
    return _rollups(db, SensorRollup, SensorRollup.sensor_id == sensor_id, start, end)


def _rollups(db: Database, table: type[SensorRollup] | type[CalculationRollup], key: ColumnElement[bool],
             start: datetime, end: datetime) -> Buckets:
    """The rollups of ``table`` that ``key`` picks, of the whole hours in [start, end)."""
    if end <= start:
        return Buckets.from_rows([])
    dialect = db.engine.dialect.name
    r = table
    query = (
        select(r.n, r.min_value, r.max_value, r.sum_value, _naive(r.first_ts, dialect),
               _naive(r.last_ts, dialect))
        .where(key, r.bucket >= start, r.bucket < end)
        .order_by(r.bucket)
    )
    with db.engine.connect() as conn:
        return Buckets.from_rows(conn.execute(query).all())


def envelope(buckets: Buckets) -> tuple[np.ndarray, np.ndarray]:
    """Each hour as two points, its minimum and its maximum, in strictly increasing time.

    Rollups do not store when in the hour the extremes happened, so the first of the pair is
    placed at the hour's first reading and the second at its last. Which comes first follows
    the trend across the hour (the mean of the hour before against the hour after): min then
    max when rising, max then min when falling, so the line runs through the band without a
    zig-zag against the trend. An hour of one reading gives one point.
    """
    count = len(buckets.n)
    if count == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    mean = buckets.sum_value / buckets.n
    before = np.concatenate(([mean[0]], mean[:-1]))
    after = np.concatenate((mean[1:], [mean[-1]]))
    rising = after >= before
    ts = np.column_stack((buckets.first_ns, buckets.last_ns)).ravel()
    values = np.column_stack((np.where(rising, buckets.min_value, buckets.max_value),
                              np.where(rising, buckets.max_value, buckets.min_value))).ravel()
    keep = np.ones(2 * count, dtype=bool)
    keep[1::2] = buckets.n > 1  # first_ts == last_ts: one reading, one point
    return ts[keep], values[keep]


def downsample(ts_ns: np.ndarray, values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """At most ``max_points`` of the points, chosen by MinMaxLTTB (every bin's extremes are
    candidates, then largest-triangle-three-buckets picks the ones that shape the line);
    ``ts_ns`` must increase. Returns (ts, values, whether points were dropped)."""
    if len(values) <= max_points:
        return ts_ns, values, False
    index = MinMaxLTTBDownsampler().downsample(ts_ns, values, n_out=max_points)
    return ts_ns[index], values[index], True


def thinned(series: Series, max_points: int) -> Series:
    """``series`` cut to at most ``max_points`` by :func:`downsample` (what was read once for
    the widest plot, for a narrower one)."""
    if len(series) <= max_points:
        return series
    index = MinMaxLTTBDownsampler().downsample(series.ts.as_unit("ns").asi8, series.values, n_out=max_points)
    return replace(series, ts=series.ts[index], values=series.values[index], downsampled=True)


def _series(ts_ns: np.ndarray, values: np.ndarray, raw_points: int, resolution: Resolution,
            max_points: int | None) -> Series:
    dropped = False
    if max_points is not None:
        ts_ns, values, dropped = downsample(ts_ns, values, max_points)
    stamps = pd.DatetimeIndex(pd.to_datetime(ts_ns, unit="ns", utc=True))
    return Series(stamps, values, raw_points, resolution, dropped)


def _hourly(source: _Source, buckets: Buckets, start: datetime, end: datetime,
            first_bucket: datetime, max_points: int) -> Series:
    """The series from ``buckets`` (the whole hours from ``first_bucket``) and the raw points
    of [start, first_bucket) and of everything after the newest bucket's last reading."""
    head_ts, head_values = _read_raw(source, start, first_bucket)
    covered = pd.Timestamp(int(buckets.last_ns[-1]), unit="ns", tz="UTC").to_pydatetime()
    tail_ts, tail_values = _read_raw(source, covered + MICROSECOND, end, limit=TAIL_LIMIT,
                                     newest=True)
    if len(tail_ts) == TAIL_LIMIT:
        log.warning("the rollups of %s are more than %d readings behind; plots show the newest "
                    "%d (is the pipeline running? `twin rollups refresh` catches up)",
                    source.name, TAIL_LIMIT, TAIL_LIMIT)
    mid_ts, mid_values = envelope(buckets)
    ts = np.concatenate((head_ts, mid_ts, tail_ts))
    values = np.concatenate((head_values, mid_values, tail_values))
    raw = len(head_ts) + buckets.readings + len(tail_ts)
    return _series(ts, values, raw, "hour", max_points)


def load_series(db: Database, sensor_id: int, start: datetime, end: datetime, *,
                max_points: int = 2000) -> Series:
    """A sensor's readings in [start, end) as at most ``max_points`` points.

    The rollups of the range's whole hours are read first (cheap: one row an hour). When they
    count at most :data:`RAW_LIMIT` readings, the range is read raw (one indexed scan of
    ``sensor_readings``); otherwise the series is the rollups' hourly min/max
    :func:`envelope` plus the raw readings before the first whole hour and after the newest
    rollup (the live tail, at most :data:`TAIL_LIMIT`). Both are cut to ``max_points`` with
    MinMaxLTTB. A range without rollups (never refreshed) is read raw, however long.
    """
    _check_range(start, end, max_points)
    source = _sensor_source(db, sensor_id)
    first_bucket = ceil_hour(start)
    buckets = _read_rollups(db, sensor_id, first_bucket, floor_hour(end))
    if buckets.readings <= RAW_LIMIT:
        ts, values = _read_raw(source, start, end)
        return _series(ts, values, len(ts), "raw", max_points)
    return _hourly(source, buckets, start, end, first_bucket, max_points)


def load_tail(db: Database, sensor_id: int, after: datetime, *, limit: int = 1000) -> Series:
    """The sensor's readings newer than ``after``, oldest first, at most ``limit`` of them:
    what an open plot appends on a live update. With more waiting, call again from the last
    one returned (nothing is skipped)."""
    _require_aware(after, "after")
    ts, values = _read_raw(_sensor_source(db, sensor_id), after + MICROSECOND, None, limit=limit)
    return _series(ts, values, len(ts), "raw", None)


def load_calculation(db: Database, asset_id: int, name: str, start: datetime, end: datetime, *,
                     max_points: int = 2000) -> Series:
    """A stored calculation of an asset over [start, end) as at most ``max_points`` points, read
    as :func:`load_series` reads a sensor: raw when the range holds at most :data:`RAW_LIMIT`
    values, otherwise the hourly rollups (``calculation_rollups``) with the raw values before
    the first whole hour and after the newest rollup. A long range without rollups (stored by a
    version before them, and not refreshed since) is aggregated by hour on the fly."""
    _check_range(start, end, max_points)
    source = _Source(db.engine, Calculation.ts, Calculation.value,
                     (Calculation.asset_id == asset_id) & (Calculation.name == name),
                     f"calculation {name} of asset {asset_id}")
    first_bucket = ceil_hour(start)
    key = (CalculationRollup.asset_id == asset_id) & (CalculationRollup.name == name)
    buckets = _rollups(db, CalculationRollup, key, first_bucket, floor_hour(end))
    if buckets.readings > RAW_LIMIT:
        return _hourly(source, buckets, start, end, first_bucket, max_points)
    if end - start <= RAW_LIMIT * NOMINAL_INTERVAL:
        ts, values = _read_raw(source, start, end)
        return _series(ts, values, len(ts), "raw", max_points)
    dialect = db.engine.dialect.name
    bucket = hour_bucket(Calculation.ts)
    query = (
        select(func.count(), func.min(Calculation.value), func.max(Calculation.value),
               func.sum(Calculation.value), _naive(func.min(Calculation.ts), dialect),
               _naive(func.max(Calculation.ts), dialect))
        .where(source.key, Calculation.ts >= start, Calculation.ts < end)
        .group_by(bucket)
        .order_by(bucket)
    )
    with db.engine.connect() as conn:
        buckets = Buckets.from_rows(conn.execute(query).all())
    if buckets.readings <= RAW_LIMIT:  # a long range with little in it: every point counts
        ts, values = _read_raw(source, start, end)
        return _series(ts, values, len(ts), "raw", max_points)
    ts, values = envelope(buckets)
    return _series(ts, values, buckets.readings, "hour", max_points)
