"""The twin's pipeline for one asset: load its sensor data in batches, calculate, and record.

:func:`calculate` continues from the asset's watermark (the newest sensor time already
calculated) unless given a range. Each batch is read from the sensor source with one
parameterised query, turned into a frame with a column per sensor, passed through the asset
type's ``calculate``, and upserted into ``calculations`` together with the new watermark, in one
transaction: a run stopped half way resumes where it stopped, and re-running a range rewrites
the same rows. Running totals continue from the stored calculation just before the range, so a
re-run of any range reproduces the original values exactly.

After the batches, anomaly detection runs over the same range (:func:`app.anomalies.run_detection`):
what it finds becomes alerts. Every run is stored in ``pipeline_runs`` with its rows, stage
timings and outcome, and logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from app import anomalies, series
from app.calculations import Carry
from app.db import Database
from app.db.base import raw_ts, utcnow
from app.db.models import Asset, Calculation, PipelineRun, PipelineState, Sensor, SensorReading
from app.db.upsert import upsert
from app.ingest import iso_strings, raw_connection
from app.plant import twin
from app.plant.catalogue import fill_detected_intervals
from settings import Settings

log = logging.getLogger(__name__)


class PipelineError(RuntimeError):
    """The pipeline cannot run for this asset; ``str()`` says why."""


@dataclass
class RunSummary:
    """What a run did; stored as the run's summary and logged."""

    asset_id: int
    kind: str
    rows: int = 0
    batches: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    decision: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def add_time(self, stage: str, seconds: float) -> None:
        self.timings_s[stage] = round(self.timings_s.get(stage, 0.0) + seconds, 4)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "batches": self.batches, "timings_s": self.timings_s,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "decision": self.decision, **self.details,
        }


class Timer:
    def __init__(self, summary: RunSummary, stage: str) -> None:
        self.summary, self.stage = summary, stage

    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.summary.add_time(self.stage, time.perf_counter() - self.started)


def start_run(db: Database, asset_id: int, kind: str, target: str | None = None) -> int:
    with db.Session() as session, session.begin():
        run = PipelineRun(asset_id=asset_id, kind=kind, target=target, status="running")
        session.add(run)
        session.flush()
        return run.id


def finish_run(db: Database, run_id: int, summary: RunSummary, status: str = "done") -> None:
    with db.Session() as session, session.begin():
        run = session.get(PipelineRun, run_id)
        if run is not None:
            run.status, run.finished_at = status, utcnow()
            run.rows, run.summary = summary.rows, summary.as_dict()
    log.info("pipeline %s asset %s: %s, %s", summary.kind, summary.asset_id, status, summary.as_dict())


# -- loading ------------------------------------------------------------------------------


def sensor_names(session: Session, asset_id: int) -> dict[int, str]:
    return dict(session.execute(select(Sensor.id, Sensor.name).where(Sensor.asset_id == asset_id)).all())


def read_wide(source: Engine, sensors: dict[int, str], start: datetime, end: datetime) -> pd.DataFrame:
    """The asset's readings in [start, end), one column per sensor, indexed by UTC time."""
    query = (
        select(SensorReading.sensor_id, raw_ts(SensorReading.ts, source.dialect.name),
               SensorReading.value)
        .where(SensorReading.sensor_id.in_(list(sensors)), SensorReading.ts >= start,
               SensorReading.ts < end)
        .order_by(SensorReading.ts)
    )
    with source.connect() as conn:
        long = pd.read_sql(query, conn)
    if long.empty:
        return pd.DataFrame(columns=list(sensors.values()), index=pd.DatetimeIndex([], tz="UTC"))
    long["ts"] = pd.to_datetime(long["ts"], utc=True, format="ISO8601")
    wide = long.pivot_table(index="ts", columns="sensor_id", values="value", aggfunc="last")
    return wide.rename(columns=sensors).sort_index()


