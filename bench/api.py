"""REST API ingestion benchmark: sensor readings posted through the served API against the
bulk path called directly, on PostgreSQL.

Usage::

    .venv/bin/python bench/api.py [--rows 1000000] [--batch 10000] [--connections 1,2]
                                  [--postgres-url URL] [--repeats 3]

The readings (``--sensors`` sensors, one reading a minute each, ``--rows`` in all, in time
order with every sensor's reading of a minute together, as a plant's gateway sends them) are
generated once, before anything is timed, and cut into batches of ``--batch`` rows. Every batch's
request body is serialised to JSON bytes up front, so the client's encoding is not timed. Each
measurement runs on a fresh copy of a migrated template database (the plant's supplier, site,
asset and sensors, and one write token) and is timed to the last committed row:

* ``direct``: :func:`app.ingest.write_sensor_readings` called once on the engine with all the
  rows, in its default 100,000-row chunks, each committed on its own (as ``bench/ingest.py``
  calls it), in a spawned child.
* ``direct_10k``: the same function called once per batch, each batch in its own transaction
  (``engine.begin()``, ``chunk_rows`` = the batch): the database work a request does, without
  HTTP, JSON or validation. In a spawned child.
* ``api_cN``: POST /api/v1/sensor-readings of every batch, over N keep-alive HTTP connections
  (stdlib ``http.client``, one thread each, taking the next batch as they finish one), to the
  portal's own waitress server (:func:`app.cli.web_server`, what ``twin web`` serves) in a
  spawned child, with a write token. Each connection first sends one GET /api/v1/assets (not
  timed), which opens the connection and the server's first database connection.

The measurements alternate order on each repetition; the best time of each is kept. After every
run the stored rows are checked: exactly ``--rows``, and the same data as every other run
(count, sensors, min/max ts, sum of values). Every API response must be 201 with ``stored`` =
the batch's rows: a 429 (rate limit) or any error fails the run.

Target (issue #8): the API's rows/s >= 0.5 x the direct path's, measured in the same run.
``api_ratio`` divides the best API rows/s (over the connection counts) by the faster of the two
direct paths. The table goes to stdout, progress to stderr; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import itertools
import json
import math
import os
import pickle
import platform
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _support import (
    FINGERPRINT,
    READINGS_INTERVAL,
    READINGS_SEED,
    READINGS_SIGNAL,
    READINGS_START,
    PortalServer,
    PostgresScratch,
    ServeTask,
    bench_settings,
    current_rss_mb,
    loadavg,
    log,
    peak_rss_mb,
    process_cpu_s,
    run_child,
    same_data,
    seed_parents,
    stats,
    verdict,
)

from app.api_tokens import create_token
from app.db import Database, check_connection
from app.db.migrate import upgrade
from app.generator import generate_chunks
from app.ingest import write_sensor_readings

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ENDPOINT = "/api/v1/sensor-readings"
RATIO_TARGET = 0.5
DIRECT_KINDS = ("direct", "direct_10k")


# -- the data -----------------------------------------------------------------------------------


def make_readings(rows: int, sensors: int) -> pd.DataFrame:
    """``rows`` readings of sensors 1..``sensors``, one a minute each, ordered by time and then
    sensor (a gateway's view of the plant), as the generator's frames (``ts`` tz-aware UTC)."""
    per_sensor = -(-rows // sensors)
    end = READINGS_START + per_sensor * READINGS_INTERVAL
    frames = [frame for sensor_id in range(1, sensors + 1)
              for frame in generate_chunks(READINGS_SIGNAL, sensor_id, READINGS_START, end,
                                           READINGS_INTERVAL, seed=READINGS_SEED)]
    readings = pd.concat(frames, ignore_index=True)
    readings = readings.sort_values(["ts", "sensor_id"], kind="stable", ignore_index=True)
    return readings.iloc[:rows].reset_index(drop=True)


def request_bodies(readings: pd.DataFrame, batch: int) -> list[bytes]:
    """Each batch as the JSON a client sends: ``{"readings": [{"sensor_id", "ts", "value"}]}``,
    ``ts`` in ISO 8601 with the UTC offset ``Z``, ``value`` as Python's shortest round-trip
    repr (so the API stores exactly the direct path's floats)."""
    utc = readings["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
    if (utc.astype(np.int64) % 1_000_000).any():
        raise ValueError("the readings' times must be whole seconds (they are sent as such)")
    stamps = np.datetime_as_string(utc, unit="s")
    ids = readings["sensor_id"].tolist()
    values = readings["value"].tolist()
    bodies = []
    for start in range(0, len(readings), batch):
        rows = [{"sensor_id": ids[i], "ts": f"{stamps[i]}Z", "value": values[i]}
                for i in range(start, min(start + batch, len(readings)))]
        bodies.append(json.dumps({"readings": rows}).encode())
    return bodies


@dataclass(frozen=True)
class Template:
    supplier_id: int
    token: str


def prepare(scratch: PostgresScratch, home: str, sensors: int) -> Template:
    """Fill the template: the schema at head, the plant (supplier, site, asset, sensors with
    ids 1..``sensors``) and a write token of its supplier."""
    db = Database(bench_settings(scratch.template(), home, secrets.token_hex(32)))
    try:
        upgrade(db.engine)
        supplier_id = seed_parents(db, sensors)
        with db.Session() as session, session.begin():
            _, token = create_token(session, supplier_id=supplier_id, actor_id=None,
                                    name="bench gateway", scope="write")
    finally:
        db.engine.dispose()  # nothing may hold the template open while it is copied
    return Template(supplier_id, token)


def machine_busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine since boot (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def busy_cores_since(before: tuple[int, int]) -> float:
    """How many of the machine's cores were busy, on average, since ``before`` (everyone's
    work: this benchmark's processes, PostgreSQL's and any other)."""
    busy, total = machine_busy_jiffies()
    return (os.cpu_count() or 1) * (busy - before[0]) / max(1, total - before[1])


class BackendCpu:
    """CPU seconds used by the PostgreSQL backends of one database (read from /proc: the
    server must run on this machine), not counting this monitor's own connection nor the
    server's shared processes (WAL writer, checkpointer)."""

    def __init__(self, url: str) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn = psycopg.connect(dsn, autocommit=True)

    def snapshot(self) -> dict[int, float]:
        pids = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()").fetchall()
        return {pid: process_cpu_s(pid) or 0.0 for (pid,) in pids}

    def since(self, before: dict[int, float]) -> float:
        """CPU seconds since ``before`` (a backend that connected since counts in full)."""
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in self.snapshot().items())

    def close(self) -> None:
        self._conn.close()


def fingerprint(url: str, home: str) -> tuple[Any, ...]:
    db = Database(bench_settings(url, home, "-"))
    try:
        with db.engine.connect() as conn:
            return tuple(conn.execute(FINGERPRINT).one())
    finally:
        db.engine.dispose()


# -- the direct path (in a spawned child) ---------------------------------------------------------


@dataclass(frozen=True)
class DirectTask:
    kind: str
    url: str
    home: str
    readings_path: str
    batch: int


def measure_direct(task: DirectTask) -> dict[str, Any]:
    """Load the readings, connect, then time one ingest of them into ``task.url``."""
    with open(task.readings_path, "rb") as handle:
        readings: pd.DataFrame = pickle.load(handle)
    settings = bench_settings(task.url, task.home, "-")
    db = Database(settings)
    backends = BackendCpu(task.url)
    try:
        check_connection(db.engine)  # the pool holds a live connection before the clock starts
        batches = [readings.iloc[i:i + task.batch] for i in range(0, len(readings), task.batch)]
        gc.collect()
        rss_before = current_rss_mb()
        pg0, busy0 = backends.snapshot(), machine_busy_jiffies()
        cpu0, t0 = time.process_time(), time.perf_counter()
        if task.kind == "direct":
            write_sensor_readings(db.engine, readings, chunk_rows=settings.ingest.chunk_rows)
        else:
            for batch in batches:  # what the API view does with one request's rows
                with db.engine.begin() as conn:
                    write_sensor_readings(conn, batch, chunk_rows=task.batch)
        seconds = time.perf_counter() - t0
        cpu, busy = time.process_time() - cpu0, busy_cores_since(busy0)
        postgres_cpu = backends.since(pg0)
    finally:
        backends.close()
        db.engine.dispose()
    return {"seconds": seconds, "cpu_s": cpu, "postgres_cpu_s": postgres_cpu,
            "machine_busy_cores": busy, "rss_before_mb": rss_before, "peak_rss_mb": peak_rss_mb(),
            "chunk_rows": settings.ingest.chunk_rows if task.kind == "direct" else task.batch}


# -- the API path ---------------------------------------------------------------------------------


class ApiClient:
    """Keep-alive HTTP connections to the API, each opened with one GET /api/v1/assets (the
    server's first requests also open its database connections)."""

    def __init__(self, port: int, token: str, connections: int) -> None:
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                            for _ in range(connections)]
        for connection in self.connections:
            connection.request("GET", "/api/v1/assets", headers=self.headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"GET /api/v1/assets: HTTP {answer.status}")

    def post_all(self, bodies: Sequence[bytes], rows: Sequence[int]) -> tuple[float, list[float]]:
        """POST every body, the connections sending at once, each taking the next body when it
        has its answer; the seconds from the first request to the last answer, and each
        request's round trip. Every answer must be 201 and have stored the batch's rows."""
        latencies: list[float] = [math.nan] * len(bodies)
        failures: list[str] = []
        queue = itertools.count()  # next() on it is atomic: each batch goes to one connection
        start = threading.Barrier(len(self.connections) + 1)

        def send(connection: http.client.HTTPConnection) -> None:
            start.wait()
            try:
                for i in queue:
                    if i >= len(bodies) or failures:
                        return
                    t0 = time.perf_counter()
                    connection.request("POST", ENDPOINT, body=bodies[i], headers=self.headers)
                    answer = connection.getresponse()
                    payload = answer.read()
                    latencies[i] = time.perf_counter() - t0
                    if answer.status != 201 or json.loads(payload)["stored"] != rows[i]:
                        failures.append(f"batch {i}: HTTP {answer.status}: {payload[:300]!r}")
            except Exception as exc:  # noqa: BLE001 - reported by the main thread
                failures.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=send, args=(c,), name=f"client{n}", daemon=True)
                   for n, c in enumerate(self.connections)]
        for thread in threads:
            thread.start()
        start.wait()
        t0 = time.perf_counter()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - t0
        if failures:
            raise RuntimeError(f"{len(failures)} request(s) failed; first: {failures[0]}")
        return seconds, latencies

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


