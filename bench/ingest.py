"""Bulk ingestion benchmark: the product path against a plain driver bulk insert.

Usage::

    .venv/bin/python bench/ingest.py [--rows 1000000] [--db sqlite|postgresql|both]
                                     [--postgres-url URL] [--repeats 3]

The readings (``--sensors`` sensors x one a minute, ``--rows`` in all) are generated once, as the
frames :func:`app.generator.generate_chunks` makes, before anything is timed. For each database,
each measurement runs in its own spawned child process on a fresh copy of an empty, migrated
schema (a copied SQLite file in a temporary directory; a PostgreSQL database cloned from a
template) and is timed from the frames to the committed rows:

* ``product``: :func:`app.ingest.write_sensor_readings`, the one path the product uses.
* ``baseline``: the driver's own bulk insert of the same rows into the same ``sensor_readings``
  table, in one transaction, including its conversion from the frames: SQLite ``executemany``
  of a plain ``INSERT``; PostgreSQL ``COPY ... FROM STDIN`` of the same text
  (:func:`app.ingest.copy_text`). Both use the product's timestamp text, so both store
  identical data; the baseline runs on the engine's own DBAPI connection, so the connection
  settings (SQLite pragmas) are the same too.
* ``resend``: the product path sending the same rows again on top of themselves (the merge
  path); reported, not a target.

Each measurement is repeated (best time kept, product and baseline alternating order), the
stored rows are checked after every run (exactly ``--rows``, the same data for every path), and
the child reports its peak RSS (``VmHWM``: interpreter, libraries and the frames included).

Targets: product >= 0.7 x baseline rows/s on each database; product peak RSS < 500 MB.
The table goes to stdout, progress to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import pickle
import platform
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal, cast

import pandas as pd
import psycopg
from _support import (
    FINGERPRINT,
    READINGS_INTERVAL,
    READINGS_SEED,
    READINGS_SIGNAL,
    READINGS_START,
    PostgresScratch,
    Scratch,
    SqliteScratch,
    current_rss_mb,
    log,
    peak_rss_mb,
    same_data,
    seed_parents,
    verdict,
)
from sqlalchemy import Engine

from app.db import Database, check_connection
from app.db.migrate import upgrade
from app.generator import generate_chunks
from app.ingest import copy_text, iso_strings, write_sensor_readings
from settings import load_settings

Dialect = Literal["sqlite", "postgresql"]
Kind = Literal["product", "baseline", "resend"]

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

RATIO_TARGET = 0.7
PEAK_RSS_TARGET_MB = 500.0

SQLITE_INSERT = "INSERT INTO sensor_readings (sensor_id, ts, value) VALUES (?, ?, ?)"
PG_COPY = "COPY sensor_readings (sensor_id, ts, value) FROM STDIN"


def make_frames(rows: int, sensors: int) -> list[pd.DataFrame]:
    """``rows`` readings over sensor ids 1..``sensors``, one a minute, as generator frames."""
    per_sensor, extra = divmod(rows, sensors)
    frames: list[pd.DataFrame] = []
    for sensor_id in range(1, sensors + 1):
        count = per_sensor + (1 if sensor_id <= extra else 0)
        if count:
            end = READINGS_START + count * READINGS_INTERVAL
            frames.extend(generate_chunks(READINGS_SIGNAL, sensor_id, READINGS_START, end,
                                          READINGS_INTERVAL, seed=READINGS_SEED))
    return frames


# -- scratch databases ----------------------------------------------------------------------


# -- one measurement (runs in a spawned child) ----------------------------------------------


@dataclass(frozen=True)
class Task:
    kind: Kind
    url: str
    home: str
    frames_path: str


@dataclass(frozen=True)
class Sample:
    kind: Kind
    seconds: float
    rows_stored: int
    fingerprint: tuple[Any, ...]
    rss_before_mb: float
    peak_rss_mb: float
    merged_chunks: int | None


def driver_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with naive-UTC ``datetime64[us]`` timestamps, the form the text encoders take."""
    ts = frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
    return frame.assign(ts=ts)


