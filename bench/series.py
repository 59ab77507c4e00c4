"""Plot-series benchmark: the asset page's year and day views of three 1-minute sensors.

Usage::

    .venv/bin/python bench/series.py [--db postgresql|sqlite|both] [--days 365]
                                     [--total-readings 10000000] [--repeats 30]
                                     [--postgres-url URL]

Setup (timed and printed, not a target), on the bench's own database (a SQLite file in a
temporary directory; a PostgreSQL database ``twin_bench_series_<pid>_template``, the database in
the URL is never touched), built by ``_support.build_plant``: the product's migrations; one
drivetrain (3 sensors) plus as many filler sensors as bring the table to ``--total-readings``,
each with a reading a minute for ``--days`` days, written with
:func:`app.ingest.write_sensor_readings`; ``VACUUM ANALYZE``; then
:func:`app.series.refresh_rollups` of every sensor (timed), and a year of one calculation of
the drivetrain written with :func:`app.pipeline.write_calculations`.

Measured, ``--repeats`` times after one warm-up, as the asset page's callback runs them (one
after the other, in this process): a "page" is :func:`app.series.load_series` of the three
sensors over the whole range (year view) or over one day in the middle (day zoom), at most 2,000
points each. Also: :func:`app.series.load_calculation` over the year and a day (no rollups:
aggregated by hour in the database on each call), and, once, the raw read of one sensor's year
that the rollups avoid. Targets: year page p95 < 300 ms, day page p95 < 150 ms, <= 2,000 points
a trace. The table goes to stdout, progress to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from _support import PLANT_CALCULATION as CALCULATION
from _support import PLANT_START as START
from _support import (
    PostgresScratch,
    Scratch,
    SqliteScratch,
    bench_settings,
    build_plant,
    log,
    verdict,
)

from app import series
from app.db import Database

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MAX_POINTS = 2000
YEAR_TARGET_S = 0.300
DAY_TARGET_S = 0.150


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def timed(call: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    """Seconds of each of ``repeats`` calls after one warm-up, and the last result."""
    result = call()
    seconds = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def measure(db: Database, asset_id: int, sensor_ids: list[int], days: int,
            repeats: int) -> dict[str, Any]:
    end = START + timedelta(days=days)
    middle = START + timedelta(days=days // 2)
    figures: dict[str, Any] = {}

    def page(start: datetime, stop: datetime) -> Callable[[], list[series.Series]]:
        return lambda: [series.load_series(db, sensor, start, stop, max_points=MAX_POINTS)
                        for sensor in sensor_ids]

    for name, (start, stop) in {"year": (START, end), "day": (middle, middle + timedelta(days=1))}.items():
        seconds, traces = timed(page(start, stop), repeats)
        figures[f"{name}_page_p50_s"] = percentile(seconds, 50)
        figures[f"{name}_page_p95_s"] = percentile(seconds, 95)
        figures[f"{name}_points"] = max(len(trace) for trace in traces)
        figures[f"{name}_resolution"] = traces[0].resolution
        figures[f"{name}_raw_points"] = traces[0].raw_points
        seconds, calc = timed(lambda start=start, stop=stop: series.load_calculation(
            db, asset_id, CALCULATION, start, stop, max_points=MAX_POINTS), max(3, repeats // 5))
        figures[f"{name}_calculation_p50_s"] = percentile(seconds, 50)
        figures[f"{name}_calculation_points"] = len(calc)
        figures[f"{name}_calculation_resolution"] = calc.resolution
    source = series._sensor_source(db, sensor_ids[0])
    seconds, (ts, _values) = timed(lambda: series._read_raw(source, START, end), 1)
    figures["raw_year_one_sensor_s"] = seconds[0]
    figures["raw_year_one_sensor_rows"] = len(ts)
    return figures


def run(scratch: Scratch, args: argparse.Namespace, home: Path) -> dict[str, Any]:
    d = scratch.dialect
    log(f"{d}: setup...")
    settings = bench_settings(scratch.template(), str(home / d), secrets.token_hex(32))
    db = Database(settings)
    try:
        plant, timings = build_plant(db, args.days, args.total_readings)
        asset_id, sensor_ids = plant.asset_id, plant.sensor_ids
        log(f"  {timings}")
        log(f"{d}: measuring ({args.repeats} pages of each view)...")
        figures = measure(db, asset_id, sensor_ids, args.days, args.repeats)
    finally:
        db.engine.dispose()
    return {f"{d}_{key}": value for key, value in {**timings, **figures, **scratch.describe()}.items()}


def report(dialects: Sequence[str], figures: dict[str, Any]) -> dict[str, str]:
    rows = (
        ("readings stored", "readings", "{:>16,}"),
        ("setup: write readings s", "write_s", "{:>16.2f}"),
        ("setup: refresh all rollups s", "refresh_all_s", "{:>16.2f}"),
        ("rollup rows", "rollup_rows", "{:>16,}"),
        ("year page (3 sensors) p50 ms", "year_page_p50_s", "ms"),
        ("year page (3 sensors) p95 ms", "year_page_p95_s", "ms"),
        ("day page (3 sensors) p50 ms", "day_page_p50_s", "ms"),
        ("day page (3 sensors) p95 ms", "day_page_p95_s", "ms"),
        ("points a trace, year / day", None, None),
        ("calculation year p50 ms", "year_calculation_p50_s", "ms"),
        ("calculation day p50 ms", "day_calculation_p50_s", "ms"),
        ("raw year, one sensor ms", "raw_year_one_sensor_s", "ms"),
    )
    print()
    print(f"{'':<34}" + "".join(f"{d:>16}" for d in dialects))
    for label, key, fmt in rows:
        cells = []
        for d in dialects:
            if key is None:
                cells.append(f"{figures[f'{d}_year_points']} / {figures[f'{d}_day_points']}".rjust(16))
            elif fmt == "ms":
                cells.append(f"{figures[f'{d}_{key}'] * 1000:>16.1f}")
            else:
                cells.append(fmt.format(figures[f"{d}_{key}"]))
        print(f"{label:<34}" + "".join(cells))
    print()
    verdicts = {}
    for d in dialects:
        checks = (
            (f"{d}_year_page_p95_s", figures[f"{d}_year_page_p95_s"] < YEAR_TARGET_S,
             f"{d} year page p95 {figures[f'{d}_year_page_p95_s'] * 1000:.1f} ms (target < 300 ms)"),
            (f"{d}_day_page_p95_s", figures[f"{d}_day_page_p95_s"] < DAY_TARGET_S,
             f"{d} day page p95 {figures[f'{d}_day_page_p95_s'] * 1000:.1f} ms (target < 150 ms)"),
            (f"{d}_points", max(figures[f"{d}_year_points"], figures[f"{d}_day_points"]) <= MAX_POINTS,
             f"{d} points a trace <= {MAX_POINTS}"),
        )
        for key, ok, line in checks:
            verdicts[key] = verdict(ok)
            print(f"{verdicts[key]}  {line}")
    return verdicts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="postgresql")
    parser.add_argument("--days", type=int, default=365, help="days of 1-minute readings")
    parser.add_argument("--total-readings", type=int, default=10_000_000,
                        help="readings in the table in all (filler sensors make up the rest)")
    parser.add_argument("--repeats", type=int, default=30, help="timed pages of each view")
    parser.add_argument("--postgres-url", default=DEFAULT_PG_URL,
                        help="a PostgreSQL server (its database is not touched)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    dialects = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    figures: dict[str, Any] = {"days": args.days, "total_readings": args.total_readings,
                               "repeats": args.repeats}
    with tempfile.TemporaryDirectory(prefix="twin-bench-series-") as tmp:
        home = Path(tmp)
        for d in dialects:
            scratch: Scratch = (PostgresScratch(home, args.postgres_url, prefix="twin_bench_series")
                                if d == "postgresql" else SqliteScratch(home))
            try:
                figures.update(run(scratch, args, home))
            finally:
                scratch.close()
    verdicts = report(dialects, figures)
    print(json.dumps({**figures, "verdicts": verdicts}, default=str))
    return 0 if all(v == "PASS" for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