def measure_api(url: str, home: str, token: str, bodies: Sequence[bytes], rows: Sequence[int],
                connections: int) -> dict[str, Any]:
    """Serve the portal on ``url`` in a fresh web process and post every batch to it."""
    server = PortalServer(ServeTask(url, home, secrets.token_hex(32)))
    backends = BackendCpu(url)
    try:
        rss_start = server.rss_mb()
        client = ApiClient(server.port, token, connections)
        try:
            pg0, web_cpu0, client_cpu0 = backends.snapshot(), server.cpu_s(), time.process_time()
            busy0 = machine_busy_jiffies()
            seconds, latencies = client.post_all(bodies, rows)
            busy = busy_cores_since(busy0)
            web_cpu, client_cpu = server.cpu_s(), time.process_time() - client_cpu0
            postgres_cpu = backends.since(pg0)
        finally:
            client.close()
        peak = server.peak_rss_mb()
    finally:
        backends.close()
        server.stop()
    return {"seconds": seconds, "latencies": latencies, "postgres_cpu_s": postgres_cpu,
            "web_cpu_s": None if web_cpu is None or web_cpu0 is None else web_cpu - web_cpu0,
            "client_cpu_s": client_cpu, "machine_busy_cores": busy,
            "web_rss_start_mb": rss_start, "web_peak_rss_mb": peak}


