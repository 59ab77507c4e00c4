"""CSV import benchmark: ``app.importer.import_sensors`` on a file of sensor readings.

Usage::

    .venv/bin/python bench/importer.py [--rows 1000000] [--sensors 5] [--db sqlite|postgresql]
                                       [--postgres-url URL]

Writes a CSV of ``--rows`` readings (``--sensors`` sensors, one a minute, naive UK clock times as
a historian exports them, so the hour the clocks skip is refused) into a temporary data home,
then times, on a fresh migrated database: the first import (parse, check, store through the bulk
path, refresh the hourly rollups), and the same file again (the idempotent re-import). Prints
the rows per second of each and the process's peak RSS; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from app.db import Database
from app.db.migrate import upgrade
from app.db.models import Asset, Sensor, Site, Supplier
from app.importer import import_sensors
from settings import load_settings


def plant(database: Database, sensors: int) -> tuple[int, list[int]]:
    """A supplier with one site, one asset and ``sensors`` sensors: its id and theirs."""
    with database.Session() as session, session.begin():
        supplier = Supplier(name="Bench Energy")
        session.add(supplier)
        session.flush()
        site = Site(supplier_id=supplier.id, name="Bench site")
        session.add(site)
        session.flush()
        asset = Asset(site_id=site.id, name="Turbine 1", asset_type="drivetrain", parameters={})
        session.add(asset)
        session.flush()
        found = [Sensor(asset_id=asset.id, name=f"sensor{i}", unit="Nm") for i in range(sensors)]
        session.add_all(found)
        session.flush()
        return supplier.id, [s.id for s in found]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sensors", type=int, default=5)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/twin_bench_import")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="twin-bench-import-"))
    overrides = {"database__url": args.postgres_url} if args.db == "postgresql" else {}
    settings = load_settings(environ={}, home=str(home), **overrides)
    database = Database(settings)
    upgrade(database.engine)
    supplier_id, sensor_ids = plant(database, args.sensors)
    per = args.rows // args.sensors
    times = pd.date_range("2024-03-01", periods=per, freq="min").strftime("%Y-%m-%d %H:%M:%S")
    path = home / "readings.csv"
    started = time.monotonic()
    with path.open("w") as handle:
        handle.write("sensor_id,ts,value\n")
        for sensor in sensor_ids:
            values = np.random.default_rng(sensor).normal(50, 5, per).round(3)
            pd.DataFrame({"s": sensor, "t": times, "v": values}).to_csv(handle, header=False, index=False)
    print(f"wrote {per * args.sensors:,} rows ({path.stat().st_size / 1e6:.1f} MB) in "
          f"{time.monotonic() - started:.1f} s", file=sys.stderr)
    figures = {"db": args.db, "rows": per * args.sensors}
    for label in ("first", "again"):
        report = import_sensors(database, path, supplier_id=supplier_id,
                                chunk_rows=settings.ingest.chunk_rows)
        rate = report.lines / report.seconds
        figures[label] = {"seconds": report.seconds, "rows_per_s": round(rate),
                          "stored": report.stored, "refused": report.refused_rows}
        print(f"{label:>6}: {report.summary()} in {report.seconds:.2f} s = {rate:,.0f} rows/s")
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"peak RSS {figures['peak_rss_mb']} MB")
    database.engine.dispose()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