def baseline_sqlite(engine: Engine, frames: Sequence[pd.DataFrame]) -> None:
    """One ``executemany`` of a plain INSERT over all rows, one transaction."""

    def rows(frame: pd.DataFrame) -> Iterator[tuple[int, str, float]]:
        frame = driver_frame(frame)
        ts = iso_strings(frame["ts"].to_numpy())
        return zip(frame["sensor_id"].tolist(), ts, frame["value"].tolist())

    raw = engine.raw_connection()
    try:
        connection = cast(sqlite3.Connection, raw.driver_connection)
        cursor = connection.cursor()
        cursor.executemany(SQLITE_INSERT, itertools.chain.from_iterable(map(rows, frames)))
        cursor.close()
        connection.commit()
    finally:
        raw.close()


def baseline_postgresql(engine: Engine, frames: Sequence[pd.DataFrame]) -> None:
    """One ``COPY FROM STDIN`` of all rows in the product's text format, one transaction."""
    raw = engine.raw_connection()
    try:
        connection = cast("psycopg.Connection[Any]", raw.driver_connection)
        with connection.cursor() as cursor, cursor.copy(PG_COPY) as copy:
            for frame in frames:
                copy.write(copy_text(driver_frame(frame)))
        connection.commit()
    finally:
        raw.close()


BASELINES: dict[str, Callable[[Engine, Sequence[pd.DataFrame]], None]] = {
    "sqlite": baseline_sqlite,
    "postgresql": baseline_postgresql,
}


def measure(task: Task) -> Sample:
    """Load the frames, connect, then time one ingest of them into ``task.url``."""
    with open(task.frames_path, "rb") as handle:
        frames: list[pd.DataFrame] = pickle.load(handle)
    settings = load_settings(home=task.home, database__url=task.url)
    db = Database(settings)
    chunk_rows = settings.ingest.chunk_rows
    try:
        check_connection(db.engine)  # the pool holds a live connection before the clock starts
        if task.kind == "resend":
            write_sensor_readings(db.engine, frames, chunk_rows=chunk_rows)
        gc.collect()
        rss_before = current_rss_mb()
        merged: int | None = None
        start = time.perf_counter()
        if task.kind == "baseline":
            BASELINES[db.dialect](db.engine, frames)
        else:
            merged = write_sensor_readings(db.engine, frames, chunk_rows=chunk_rows).merged_chunks
        seconds = time.perf_counter() - start
        peak = peak_rss_mb()
        with db.engine.connect() as conn:
            fingerprint = tuple(conn.execute(FINGERPRINT).one())
    finally:
        db.engine.dispose()
    return Sample(task.kind, seconds, fingerprint[0], fingerprint, rss_before, peak, merged)


def run_in_child(task: Task) -> Sample:
    """:func:`measure` in a fresh spawned interpreter, so its peak RSS is its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(measure, task).result()


# -- the benchmark --------------------------------------------------------------------------


def prepare(scratch: Scratch, sensors: int) -> None:
    """Fill the template: the schema at head plus the readings' parent rows."""
    db = Database(load_settings(home=scratch.workdir, database__url=scratch.template()))
    try:
        upgrade(db.engine)
        seed_parents(db, sensors)
    finally:
        db.engine.dispose()  # nothing may hold the template open while it is copied


def bench_database(
    scratch: Scratch, sensors: int, frames_path: Path, rows: int, repeats: int
) -> dict[Kind, list[Sample]]:
    prepare(scratch, sensors)
    samples: dict[Kind, list[Sample]] = {"product": [], "baseline": [], "resend": []}
    reference: tuple[Any, ...] | None = None
    for rep in range(repeats):
        pair: tuple[Kind, Kind] = ("product", "baseline")
        order: tuple[Kind, ...] = (*(pair if rep % 2 == 0 else pair[::-1]), "resend")
        for kind in order:
            with scratch.fresh() as url:
                sample = run_in_child(Task(kind, url, str(scratch.workdir), str(frames_path)))
            if sample.rows_stored != rows:
                raise RuntimeError(
                    f"{scratch.dialect} {kind}: {sample.rows_stored} rows stored, expected {rows}"
                )
            reference = reference or sample.fingerprint
            if not same_data(sample.fingerprint, reference):
                raise RuntimeError(
                    f"{scratch.dialect} {kind}: stored data {sample.fingerprint} differs from "
                    f"{reference}"
                )
            samples[kind].append(sample)
            log(
                f"  {scratch.dialect:<10} {kind:<8} run {rep + 1}: {sample.seconds:7.2f} s, "
                f"{rows / sample.seconds:>10,.0f} rows/s, peak {sample.peak_rss_mb:.0f} MB"
            )
    return samples


def best_seconds(runs: Sequence[Sample]) -> float:
    return min(sample.seconds for sample in runs)