# -- the benchmark --------------------------------------------------------------------------------


@dataclass
class Results:
    samples: dict[str, list[dict[str, Any]]]  # by kind, in the order they ran
    database: dict[str, Any]  # the server's version and settings, the template's size
    stored: dict[str, Any]  # what every run stored


def run_all(args: argparse.Namespace, workdir: Path) -> Results:
    log(f"generating {args.rows:,} readings ({args.sensors} sensors, one a minute)...")
    readings = make_readings(args.rows, args.sensors)
    readings_path = workdir / "readings.pkl"
    with open(readings_path, "wb") as handle:
        pickle.dump(readings, handle, protocol=pickle.HIGHEST_PROTOCOL)
    t0 = time.perf_counter()
    bodies = request_bodies(readings, args.batch)
    rows = [min(args.batch, args.rows - i) for i in range(0, args.rows, args.batch)]
    log(f"  {len(bodies)} request bodies, {sum(map(len, bodies)) / 2**20:.1f} MiB of JSON, "
        f"serialised in {time.perf_counter() - t0:.1f} s (not timed)")
    del readings
    kinds = [*DIRECT_KINDS, *(f"api_c{n}" for n in args.connections)]
    samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    scratch = PostgresScratch(workdir, args.postgres_url, prefix="twin_bench_api")
    home = str(workdir)
    reference: tuple[Any, ...] | None = None
    try:
        template = prepare(scratch, home, args.sensors)
        database = scratch.describe()
        for rep in range(args.repeats):
            for kind in kinds if rep % 2 == 0 else kinds[::-1]:
                with scratch.fresh() as url:
                    if kind in DIRECT_KINDS:
                        sample = run_child(measure_direct, DirectTask(
                            kind, url, home, str(readings_path), args.batch))
                    else:
                        sample = measure_api(url, home, template.token, bodies, rows,
                                             int(kind.removeprefix("api_c")))
                    stored = fingerprint(url, home)
                if stored[0] != args.rows:
                    raise RuntimeError(f"{kind}: {stored[0]} rows stored, expected {args.rows}")
                reference = reference or stored
                if not same_data(stored, reference):
                    raise RuntimeError(f"{kind}: stored data {stored} differs from {reference}")
                samples[kind].append(sample)
                log(f"  {kind:<11} run {rep + 1}: {sample['seconds']:6.2f} s, "
                    f"{args.rows / sample['seconds']:>9,.0f} rows/s")
    finally:
        scratch.close()
    assert reference is not None
    return Results(samples, database, {"rows": reference[0], "sensors": reference[1],
                                       "min_ts": reference[2], "max_ts": reference[3],
                                       "sum_value": float(reference[4])})