def batch_windows(start: datetime, end: datetime, span: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive [a, b) windows covering [start, end), each ``span`` long (the last shorter):
    batches are durations, so every sensor brings its own cadence's worth of readings."""
    step = max(span, timedelta(seconds=1))
    cursor = start
    while cursor < end:
        yield cursor, min(end, cursor + step)
        cursor += step


#: However long ``pipeline.batch_seconds`` is, a batch holds at most this many readings of the
#: asset's fastest sensor (a 1 Hz sensor: about six days), so memory stays bounded.
MAX_BATCH_READINGS = 500_000


def batch_span(settings: Settings, slowest: timedelta | None = None,
               fastest: timedelta | None = None) -> timedelta:
    """A batch's duration: ``pipeline.batch_seconds``, at most :data:`MAX_BATCH_READINGS` of
    the fastest sensor, and always enough for a few readings of the slowest."""
    span = timedelta(seconds=settings.pipeline.batch_seconds)
    if fastest:
        span = min(span, MAX_BATCH_READINGS * fastest)
    return max(span, 10 * slowest) if slowest else span


def sensor_span(source: Engine, sensor_ids: list[int]) -> tuple[datetime | None, datetime | None]:
    with source.connect() as conn:
        first, last = conn.execute(
            select(func.min(SensorReading.ts), func.max(SensorReading.ts))
            .where(SensorReading.sensor_id.in_(sensor_ids))
        ).one()
    return first, last


# -- calculating --------------------------------------------------------------------------


def carry_before(session: Session, asset_id: int, start: datetime) -> Carry:
    """The running totals as stored at the last calculated time before ``start``."""
    last_ts = session.scalar(
        select(func.max(Calculation.ts)).where(Calculation.asset_id == asset_id, Calculation.ts < start)
    )
    if last_ts is None:
        return Carry()
    totals = dict(session.execute(
        select(Calculation.name, Calculation.value)
        .where(Calculation.asset_id == asset_id, Calculation.ts == last_ts)
    ).all())
    return Carry(last_ts, {name: float(value) for name, value in totals.items()})


def _calculation_columns(frame: pd.DataFrame) -> Iterator[tuple[str, list[str], list[float]]]:
    """(name, naive-UTC ts texts as SQLite stores them, values) of each column, finite only."""
    stamps = np.asarray(pd.DatetimeIndex(frame.index).tz_convert("UTC").tz_localize(None),
                        dtype="datetime64[us]")
    for name in frame.columns:
        values = frame[name].to_numpy(dtype=float)
        finite = np.isfinite(values)
        yield str(name), iso_strings(stamps[finite]), values[finite].tolist()


_SQLITE_CALCULATIONS = (
    "INSERT INTO calculations (asset_id, name, ts, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (asset_id, name, ts) DO UPDATE SET value = excluded.value"
)
_COPY_PIECE_ROWS = 10_000


def _copy_field(text: str) -> str:
    """``text`` escaped for PostgreSQL's COPY text format."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def write_calculations(conn: Connection, asset_id: int, frame: pd.DataFrame) -> int:
    """Upsert ``frame``'s finite values into ``calculations`` in the caller's transaction, with
    the database's bulk path (as :mod:`app.ingest` writes readings): SQLite ``executemany`` on
    the driver cursor; PostgreSQL ``COPY`` into a temporary table merged with ``INSERT ... ON
    CONFLICT DO UPDATE``; any other database the portable :func:`upsert`. Returns the rows sent.

    The typed ``upsert`` of row dicts cost about 7 us a row on SQLite and 16 us on PostgreSQL
    (bind processing; psycopg's row-by-row executemany): half of a year's calculate run."""
    dialect = conn.dialect.name
    written = 0
    if dialect == "sqlite":
        cursor = raw_connection(conn).cursor()
        try:
            for name, stamps, values in _calculation_columns(frame):
                count = len(stamps)
                cursor.executemany(_SQLITE_CALCULATIONS,
                                   zip([asset_id] * count, [name] * count, stamps, values))
                written += count
        finally:
            cursor.close()
        return written
    if dialect == "postgresql":
        with raw_connection(conn).cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS twin_calculations_stage "
                "(asset_id integer, name varchar(64), ts timestamp, value double precision) "
                "ON COMMIT DELETE ROWS"
            )
            cursor.execute("TRUNCATE twin_calculations_stage")
            with cursor.copy("COPY twin_calculations_stage (asset_id, name, ts, value) FROM STDIN") as copy:
                for name, stamps, values in _calculation_columns(frame):
                    prefix = f"{asset_id}\t{_copy_field(name)}\t"
                    for first in range(0, len(stamps), _COPY_PIECE_ROWS):
                        piece = slice(first, first + _COPY_PIECE_ROWS)
                        copy.write("".join(f"{prefix}{ts}\t{value}\n"
                                           for ts, value in zip(stamps[piece], values[piece])).encode())
                    written += len(stamps)
            cursor.execute(
                "INSERT INTO calculations (asset_id, name, ts, value) "
                "SELECT asset_id, name, ts, value FROM twin_calculations_stage "
                "ON CONFLICT (asset_id, name, ts) DO UPDATE SET value = EXCLUDED.value"
            )
        return written
    return upsert(conn, Calculation.__table__, calculation_rows(asset_id, frame),
                  keys=["asset_id", "name", "ts"])


def calculation_rows(asset_id: int, frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    stamps = [ts.to_pydatetime() for ts in frame.index]
    for name in frame.columns:
        values = frame[name].to_numpy(dtype=float)
        finite = np.isfinite(values)
        rows.extend({"asset_id": asset_id, "name": name, "ts": ts, "value": float(v)}
                    for ts, v, ok in zip(stamps, values, finite, strict=True) if ok)
    return rows


def calculate(
    db: Database,
    settings: Settings,
    asset_id: int,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """Calculate the asset's derived quantities from ``start`` (default: its watermark, or its
    first reading) up to ``end`` (default: its newest reading, inclusive).

    The asset is taken as its catalogue describes it (:mod:`app.plant.twin`): a built-in type
    lacking some of its sensors, a sensor with no readings, a generic asset with one sensor:
    what can be calculated is, and ``summary.details["status"]`` says in words what waits for
    what. ``progress(done_batches, total_batches)`` is called after each batch.
    """
    summary = RunSummary(asset_id, "calculate")
    with db.Session() as session, session.begin():
        asset = session.get(Asset, asset_id)
        if asset is None:
            raise PipelineError(f"no asset with id {asset_id}")
        # Sensors fed by the API or a device report at a cadence nobody typed in: learn it once.
        unknown = list(session.scalars(select(Sensor.id).where(Sensor.asset_id == asset_id,
                                                               Sensor.interval_s.is_(None))))
        if unknown:
            fill_detected_intervals(session, unknown, db.sensors_engine)
        model = twin.load(session, asset)
        watermark = session.scalar(select(PipelineState.watermark).where(PipelineState.asset_id == asset_id))
    notes = list(model.problems)
    summary.details["status"] = notes
    sensors = model.sensors
    if not sensors:
        summary.decision = "no sensors yet"
        notes.append("the asset has no sensors: add them in the catalogue")
        return summary
    first, last = sensor_span(db.sensors_engine, list(sensors))
    if first is None:
        summary.decision = "no sensor data yet"
        notes.append("none of its sensors has readings yet")
        return summary
    silent = silent_sensors(db.sensors_engine, sensors)
    if silent:
        notes.append(f"no readings yet from {', '.join(silent)}")
    begin = start or (watermark + timedelta(microseconds=1) if watermark else first)
    # Nothing is calculated past the newest reading: a later `end` waits for data to arrive.
    finish = min(end, last + timedelta(microseconds=1)) if end else last + timedelta(microseconds=1)
    summary.start, summary.end = begin, finish
    if begin >= finish:
        summary.decision = "up to date"
        return summary
    run_id = start_run(db, asset_id, "calculate")
    batch_notes: dict[str, None] = {}
    try:
        with db.Session() as session:
            carry = carry_before(session, asset_id, begin)
        windows = list(batch_windows(begin, finish, batch_span(settings, model.interval, model.fastest)))
        for number, (a, b) in enumerate(windows, start=1):
            with Timer(summary, "load"):
                wide = read_wide(db.sensors_engine, sensors, a, b)
            if not wide.empty:
                with Timer(summary, "calculate"):
                    frame, carry, said = twin.calculate_batch(model, wide, carry)
                batch_notes.update(dict.fromkeys(said))
                # The watermark only moves forward: re-running an earlier range must not make
                # the next routine run recalculate everything after that range.
                newest = wide.index[-1].to_pydatetime()
                watermark = newest if watermark is None else max(watermark, newest)
                with Timer(summary, "save"), db.engine.begin() as conn:
                    write_calculations(conn, asset_id, frame)
                    upsert(conn, PipelineState.__table__,
                           [{"asset_id": asset_id, "watermark": watermark,
                             "updated_at": utcnow()}], keys=["asset_id"])
                summary.rows += int(wide.notna().to_numpy().sum())
            summary.batches += 1
            if progress is not None:
                progress(number, len(windows))
        notes.extend(batch_notes)
        # Long-range plots read hourly rollups (app.series): bring the hours just read up to
        # date, on the pipeline's schedule. Counted as saving: it is derived data the run stores.
        with Timer(summary, "save"):
            summary.details["rollup_rows"] = series.refresh_rollups(db, sensors, since=begin)
            summary.details["calculation_rollup_rows"] = series.refresh_calculation_rollups(
                db, asset_id, since=begin)
        # Anomalies in the readings just calculated become alerts (and the alert emails).
        with Timer(summary, "detect"):
            summary.details["anomalies"] = anomalies.run_detection(db, settings, asset_id, begin,
                                                                   finish).as_dict()
    except Exception as exc:
        summary.details["error"] = f"{type(exc).__name__}: {exc}"[:500]
        finish_run(db, run_id, summary, status="failed")
        raise
    summary.decision = "calculated"
    finish_run(db, run_id, summary)
    return summary


def silent_sensors(source: Engine, sensors: dict[int, str]) -> list[str]:
    """The names of ``sensors`` that have never reported (one index seek each)."""
    with source.connect() as conn:
        return [name for sensor_id, name in sensors.items()
                if conn.scalar(select(SensorReading.ts).where(SensorReading.sensor_id == sensor_id)
                               .limit(1)) is None]


def run(
    db: Database,
    settings: Settings,
    asset_id: int,
    targets: list[str] | list[tuple[str, str]],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """One whole pipeline run for an asset: calculate, then for each target (a name, forecast,
    or a (name, mode) pair) train a first model if there is none, validate the active model's
    forecasts, retrain and decide when they failed, and serve the next horizon. One summary
    (rows, stage timings, decisions) is stored and logged for the run."""
    from app import forecasting  # the model layer builds on this module's loading

    calculated = calculate(db, settings, asset_id, start=start, end=end, progress=progress)
    summary = RunSummary(asset_id, "run", rows=calculated.rows, batches=calculated.batches,
                         timings_s=dict(calculated.timings_s), start=calculated.start, end=calculated.end)
    decisions: dict[str, str] = {}
    notes = list(calculated.details.get("status", []))
    slots = [(t, "forecast") if isinstance(t, str) else (t[0], t[1]) for t in targets]
    run_id = start_run(db, asset_id, "run", ",".join(t for t, _ in slots) or None)
    # Models train on the history before "now" and forecast from it. For history imported from
    # the past, "now" is where the data ends, not the wall clock (which would find no data).
    newest = calculated.end if calculated.end is not None else None
    moment = now or end or (min(utcnow(), newest) if newest is not None else utcnow())
    for target, mode in slots:
        steps: list[str] = []
        label = target if mode == "forecast" else f"{target} ({mode})"
        try:
            with db.Session() as session:
                has_model = forecasting.active_version(session, asset_id, target, mode) is not None
            if not has_model:
                with Timer(summary, "train"):
                    trained = forecasting.train(db, settings, asset_id, target, now=moment,
                                                reason="pipeline run", mode=mode)
                steps.append(f"trained v{trained.version.version} ({trained.version.algorithm} serves)")
            with Timer(summary, "validate"):
                validation = forecasting.validate(db, settings, asset_id, target, now=moment, mode=mode)
            if validation is not None:
                steps.append(f"validated: {validation.disposition} ({validation.reason})")
                if validation.disposition == "retrain":
                    with Timer(summary, "train"):
                        decision = forecasting.challenge(db, settings, asset_id, target, now=moment,
                                                         reason=f"retraining: {validation.reason}", mode=mode)
                    steps.append(f"v{decision.challenger.version} "
                                 f"{'promoted' if decision.promoted else 'rejected'} ({decision.reason})")
            with Timer(summary, "predict"):
                served = forecasting.predict(db, settings, asset_id, target, now=moment, mode=mode)
            steps.append(f"{served} {'forecasts' if mode == 'forecast' else 'estimates'}")
        except forecasting.ModelError as exc:
            steps.append(f"stopped: {exc}")
            notes.append(f"{label}: {exc}")
        decisions[label] = "; ".join(steps)
    summary.decision = calculated.decision
    summary.details["targets"] = decisions
    summary.details["status"] = notes
    finish_run(db, run_id, summary)
    return summary


def scheduled_assets(db: Database, asset_type: str | None, asset_id: int | None,
                     target: str | None = None) -> list[tuple[int, str | None]]:
    """The (asset, target) pairs a schedule entry names: every live asset of a type, one asset,
    or (``asset_type`` and ``asset_id`` both None) every live asset whose catalogue entry
    chooses its own forecast targets, once per target. An asset that chose its own targets
    leaves its type's entries for that "catalogue" entry; retired assets and sites rest."""
    from app.db.models import Site

    with db.Session() as session:
        query = (select(Asset.id, Asset.asset_type, Asset.forecast_targets)
                 .join(Site, Site.id == Asset.site_id)
                 .where(Asset.retired_at.is_(None), Site.retired_at.is_(None)).order_by(Asset.id))
        if asset_type:
            query = query.where(Asset.asset_type == asset_type)
        elif asset_id is not None:
            query = query.where(Asset.id == asset_id)
        rows = session.execute(query).all()
    if asset_type is None and asset_id is None:  # the catalogue's own targets
        if target is None:  # calculate: every asset whose type has no schedule entry of its own
            return [(row.id, None) for row in rows if row.asset_type == "generic"]
        return [(row.id, chosen) for row in rows for chosen in (row.forecast_targets or ())]
    if target is not None and asset_type:
        rows = [row for row in rows if row.forecast_targets is None]
    return [(row.id, target) for row in rows]


def retraining_job(db: Database, asset_id: int, target: str) -> int | None:
    """A job to retrain a model that failed validation, unless a retraining is already under
    way for it (a candidate version waiting for its decision, or a queued or running job)."""
    from app import jobs
    from app.db.models import Job, ModelVersion, Site

    with db.Session() as session, session.begin():
        pending = session.scalar(select(ModelVersion.id).where(
            ModelVersion.asset_id == asset_id, ModelVersion.target == target,
            ModelVersion.status == "candidate"))
        queued = session.scalar(select(Job.id).where(
            Job.asset_id == asset_id, Job.target == target, Job.kind == "train",
            Job.status.in_(jobs.ACTIVE)))
        if pending or queued:
            return None
        supplier_id = session.scalar(select(Site.supplier_id).join(Asset, Asset.site_id == Site.id)
                                     .where(Asset.id == asset_id))
        return jobs.create_job(session, supplier_id=supplier_id, kind="train", asset_id=asset_id,
                               target=target, message="Queued by a failed validation").id