def summarise(dialect: str, samples: dict[Kind, list[Sample]], rows: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for kind, runs in samples.items():
        best = best_seconds(runs)
        figures[f"{dialect}_{kind}_s"] = round(best, 3)
        figures[f"{dialect}_{kind}_runs_s"] = [round(sample.seconds, 3) for sample in runs]
        figures[f"{dialect}_{kind}_rows_per_s"] = round(rows / best)
        figures[f"{dialect}_{kind}_peak_rss_mb"] = round(max(s.peak_rss_mb for s in runs), 1)
        figures[f"{dialect}_{kind}_rss_before_mb"] = round(max(s.rss_before_mb for s in runs), 1)
    figures[f"{dialect}_resend_merged_chunks"] = samples["resend"][-1].merged_chunks
    # product rows/s over baseline rows/s, from the unrounded best times
    ratio = best_seconds(samples["baseline"]) / best_seconds(samples["product"])
    figures[f"{dialect}_ratio"] = round(ratio, 3)
    return figures


def report(dialects: Sequence[str], figures: dict[str, Any]) -> dict[str, str]:
    """Print the table and the targets; return the verdicts."""
    labels = {"product": "product", "baseline": "baseline", "resend": "re-send (merge)"}
    print()
    print(f"{'database':<11}{'path':<17}{'best s':>8}{'rows/s':>12}  {'runs s':<24}{'peak MB':>8}")
    for dialect in dialects:
        for kind, label in labels.items():
            runs = ", ".join(f"{s:.2f}" for s in figures[f"{dialect}_{kind}_runs_s"])
            print(
                f"{dialect:<11}{label:<17}{figures[f'{dialect}_{kind}_s']:>8.2f}"
                f"{figures[f'{dialect}_{kind}_rows_per_s']:>12,}  {runs:<24}"
                f"{figures[f'{dialect}_{kind}_peak_rss_mb']:>8.0f}"
            )
    print()
    verdicts: dict[str, str] = {}
    for dialect in dialects:
        ratio = figures[f"{dialect}_ratio"]
        key = f"{dialect}_ratio"
        verdicts[key] = verdict(ratio >= RATIO_TARGET)
        print(
            f"{verdicts[key]}  {dialect} product/baseline = {ratio:.2f} "
            f"(target >= {RATIO_TARGET})"
        )
    peak = figures["peak_rss_mb"]
    verdicts["peak_rss_mb"] = verdict(peak < PEAK_RSS_TARGET_MB)
    print(
        f"{verdicts['peak_rss_mb']}  product peak RSS = {peak:.0f} MB "
        f"(target < {PEAK_RSS_TARGET_MB:.0f} MB)"
    )
    return verdicts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="readings to ingest")
    parser.add_argument("--sensors", type=int, default=10, help="sensors the rows are spread over")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TWIN_TEST_POSTGRES_URL") or DEFAULT_PG_URL,
        help="server to create the throwaway databases on (its own database is not touched)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (best kept)")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.sensors < 1 or args.repeats < 1:
        parser.error("--rows, --sensors and --repeats must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A terminated run still drops its databases and temporary files (the finally blocks).
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    dialects: list[Dialect] = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    figures: dict[str, Any] = {
        "benchmark": "ingest",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows": args.rows,
        "sensors": args.sensors,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with tempfile.TemporaryDirectory(prefix="twin_bench_") as tmp:
        workdir = Path(tmp)
        log(f"generating {args.rows:,} readings ({args.sensors} sensors, one a minute)...")
        frames = make_frames(args.rows, args.sensors)
        frames_path = workdir / "frames.pkl"
        with open(frames_path, "wb") as handle:
            pickle.dump(frames, handle, protocol=pickle.HIGHEST_PROTOCOL)
        del frames
        for dialect in dialects:
            scratch: Scratch = (
                SqliteScratch(workdir)
                if dialect == "sqlite"
                else PostgresScratch(workdir, args.postgres_url)
            )
            log(f"{dialect}:")
            try:
                samples = bench_database(scratch, args.sensors, frames_path, args.rows, args.repeats)
            finally:
                scratch.close()
            figures.update(summarise(dialect, samples, args.rows))
    figures["peak_rss_mb"] = max(figures[f"{d}_product_peak_rss_mb"] for d in dialects)
    figures["targets"] = report(dialects, figures)
    figures["pass"] = all(v == "PASS" for v in figures["targets"].values())
    print(json.dumps(figures, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