def summarise(results: Results, args: argparse.Namespace) -> dict[str, Any]:
    samples = results.samples
    figures: dict[str, Any] = {"database": results.database, "stored": results.stored}
    best: dict[str, dict[str, Any]] = {}
    for kind in [*DIRECT_KINDS, *(f"api_c{n}" for n in args.connections)]:
        runs = samples[kind]
        best[kind] = min(runs, key=lambda s: s["seconds"])
        figures[f"{kind}_s"] = round(best[kind]["seconds"], 3)
        figures[f"{kind}_runs_s"] = [round(s["seconds"], 3) for s in runs]
        figures[f"{kind}_rows_per_s"] = round(args.rows / best[kind]["seconds"])
        figures[f"{kind}_postgres_cpu_s"] = round(best[kind]["postgres_cpu_s"], 2)
        figures[f"{kind}_machine_busy_cores"] = round(best[kind]["machine_busy_cores"], 2)
    for kind in DIRECT_KINDS:
        figures[f"{kind}_cpu_s"] = round(best[kind]["cpu_s"], 2)
        figures[f"{kind}_peak_rss_mb"] = round(max(s["peak_rss_mb"] for s in samples[kind]))
    figures["direct_chunk_rows"] = best["direct"]["chunk_rows"]
    faster = min(DIRECT_KINDS, key=lambda k: best[k]["seconds"])
    figures["direct_reference"] = faster
    for n in args.connections:
        kind = f"api_c{n}"
        run = best[kind]
        figures.update({
            f"{kind}_ratio": round(best[faster]["seconds"] / run["seconds"], 3),
            f"{kind}_to_direct_10k_ratio": round(best["direct_10k"]["seconds"] / run["seconds"], 3),
            **{f"{kind}_request_{k}": v for k, v in stats(run["latencies"]).items()},
            f"{kind}_web_cpu_s": run["web_cpu_s"] and round(run["web_cpu_s"], 2),
            f"{kind}_client_cpu_s": round(run["client_cpu_s"], 2),
            f"{kind}_web_rss_start_mb": run["web_rss_start_mb"] and round(run["web_rss_start_mb"]),
            f"{kind}_web_peak_rss_mb": round(max(s["web_peak_rss_mb"] or 0 for s in samples[kind])),
        })
    best_api = max((f"api_c{n}" for n in args.connections), key=lambda k: figures[f"{k}_ratio"])
    figures["api_best"] = best_api
    figures["api_ratio"] = figures[f"{best_api}_ratio"]
    return figures


