"""Pipeline benchmark: a year of one asset's 1-minute data: calculate, train, predict, validate.

Usage::

    .venv/bin/python bench/pipeline.py [--days 365] [--db sqlite|postgresql|both]
                                       [--asset-type boiler] [--target NAME] [--repeats 1]
                                       [--postgres-url URL] [--quick]

One asset of ``--asset-type`` (default ``boiler``: 4 sensors, 3 calculations) with a reading a
minute on each sensor for ``--days`` days (365: 525,600 minutes x 4 sensors = 2,102,400 values).
For each database:

* Setup (timed and printed, not a target), in a spawned child, on the bench's own database (a
  SQLite file in a temporary directory; a PostgreSQL database ``twin_bench_pipeline_<pid>``,
  the database in the URL is never touched): the product's migrations, the supplier, site,
  asset (the type's default parameters) and its sensors, and the readings written with
  :func:`app.ingest.write_sensor_readings` from :func:`app.generator.generate_chunks` frames.
  Then PostgreSQL gets ``VACUUM ANALYZE`` and a ``CHECKPOINT``, SQLite a WAL checkpoint. The
  result is the template each timed run copies (a file copy; ``CREATE DATABASE ... TEMPLATE``).
* Baseline, in a spawned child, on the run's fresh copy, just before the product: a plain
  ``pandas.read_sql`` of the rows the load stage reads, in one query on the same engine:
  ``SELECT sensor_id, ts, value FROM sensor_readings WHERE sensor_id IN (<the asset's
  sensors>) AND ts >= :start AND ts < :end ORDER BY ts``, read ``--baseline-reads`` times
  as it is and as many times with ``parse_dates`` (``ts`` as UTC timestamps, the form the
  product delivers). The first read also warms the caches the product then reads through.
  The fastest of all these reads is the baseline (the stricter choice: on SQLite the plain
  read, which leaves ``ts`` as text, is the faster; on PostgreSQL the parsed one).
* Stages, in another spawned child on the same copy, timed one after the other:

  - ``load``, ``calculate``, ``save``: :func:`app.pipeline.calculate` over all the data, from
    its own ``RunSummary.timings_s`` (the batched read with ``read_wide``, the asset type's
    ``calculate``, the upsert of calculations and watermark); ``calculate_run`` is the call's
    wall time (those three plus the run's bookkeeping);
  - ``train``: :func:`app.forecasting.train` of ``--target`` at a cutoff ``--cutoff-hours``
    before the end, with ``pipeline.training_days`` = ``--days`` (the year, 10-minute means:
    about 52,560 points) and the product's default model settings (fit and backtest of every
    candidate and baseline);
  - ``predict``: :func:`app.forecasting.predict` every hour from the cutoff to the end, as the
    schedule serves (the time is all of them);
  - ``validate``: :func:`app.forecasting.validate` at the end (the forecasts against what happened).

  ``total`` = calculate_run + train + predict + validate. The child's peak RSS (``VmHWM``:
  interpreter, libraries and all stages) is the memory figure. What each stage stored is
  checked (rows read, calculations stored, model rows, forecasts, a validation).

``--repeats N`` does the baseline + stages pair N times, each on a fresh copy; the run with the
lowest total is reported; the ratio is the fastest baseline read over the fastest load.
Targets (the issue): total <= 60 s, peak RSS <= 2 GiB, load >= 0.7 x the baseline's speed
(baseline s / load s). The
default deployment is the embedded SQLite; PostgreSQL is measured the same way. Everything
created is dropped on exit, after an error and on SIGTERM. The table goes to stdout, progress
to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from _support import (
    PostgresScratch,
    Scratch,
    SqliteScratch,
    current_rss_mb,
    log,
    peak_rss_mb,
    run_child,
    verdict,
)
from sqlalchemy import bindparam, func, select, text

from app import forecasting, pipeline
from app.db import Database, UTCDateTime, check_connection
from app.db.migrate import upgrade
from app.db.models import (
    Asset,
    Calculation,
    ModelVersion,
    PipelineState,
    Prediction,
    Sensor,
    SensorReading,
    Site,
    Supplier,
)
from app.generator import generate_chunks
from app.ingest import write_sensor_readings
from app.twins import ASSET_TYPES, asset_type
from settings import Settings, load_settings

Dialect = Literal["sqlite", "postgresql"]

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START = datetime(2025, 1, 1, tzinfo=UTC)
INTERVAL = timedelta(minutes=1)
SEED = 20241001
QUICK_DAYS = 14

TOTAL_TARGET_S = 60.0
PEAK_RSS_TARGET_MB = 2048.0  # 2 GiB; RSS figures are MiB (kB / 1024), as in bench/ingest.py
RATIO_TARGET = 0.7
DEFAULT_DEPLOYMENT = "sqlite"  # settings.database.url unset: the embedded SQLite file

# The baseline: the load stage's rows in one plain query (the product's own bind types, so the
# bounds are sent exactly as the product sends them).
BASELINE_SQL = text(
    "SELECT sensor_id, ts, value FROM sensor_readings "
    "WHERE sensor_id IN :ids AND ts >= :start AND ts < :end ORDER BY ts"
).bindparams(
    bindparam("ids", expanding=True),
    bindparam("start", type_=UTCDateTime()),
    bindparam("end", type_=UTCDateTime()),
)


def bench_settings(url: str, home: str, secret: str, days: int) -> Settings:
    """The product's default settings (nothing read from the caller's TWIN_*), on ``url``,
    training on the whole ``days``."""
    return load_settings(environ={}, home=home, secret_key=secret, database__url=url,
                         pipeline__training_days=days)


# -- memory -------------------------------------------------------------------------------


# -- setup (a spawned child) ----------------------------------------------------------------


@dataclass(frozen=True)
class SetupTask:
    url: str
    home: str
    secret: str
    days: int
    asset_type: str


@dataclass(frozen=True)
class SetupResult:
    asset_id: int
    sensor_ids: list[int]
    readings: int
    migrate_s: float
    write_s: float
    settle_s: float
    peak_rss_mb: float


def end_of(days: int) -> datetime:
    return START + timedelta(days=days)


def setup(task: SetupTask) -> SetupResult:
    """Migrate, add the asset and its sensors, write the readings, and settle the database."""
    settings = bench_settings(task.url, task.home, task.secret, task.days)
    db = Database(settings)
    kind = asset_type(task.asset_type)
    try:
        started = time.perf_counter()
        upgrade(db.engine)
        migrate_s = time.perf_counter() - started
        with db.Session() as session, session.begin():
            supplier = Supplier(name="Bench Energy")
            session.add(supplier)
            session.flush()
            site = Site(supplier_id=supplier.id, name="Bench plant")
            asset = Asset(site=site, name=f"{kind.label} 1", asset_type=kind.name,
                          parameters=dict(kind.default_parameters))
            asset.sensors = [Sensor(name=spec.name, unit=spec.unit) for spec in kind.sensors]
            session.add(site)
            session.flush()
            asset_id, sensor_ids = asset.id, [sensor.id for sensor in asset.sensors]
        end = end_of(task.days)

        def frames() -> Iterator[pd.DataFrame]:
            for spec, sensor_id in zip(kind.sensors, sensor_ids, strict=True):
                yield from generate_chunks(spec.signal, sensor_id, START, end, INTERVAL, seed=SEED)

        started = time.perf_counter()
        written = write_sensor_readings(db.engine, frames(), chunk_rows=settings.ingest.chunk_rows)
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        if db.dialect == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
                conn.execute(text("CHECKPOINT"))
        else:  # fold the WAL into the file, which is then copied for each run
            with db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        settle_s = time.perf_counter() - started
        with db.engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(SensorReading))
        if stored != written.rows:
            raise RuntimeError(f"{stored} readings stored, {written.rows} written")
    finally:
        db.engine.dispose()  # nothing may hold the template open while it is copied
    return SetupResult(asset_id, sensor_ids, int(stored or 0), migrate_s, write_s, settle_s,
                       peak_rss_mb())


# -- baseline (a spawned child) -------------------------------------------------------------


@dataclass(frozen=True)
class BaselineTask:
    url: str
    home: str
    secret: str
    days: int
    sensor_ids: list[int]
    reads: int


@dataclass(frozen=True)
class BaselineResult:
    plain_s: list[float]
    parsed_s: list[float]
    rows: int
    ts_dtype: str
    peak_rss_mb: float


def baseline(task: BaselineTask) -> BaselineResult:
    """``pandas.read_sql`` of the load stage's rows in one plain query, ``task.reads`` times,
    then the same with ``ts`` parsed to UTC timestamps."""
    settings = bench_settings(task.url, task.home, task.secret, task.days)
    db = Database(settings)
    params = {"ids": task.sensor_ids, "start": START, "end": end_of(task.days)}
    plain_s: list[float] = []
    parsed_s: list[float] = []
    rows, ts_dtype = 0, ""
    try:
        check_connection(db.sensors_engine)  # a live pooled connection before the clock starts
        for parse in (False, True):
            for _ in range(task.reads):
                gc.collect()
                with db.sensors_engine.connect() as conn:
                    started = time.perf_counter()
                    frame = pd.read_sql(BASELINE_SQL, conn, params=params,
                                        parse_dates={"ts": {"utc": True}} if parse else None)
                    seconds = time.perf_counter() - started
                (parsed_s if parse else plain_s).append(seconds)
                if rows and len(frame) != rows:
                    raise RuntimeError(f"baseline read {len(frame)} rows, then {rows}")
                rows = len(frame)
                if not parse:
                    ts_dtype = str(frame["ts"].dtype)
                del frame
    finally:
        db.engine.dispose()
    return BaselineResult(plain_s, parsed_s, rows, ts_dtype, peak_rss_mb())


# -- the stages (a spawned child) -----------------------------------------------------------


@dataclass(frozen=True)
class StagesTask:
    url: str
    home: str
    secret: str
    days: int
    asset_id: int
    target: str
    cutoff_hours: float


@dataclass
class StagesResult:
    seconds: dict[str, float] = field(default_factory=dict)
    rows_read: int = 0
    batches: int = 0
    calculations: int = 0
    watermark: str | None = None
    train_rows: int = 0
    holdout: dict[str, Any] = field(default_factory=dict)
    predictions: int = 0
    validation: dict[str, Any] = field(default_factory=dict)
    rss_before_mb: float = 0.0
    rss_after_calculate_mb: float = 0.0
    peak_rss_after_calculate_mb: float = 0.0
    peak_rss_mb: float = 0.0


def timed(result: StagesResult, stage: str, call: Callable[[], Any]) -> Any:
    gc.collect()
    started = time.perf_counter()
    value = call()
    result.seconds[stage] = time.perf_counter() - started
    log(f"    {stage:<14}{result.seconds[stage]:8.2f} s")
    return value


def stages(task: StagesTask) -> StagesResult:
    settings = bench_settings(task.url, task.home, task.secret, task.days)
    db = Database(settings)
    end = end_of(task.days)
    cutoff = end - timedelta(hours=task.cutoff_hours)
    result = StagesResult()
    try:
        check_connection(db.engine)  # a live pooled connection before the clock starts
        gc.collect()
        result.rss_before_mb = current_rss_mb()

        summary = timed(result, "calculate_run",
                        lambda: pipeline.calculate(db, settings, task.asset_id))
        for stage in ("load", "calculate", "save"):
            result.seconds[stage] = float(summary.timings_s.get(stage, 0.0))
        result.rows_read, result.batches = summary.rows, summary.batches
        result.rss_after_calculate_mb = current_rss_mb()
        result.peak_rss_after_calculate_mb = peak_rss_mb()

        trained = timed(result, "train", lambda: forecasting.train(
            db, settings, task.asset_id, task.target, now=cutoff, reason="benchmark"))
        result.train_rows, result.holdout = trained.version.rows, dict(trained.version.holdout_metrics)

        def serve_hourly() -> int:
            issued, moment = 0, cutoff
            while moment < end:
                issued += forecasting.predict(db, settings, task.asset_id, task.target, now=moment)
                moment += timedelta(hours=1)
            return issued

        result.predictions = timed(result, "predict", serve_hourly)

        validation = timed(result, "validate", lambda: forecasting.validate(
            db, settings, task.asset_id, task.target, now=end))
        result.peak_rss_mb = peak_rss_mb()

        result.seconds["total"] = sum(result.seconds[s] for s in
                                      ("calculate_run", "train", "predict", "validate"))
        # What the stages stored (not timed).
        if validation is None:
            # The generator's signals are independent, so the boiler's physics rules raise
            # leak alerts over most of the data, and validation leaves out the forecasts that
            # touch an alert episode: nothing may be left to judge. The stage was still timed.
            result.validation = {"n": 0, "disposition": "waiting: every pair touched an alert episode"}
        else:
            result.validation = {"n": validation.n, "mape": validation.mape,
                                 "coverage": validation.coverage, "disposition": validation.disposition}
        with db.Session() as session:
            result.calculations = session.scalar(select(func.count()).select_from(Calculation)
                                                 .where(Calculation.asset_id == task.asset_id)) or 0
            watermark = session.scalar(select(PipelineState.watermark)
                                       .where(PipelineState.asset_id == task.asset_id))
            result.watermark = watermark.isoformat() if watermark else None
            versions = session.scalar(select(func.count()).select_from(ModelVersion)) or 0
            forecasts = session.scalar(select(func.count()).select_from(Prediction)) or 0
        if versions != 1 or forecasts != result.predictions:
            raise RuntimeError(f"{versions} model versions and {forecasts} forecasts stored, "
                               f"expected 1 and {result.predictions}")
    finally:
        db.engine.dispose()
    return result


# -- the benchmark --------------------------------------------------------------------------


def check_run(dialect: str, run: StagesResult, expected_readings: int, expected_calculations: int,
              last_reading: datetime) -> None:
    problems = []
    if run.rows_read != expected_readings:
        problems.append(f"calculate read {run.rows_read:,} readings, "
                        f"expected {expected_readings:,}")
    if run.calculations != expected_calculations:
        problems.append(f"{run.calculations:,} calculations stored, "
                        f"expected {expected_calculations:,}")
    if run.watermark != last_reading.isoformat():
        problems.append(f"watermark {run.watermark}, expected {last_reading.isoformat()}")
    if run.predictions < 1:
        problems.append("no forecasts stored")
    if problems:
        raise RuntimeError(f"{dialect}: " + "; ".join(problems))


def bench_database(scratch: Scratch, args: argparse.Namespace, home: Path,
                   secret: str) -> dict[str, Any]:
    kind = asset_type(args.asset_type)
    days = args.days
    minutes = days * 24 * 60
    log(f"{scratch.dialect}: setup ({kind.name}, {len(kind.sensors)} sensors x "
        f"{minutes:,} minutes)...")
    prepared: SetupResult = run_child(setup, SetupTask(
        scratch.template(), str(home / "setup"), secret, days, kind.name))
    log(f"  migrate {prepared.migrate_s:.2f} s, write_sensor_readings {prepared.readings:,} rows "
        f"{prepared.write_s:.2f} s, settle {prepared.settle_s:.2f} s")
    figures: dict[str, Any] = {"setup": asdict(prepared), **scratch.describe()}

    baselines: list[BaselineResult] = []
    runs: list[StagesResult] = []
    for rep in range(1, args.repeats + 1):
        with scratch.fresh() as url:
            log(f"  run {rep}: baseline pandas.read_sql x {args.baseline_reads}, "
                f"then with parse_dates...")
            base: BaselineResult = run_child(baseline, BaselineTask(
                url, str(home / f"{scratch.dialect}-base{rep}"), secret, days,
                prepared.sensor_ids, args.baseline_reads))
            if base.rows != prepared.readings:
                raise RuntimeError(f"baseline read {base.rows:,} rows, "
                                   f"expected {prepared.readings:,}")
            log("    plain " + ", ".join(f"{s:.2f}" for s in base.plain_s) + " s; parse_dates "
                + ", ".join(f"{s:.2f}" for s in base.parsed_s) + f" s ({base.rows:,} rows)")
            baselines.append(base)
            log(f"  run {rep}: stages...")
            run: StagesResult = run_child(stages, StagesTask(
                url, str(home / f"{scratch.dialect}-run{rep}"), secret, days, prepared.asset_id,
                args.target or kind.sensors[0].name, args.cutoff_hours))
            check_run(scratch.dialect, run, prepared.readings, len(kind.calculations) * minutes,
                      end_of(days) - INTERVAL)
            log(f"    load {run.seconds['load']:.2f} s, "
                f"calculate {run.seconds['calculate']:.2f} s, save {run.seconds['save']:.2f} s; "
                f"total {run.seconds['total']:.2f} s, peak {run.peak_rss_mb:.0f} MB")
            runs.append(run)

    best = min(runs, key=lambda r: r.seconds["total"])
    plain = min(s for b in baselines for s in b.plain_s)
    parsed = min(s for b in baselines for s in b.parsed_s)
    fastest = min(plain, parsed)
    load = min(r.seconds["load"] for r in runs)
    d = scratch.dialect
    for stage in ("load", "calculate", "save", "calculate_run", "train", "predict", "validate",
                  "total"):
        figures[f"{d}_{stage}_s"] = round(best.seconds[stage], 3)
    figures[f"{d}_total_runs_s"] = [round(r.seconds["total"], 3) for r in runs]
    figures[f"{d}_load_runs_s"] = [round(r.seconds["load"], 3) for r in runs]
    figures[f"{d}_baseline_s"] = round(fastest, 3)
    figures[f"{d}_baseline_plain_s"] = round(plain, 3)
    figures[f"{d}_baseline_plain_runs_s"] = [round(s, 3) for b in baselines for s in b.plain_s]
    figures[f"{d}_baseline_plain_ts_dtype"] = baselines[0].ts_dtype
    figures[f"{d}_baseline_parsed_s"] = round(parsed, 3)
    figures[f"{d}_baseline_parsed_runs_s"] = [round(s, 3) for b in baselines for s in b.parsed_s]
    # baseline seconds / product load seconds: >= 1 means the product reads as fast or faster
    figures[f"{d}_load_ratio"] = round(fastest / load, 3)
    figures[f"{d}_peak_rss_mb"] = round(max(r.peak_rss_mb for r in runs), 1)
    figures[f"{d}_peak_rss_after_calculate_mb"] = round(best.peak_rss_after_calculate_mb, 1)
    figures[f"{d}_rss_before_mb"] = round(best.rss_before_mb, 1)
    figures[f"{d}_baseline_peak_rss_mb"] = round(max(b.peak_rss_mb for b in baselines), 1)
    figures[f"{d}_setup_write_s"] = round(prepared.write_s, 3)
    figures[f"{d}_readings"] = prepared.readings
    figures[f"{d}_batches"] = best.batches
    figures[f"{d}_calculations"] = best.calculations
    figures[f"{d}_train_rows"] = best.train_rows
    figures[f"{d}_holdout"] = best.holdout
    figures[f"{d}_predictions"] = best.predictions
    figures[f"{d}_validation"] = best.validation
    return figures


STAGE_LABELS = (
    ("load", "  load (read_wide, batched)"),
    ("calculate", "  calculate (asset type)"),
    ("save", "  save (upsert calculations)"),
    ("calculate_run", "calculate run (all of it)"),
    ("train", "train"),
    ("predict", "predict"),
    ("validate", "validate"),
    ("total", "total"),
)


def report(dialects: Sequence[str], figures: dict[str, Any]) -> dict[str, str]:
    """Print the table and the targets; return the verdicts."""
    print()
    print(f"One {figures['asset_type']} ({figures['sensors']} sensors) x {figures['days']} days of "
          f"1-minute readings = {figures['readings']:,} values; train target "
          f"{figures['target']} ({figures['resample_minutes']}-minute means)")
    print()
    print(f"{'stage':<32}" + "".join(f"{d + ' s':>14}" for d in dialects))
    for key, label in STAGE_LABELS:
        print(f"{label:<32}" + "".join(f"{figures[f'{d}_{key}_s']:>14.2f}" for d in dialects))
    rows = (
        ("baseline read_sql (plain)", "baseline_plain_s", "{:>14.2f}"),
        ("baseline read_sql (parse_dates)", "baseline_parsed_s", "{:>14.2f}"),
        ("peak RSS MB (stages child)", "peak_rss_mb", "{:>14.0f}"),
        ("setup: write_sensor_readings s", "setup_write_s", "{:>14.2f}"),
    )
    for label, key, fmt in rows:
        print(f"{label:<32}" + "".join(fmt.format(figures[f"{d}_{key}"]) for d in dialects))
    print()
    verdicts: dict[str, str] = {}
    for d in dialects:
        scope = " (the default deployment)" if d == DEFAULT_DEPLOYMENT else ""
        total, peak, ratio = (figures[f"{d}_total_s"], figures[f"{d}_peak_rss_mb"],
                              figures[f"{d}_load_ratio"])
        checks = (
            (f"{d}_total_s", total <= TOTAL_TARGET_S,
             f"{d} all stages = {total:.1f} s (target <= {TOTAL_TARGET_S:.0f} s)"),
            (f"{d}_peak_rss_mb", peak <= PEAK_RSS_TARGET_MB,
             f"{d} peak RSS = {peak:.0f} MB (target <= {PEAK_RSS_TARGET_MB:.0f} MB)"),
            (f"{d}_load_ratio", ratio >= RATIO_TARGET,
             (f"{d} load vs read_sql = {figures[f'{d}_baseline_s']:.2f} s / "
              f"{figures[f'{d}_load_s']:.2f} s = {ratio:.2f} (target >= {RATIO_TARGET})")),
        )
        for key, ok, line in checks:
            verdicts[key] = verdict(ok)
            print(f"{verdicts[key]}  {line}{scope}")
    return verdicts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of 1-minute readings")
    parser.add_argument("--quick", action="store_true",
                        help=f"a small check: --days {QUICK_DAYS} unless --days is given")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--asset-type", default="boiler", choices=sorted(ASSET_TYPES),
                        help="the asset's type (default boiler: 4 sensors, 3 calculations)")
    parser.add_argument("--target", default=None,
                        help="sensor or calculation to train on (default: the type's first sensor)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="baseline + stages runs, each on a fresh copy (the best is reported)")
    parser.add_argument("--baseline-reads", type=int, default=2,
                        help="baseline reads per run (the fastest counts)")
    parser.add_argument("--cutoff-hours", type=float, default=6.0,
                        help="predict this long before the end of the data, validate at the end")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TWIN_TEST_POSTGRES_URL") or DEFAULT_PG_URL,
        help="server to create the throwaway databases on (its own database is not touched)",
    )
    args = parser.parse_args(argv)
    if args.quick and "--days" not in (argv if argv is not None else sys.argv[1:]):
        args.days = QUICK_DAYS
    if args.days < 7 or args.repeats < 1 or args.baseline_reads < 1:
        parser.error("--days must be >= 7, --repeats and --baseline-reads >= 1")
    if not 1 <= args.cutoff_hours < args.days * 24 / 2:
        parser.error("--cutoff-hours must be at least 1 and well inside the data")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A terminated run still drops its databases and temporary files and stops its child.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    dialects: list[Dialect] = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    kind = asset_type(args.asset_type)
    defaults = load_settings(environ={})
    figures: dict[str, Any] = {
        "benchmark": "pipeline",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "asset_type": kind.name,
        "sensors": len(kind.sensors),
        "calculations_per_minute": len(kind.calculations),
        "days": args.days,
        "readings": args.days * 24 * 60 * len(kind.sensors),
        "target": args.target or kind.sensors[0].name,
        "resample_minutes": defaults.pipeline.resample_minutes,
        "batch_seconds": defaults.pipeline.batch_seconds,
        "model": defaults.model.model_dump() if hasattr(defaults.model, "model_dump") else None,
        "repeats": args.repeats,
        "default_deployment": DEFAULT_DEPLOYMENT,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
    secret = secrets.token_hex(32)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="twin_bench_pipeline_") as tmp:
        workdir = Path(tmp)
        for dialect in dialects:
            scratch: Scratch = (SqliteScratch(workdir) if dialect == "sqlite"
                                else PostgresScratch(workdir, args.postgres_url, prefix="twin_bench_pipeline"))
            try:
                found = bench_database(scratch, args, workdir, secret)
            finally:
                scratch.close()
            figures[f"{dialect}_setup"] = found.pop("setup")
            for key in ("sqlite", "postgres", "postgres_settings"):
                if key in found:
                    figures[key] = found.pop(key)
            figures[f"{dialect}_database_mb"] = found.pop("database_mb")
            figures.update(found)
    figures["bench_s"] = round(time.perf_counter() - started, 1)
    figures["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    figures["peak_rss_mb"] = max(figures[f"{d}_peak_rss_mb"] for d in dialects)
    figures["targets"] = report(dialects, figures)
    figures["pass"] = all(v == "PASS" for v in figures["targets"].values())
    print(json.dumps(figures, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