def report(figures: dict[str, Any], args: argparse.Namespace) -> dict[str, str]:
    """Print the tables and the target; return the verdict."""
    labels = {"direct": f"direct, one call ({figures['direct_chunk_rows']:,}-row chunks)",
              "direct_10k": f"direct, {args.batch:,}-row transactions",
              **{f"api_c{n}": f"API, {n} connection{'s' if n > 1 else ''}"
                 for n in args.connections}}
    print()
    print(f"{'path':<39}{'best s':>7}{'rows/s':>10}  {'runs s':<20}{'request p50/p95 ms':>19}"
          f"{'Python CPU s':>13}{'PG CPU s':>9}{'busy cores':>11}")
    for kind, label in labels.items():
        runs = ", ".join(f"{s:.2f}" for s in figures[f"{kind}_runs_s"])
        latency = (f"{figures[f'{kind}_request_p50_ms']:.0f} / "
                   f"{figures[f'{kind}_request_p95_ms']:.0f}" if kind.startswith("api") else "")
        cpu = figures.get(f"{kind}_web_cpu_s", figures.get(f"{kind}_cpu_s"))
        print(f"{label:<39}{figures[f'{kind}_s']:>7.2f}{figures[f'{kind}_rows_per_s']:>10,}  "
              f"{runs:<20}{latency:>19}{cpu if cpu is not None else '':>13}"
              f"{figures[f'{kind}_postgres_cpu_s']:>9}{figures[f'{kind}_machine_busy_cores']:>11}")
    print("Python CPU: the direct path's process or the API's web process; PG CPU: the database's "
          "backends;\nbusy cores: the whole machine's, of "
          f"{os.cpu_count()}; all three in the best run.")
    print()
    for n in args.connections:
        kind = f"api_c{n}"
        print(f"{labels[kind]}: web process RSS {figures[f'{kind}_web_rss_start_mb']} MB at "
              f"start, peak {figures[f'{kind}_web_peak_rss_mb']} MB; client CPU "
              f"{figures[f'{kind}_client_cpu_s']} s")
    print()
    reference = labels[figures["direct_reference"]]
    for n in args.connections:
        ratio = figures[f"api_c{n}_ratio"]
        print(f"{verdict(ratio >= RATIO_TARGET)}  {labels[f'api_c{n}']}: API rows/s / direct "
              f"rows/s = {ratio:.3f} (against {reference})")
    ok = verdict(figures["api_ratio"] >= RATIO_TARGET)
    print(f"{ok}  target: api_ratio = {figures['api_ratio']:.3f} "
          f"({labels[figures['api_best']]}; target >= {RATIO_TARGET})")
    return {"api_ratio": ok}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="readings to post")
    parser.add_argument("--sensors", type=int, default=10, help="sensors the rows are spread over")
    parser.add_argument("--batch", type=int, default=10_000, help="rows per request (<= 10,000)")
    parser.add_argument("--connections", default="1,2",
                        help="comma-separated numbers of concurrent client connections")
    parser.add_argument("--postgres-url",
                        default=os.environ.get("TWIN_TEST_POSTGRES_URL") or DEFAULT_PG_URL,
                        help="server to create the throwaway databases on (its own database is "
                             "not touched)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (best kept)")
    args = parser.parse_args(argv)
    args.connections = [int(n) for n in args.connections.split(",")]
    if args.rows < 1 or args.sensors < 1 or args.repeats < 1 or min(args.connections) < 1:
        parser.error("--rows, --sensors, --repeats and --connections must be positive")
    if not 1 <= args.batch <= 10_000:
        parser.error("--batch must be 1 to 10,000 (the API's limit)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A terminated run still stops the web process and drops its databases (the finally blocks).
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    figures: dict[str, Any] = {
        "benchmark": "api", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": args.rows, "sensors": args.sensors, "batch": args.batch,
        "requests": -(-args.rows // args.batch), "connections": args.connections,
        "repeats": args.repeats, "cpus": os.cpu_count(), "python": platform.python_version(),
        "loadavg_start": loadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="twin_bench_api_") as tmp:
        results = run_all(args, Path(tmp))
    figures.update(summarise(results, args))
    figures["loadavg_end"] = loadavg()
    verdicts = report(figures, args)
    print(f"\nload average (1, 5, 15 min): {figures['loadavg_start']} at the start, "
          f"{figures['loadavg_end']} at the end, on {figures['cpus']} CPUs")
    print(json.dumps({**figures, "targets": verdicts,
                      "pass": all(v == "PASS" for v in verdicts.values())}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
