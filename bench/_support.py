"""What the benchmarks share: progress lines, PASS/MISS, timings and memory readings, spawned
children, scratch databases (a template and a fresh copy of it per measured run), a bench
database that ``--keep`` leaves in place, the plant of 10M sensor readings, and the real web app
in a child process with a logged-in client of its Dash endpoint.

The scripts are run as files (``python bench/ingest.py``), so this module is imported from
their own folder as ``_support``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import resource
import secrets
import shutil
import sqlite3
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text, update

from app.db import Database
from app.generator import SignalSpec
from settings import Settings, load_settings


def log(message: str) -> None:
    """A progress line on stderr (stdout carries the figures and the final JSON line)."""
    print(message, file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def stats(samples: Sequence[float]) -> dict[str, float]:
    """p50, p95 (nearest rank) and max of timings in seconds, in ms."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, int(np.ceil(0.95 * len(ordered))) - 1))]
    return {"p50_ms": ms(statistics.median(ordered)), "p95_ms": ms(p95), "max_ms": ms(ordered[-1])}


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages (others' work on the machine shows here)."""
    return [round(x, 2) for x in os.getloadavg()]


def _proc_status_mb(field: str, pid: int | str = "self") -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss where /proc is missing)."""
    peak = _proc_status_mb("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1024 / 1024 if sys.platform == "darwin" else maxrss / 1024


def current_rss_mb() -> float:
    return _proc_status_mb("VmRSS") or peak_rss_mb()


def process_cpu_s(pid: int | str = "self") -> float | None:
    """CPU seconds a process has used (all its threads, user + system; None without /proc):
    unlike wall time, not stretched by other work on the machine."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _child_main(target: Callable[[Any], Any], task: Any, conn: Any) -> None:
    try:
        conn.send((True, target(task)))
    except BaseException:  # noqa: BLE001 - the parent re-raises it with the child's traceback
        conn.send((False, traceback.format_exc()))
    finally:
        conn.close()


def run_children(target: Callable[[Any], Any], tasks: Sequence[Any]) -> list[Any]:
    """``target(task)`` for each task, each in its own spawned interpreter (so its peak RSS is
    its own), all at once. Children still running when this returns or raises (an error,
    SIGTERM) are terminated. Not daemons: joblib refuses process-based loops in a daemonic
    process, and what is measured must run as it does in the product's processes."""
    ctx = get_context("spawn")
    running: list[tuple[Any, Any]] = []
    try:
        for task in tasks:
            receive, send = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_child_main, args=(target, task, send))
            process.start()
            send.close()
            running.append((process, receive))
        results = []
        for process, receive in running:
            try:
                ok, payload = receive.recv()
            except EOFError:
                process.join()
                raise RuntimeError(f"child {process.pid} died (exit code {process.exitcode})") from None
            if not ok:
                raise RuntimeError(f"child {process.pid} failed:\n{payload}")
            results.append(payload)
        for process, _ in running:
            process.join()
        return results
    finally:
        for process, receive in running:
            if process.is_alive():
                process.terminate()
                process.join(10)
            receive.close()


def run_child(target: Callable[[Any], Any], task: Any) -> Any:
    """``target(task)`` in one fresh spawned interpreter (see :func:`run_children`)."""
    return run_children(target, [task])[0]


def _describe_sqlite(path: Path) -> dict[str, Any]:
    size = path.stat().st_size if path.exists() else 0
    return {"sqlite": sqlite3.sqlite_version, "database_mb": round(size / 2**20, 1)}


def _describe_postgres(admin: Any, database: str) -> dict[str, Any]:
    size = admin.execute("SELECT pg_database_size(%s)", (database,)).fetchone()
    settings = dict(admin.execute(
        "SELECT name, setting || COALESCE(unit, '') FROM pg_settings "
        "WHERE name IN ('shared_buffers', 'work_mem', 'synchronous_commit')").fetchall())
    return {"postgres": admin.info.server_version,
            "database_mb": round(size[0] / 2**20, 1) if size and size[0] else None,
            "postgres_settings": settings}


def _postgres_admin(url: str) -> Any:
    """An autocommit connection to the server's ``postgres`` database (to create and drop)."""
    import psycopg
    from sqlalchemy.engine import make_url

    maintenance = make_url(url).set(drivername="postgresql", database="postgres")
    return psycopg.connect(maintenance.render_as_string(hide_password=False), autocommit=True)


class Scratch:
    """A benchmark's databases of one dialect: a template, and a fresh copy of it for each
    measured run, so every run starts from the same state. All are dropped by :meth:`close`
    (also after an error)."""

    dialect: str

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._runs = itertools.count(1)
        self._created: list[str] = []

    def template(self) -> str:
        """Create the (empty) template database and return its URL; fill it before copying."""
        return self._track("template", None)

    @contextmanager
    def fresh(self) -> Iterator[str]:
        """The URL of a new copy of the template, dropped on exit."""
        name = f"run{next(self._runs)}"
        url = self._track(name, "template")
        try:
            yield url
        finally:
            self._drop(name)
            self._created.remove(name)

    def close(self) -> None:
        """Drop whatever is left (the template; runs interrupted by an error)."""
        while self._created:
            self._drop(self._created.pop())

    def describe(self) -> dict[str, Any]:
        """The database's version and the template's size, for the figures."""
        return {}

    def _track(self, name: str, template: str | None) -> str:
        self._create(name, template)
        self._created.append(name)
        return self.url(name)

    def url(self, name: str) -> str:
        raise NotImplementedError

    def _create(self, name: str, template: str | None) -> None:
        raise NotImplementedError

    def _drop(self, name: str) -> None:
        raise NotImplementedError


class SqliteScratch(Scratch):
    """Database files in the work directory; a copy is a file copy (of a checkpointed file)."""

    dialect = "sqlite"

    def _path(self, name: str) -> Path:
        return self.workdir / f"{name}.db"

    def url(self, name: str) -> str:
        return f"sqlite:///{self._path(name)}"

    def _create(self, name: str, template: str | None) -> None:
        if template is not None:
            shutil.copyfile(self._path(template), self._path(name))

    def _drop(self, name: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self._path(name)}{suffix}").unlink(missing_ok=True)

    def describe(self) -> dict[str, Any]:
        return _describe_sqlite(self._path("template"))


class PostgresScratch(Scratch):
    """Databases ``<prefix>_<pid>_<name>`` on the server; a copy is ``CREATE DATABASE ...
    TEMPLATE``. The database named in ``url`` is never touched."""

    dialect = "postgresql"

    def __init__(self, workdir: Path, url: str, prefix: str = "twin_bench") -> None:
        from sqlalchemy.engine import make_url

        super().__init__(workdir)
        self.server = make_url(url).set(drivername="postgresql+psycopg")
        self.prefix = f"{prefix}_{os.getpid()}"
        self._admin = _postgres_admin(url)

    def url(self, name: str) -> str:
        return self.server.set(database=f"{self.prefix}_{name}").render_as_string(hide_password=False)

    def _create(self, name: str, template: str | None) -> None:
        clause = f" TEMPLATE {self.prefix}_{template}" if template else ""
        self._admin.execute(f"CREATE DATABASE {self.prefix}_{name}{clause}")
        if template:
            # Flush the copy's pages now rather than in a checkpoint inside the next timing.
            self._admin.execute("CHECKPOINT")

    def _drop(self, name: str) -> None:
        self._admin.execute(f"DROP DATABASE IF EXISTS {self.prefix}_{name} WITH (FORCE)")

    def describe(self) -> dict[str, Any]:
        return _describe_postgres(self._admin, f"{self.prefix}_template")

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._admin.close()


# -- the ingest benchmarks' readings: one asset's sensors, a reading a minute each ------------

READINGS_START = datetime(2024, 1, 1, tzinfo=UTC)
READINGS_INTERVAL = timedelta(minutes=1)
READINGS_SEED = 20241001
READINGS_SIGNAL = SignalSpec(minimum=200.0, amplitude=800.0, cycles_per_day=1.0, noise_pct=3.0,
                             lower=0.0)
#: What every path must store alike: count, sensors, min ts, max ts, sum of values.
FINGERPRINT = text(
    "SELECT COUNT(*), COUNT(DISTINCT sensor_id), MIN(ts), MAX(ts), SUM(value) FROM sensor_readings"
)


def seed_parents(db: Database, sensors: int) -> int:
    """The supplier, site, asset and sensors (ids 1..``sensors``) the readings refer to; returns
    the supplier's id."""
    from app.db.models import Asset, Sensor, Site, Supplier

    with db.Session() as session, session.begin():
        supplier = Supplier(name="Bench Energy")
        session.add(supplier)
        session.flush()
        site = Site(supplier_id=supplier.id, name="Bench plant")
        asset = Asset(site=site, name="Turbine 1", asset_type="drivetrain", parameters={})
        asset.sensors = [
            Sensor(id=i, name=f"sensor_{i}", unit="kW") for i in range(1, sensors + 1)
        ]
        session.add(site)
        return supplier.id


def same_data(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Equal fingerprints (count, sensors, min ts, max ts; the value sum up to rounding)."""
    return a[:4] == b[:4] and math.isclose(float(a[4]), float(b[4]), rel_tol=1e-9)


# -- one bench database, kept with --keep ------------------------------------------------------

KEEP_MARKER = "bench setup complete "


class BenchDatabase:
    """The one database a benchmark builds and measures on: ``<prefix>_<pid>``, dropped by
    :meth:`close` (also after an error); or, with ``keep``, ``<prefix>_keep_<tag>``, left in
    place so that the next run reuses it once a finished setup has marked it (:meth:`mark`)."""

    dialect: str

    def __init__(self, prefix: str, tag: str, keep: bool) -> None:
        self.keep = keep
        self.name = f"{prefix}_keep_{tag}" if keep else f"{prefix}_{os.getpid()}"
        self._created = False

    @property
    def url(self) -> str:
        raise NotImplementedError

    def marker(self) -> dict[str, Any] | None:
        """What a finished setup recorded with :meth:`mark` (None: absent or unfinished)."""
        raise NotImplementedError

    def mark(self, info: dict[str, Any]) -> None:
        raise NotImplementedError

    def create(self) -> None:
        """An empty database (whatever had the name is dropped first)."""
        self.drop()
        self._create()
        self._created = True

    def drop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self._created and not self.keep:
            self.drop()

    def describe(self) -> dict[str, Any]:
        """The database's version and size, for the figures."""
        return {}

    def how_to_drop(self) -> str:
        raise NotImplementedError

    def _create(self) -> None:
        raise NotImplementedError


class SqliteBenchDatabase(BenchDatabase):
    """A file ``<name>.db`` in ``directory``; the marker is ``<name>.json`` beside it."""

    dialect = "sqlite"

    def __init__(self, directory: Path, prefix: str, tag: str, keep: bool) -> None:
        super().__init__(prefix, tag, keep)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{self.name}.db"
        self._marker = directory / f"{self.name}.json"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def marker(self) -> dict[str, Any] | None:
        if not (self.path.exists() and self._marker.exists()):
            return None
        return json.loads(self._marker.read_text(encoding="utf-8"))

    def mark(self, info: dict[str, Any]) -> None:
        self._marker.write_text(json.dumps(info, default=str), encoding="utf-8")

    def _create(self) -> None:
        pass  # the first connection creates the file

    def drop(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self._marker.unlink(missing_ok=True)

    def describe(self) -> dict[str, Any]:
        return _describe_sqlite(self.path)

    def how_to_drop(self) -> str:
        return f"rm {self.path}* {self._marker}"


class PostgresBenchDatabase(BenchDatabase):
    """A database on the server in ``server_url`` (whose own database is never touched); the
    marker is the database's comment."""

    dialect = "postgresql"

    def __init__(self, server_url: str, prefix: str, tag: str, keep: bool) -> None:
        from sqlalchemy.engine import make_url

        super().__init__(prefix, tag, keep)
        self._url = (make_url(server_url).set(drivername="postgresql+psycopg", database=self.name)
                     .render_as_string(hide_password=False))
        self._admin = _postgres_admin(server_url)
        self.server_version = self._admin.info.server_version

    @property
    def url(self) -> str:
        return self._url

    def marker(self) -> dict[str, Any] | None:
        row = self._admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (self.name,),
        ).fetchone()
        if row is None or not row[0] or not row[0].startswith(KEEP_MARKER):
            return None
        return json.loads(row[0][len(KEEP_MARKER):])

    def mark(self, info: dict[str, Any]) -> None:
        comment = KEEP_MARKER + json.dumps(info, default=str)
        self._admin.execute(f"""COMMENT ON DATABASE "{self.name}" IS '{comment.replace("'", "''")}'""")

    def _create(self) -> None:
        self._admin.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._admin.close()

    def describe(self) -> dict[str, Any]:
        return _describe_postgres(self._admin, self.name)

    def how_to_drop(self) -> str:
        return f"DROP DATABASE {self.name}"


def bench_settings(url: str, home: str, secret: str, **overrides: Any) -> Settings:
    """Settings for a benchmark: nothing read from the caller's TWIN_* (as the tests do);
    ``overrides`` are settings keys (``web__threads=4``)."""
    return load_settings(environ={}, home=home, secret_key=secret, database__url=url, **overrides)


def settle(db: Database) -> None:
    """After a bulk load: fresh planner statistics (PostgreSQL) or the WAL folded into the
    database file (SQLite), so that neither happens inside a timing."""
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def new_passwords(db: Database, emails: Sequence[str]) -> dict[str, str]:
    """Give these users new random passwords and clear their lockouts (a reused database)."""
    from werkzeug.security import generate_password_hash

    from app.db.models import User

    passwords = {email: secrets.token_urlsafe(12) for email in emails}
    with db.Session() as session, session.begin():
        for email, password in passwords.items():
            session.execute(update(User).where(User.email == email).values(
                password_hash=generate_password_hash(password), failed_logins=0, locked_until=None))
    return passwords


# -- the plant: a drivetrain's year of 1-minute readings among 10M -----------------------------

PLANT_START = datetime(2025, 1, 1, tzinfo=UTC)
PLANT_INTERVAL = timedelta(minutes=1)
PLANT_SEED = 20241001
PLANT_SUPPLIER = "Bench Energy"
PLANT_CALCULATION = "destruction_rate"


@dataclass(frozen=True)
class Plant:
    supplier_id: int
    asset_id: int
    sensor_ids: list[int]  # the drivetrain's three, in the asset page's order


def build_plant(db: Database, days: int, total_readings: int) -> tuple[Plant, dict[str, float]]:
    """On an empty database: the product's migrations; one supplier; a drivetrain (3 sensors)
    and as many filler sensors as bring ``sensor_readings`` to ``total_readings``, each with a
    reading a minute for ``days`` days from :data:`PLANT_START`, written with
    :func:`app.ingest.write_sensor_readings`; the hourly rollups of every sensor
    (:func:`app.series.refresh_rollups`); and ``days`` of one calculation of the drivetrain
    (:func:`app.pipeline.write_calculations`). Returns the plant and the setup's timings."""
    from app import series
    from app.db.migrate import upgrade
    from app.db.models import Asset, Sensor, Site, Supplier
    from app.generator import SignalSpec, generate_chunks
    from app.ingest import write_sensor_readings
    from app.pipeline import write_calculations
    from app.twins import asset_type

    kind = asset_type("drivetrain")
    end = PLANT_START + timedelta(days=days)
    per_sensor = days * 24 * 60
    fillers = max(0, total_readings // per_sensor - len(kind.sensors))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    upgrade(db.engine)
    with db.Session() as session, session.begin():
        supplier = Supplier(name=PLANT_SUPPLIER)
        session.add(supplier)
        session.flush()
        site = Site(supplier_id=supplier.id, name="Bench plant")
        asset = Asset(site=site, name="Turbine 1", asset_type=kind.name,
                      parameters=dict(kind.default_parameters))
        asset.sensors = [Sensor(name=spec.name, unit=spec.unit) for spec in kind.sensors]
        filler = Asset(site=site, name="Filler", asset_type=kind.name, parameters={})
        filler.sensors = [Sensor(name=f"filler{i}", unit="-") for i in range(fillers)]
        session.add(site)
        session.flush()
        plant = Plant(supplier.id, asset.id, [sensor.id for sensor in asset.sensors])
        filler_ids = [sensor.id for sensor in filler.sensors]
    timings["migrate_s"] = time.perf_counter() - started

    signals = [spec.signal for spec in kind.sensors] + [SignalSpec(0.0, 1.0)] * fillers

    def frames() -> Iterator[pd.DataFrame]:
        for signal, sensor_id in zip(signals, plant.sensor_ids + filler_ids, strict=True):
            yield from generate_chunks(signal, sensor_id, PLANT_START, end, PLANT_INTERVAL,
                                       seed=PLANT_SEED)

    log(f"  writing {(len(plant.sensor_ids) + fillers) * per_sensor:,} readings "
        f"({len(plant.sensor_ids)} sensors + {fillers} fillers x {per_sensor:,})...")
    started = time.perf_counter()
    timings["readings"] = write_sensor_readings(db.engine, frames()).rows
    timings["write_s"] = time.perf_counter() - started
    settle(db)
    started = time.perf_counter()
    timings["rollup_rows"] = series.refresh_rollups(db, plant.sensor_ids + filler_ids)
    timings["refresh_all_s"] = time.perf_counter() - started
    stamps = pd.date_range(PLANT_START, end, freq=PLANT_INTERVAL, inclusive="left")
    rates = pd.DataFrame(
        {PLANT_CALCULATION: np.random.default_rng(PLANT_SEED).gamma(2.0, 1e-9, len(stamps))},
        index=stamps)
    started = time.perf_counter()
    with db.engine.begin() as conn:
        write_calculations(conn, plant.asset_id, rates)
    timings["write_calculations_s"] = time.perf_counter() - started
    settle(db)
    return plant, timings


# -- the web app in a child, and a logged-in client of its Dash endpoint -----------------------


@dataclass(frozen=True)
class ServeTask:
    url: str
    home: str
    secret: str
    #: Called in the child before the app is built (a module-level function, for pickling):
    #: a benchmark's way to serve a variant for its baseline.
    prepare: Callable[[], None] | None = None
    #: Settings keys for the served app (``web__login_rate_limit="1000 per minute"``).
    overrides: tuple[tuple[str, Any], ...] = ()


def serve_portal(task: ServeTask, conn: Any) -> None:
    """The product's web server, as ``twin web`` and ``twin run`` serve it
    (:func:`app.cli.web_server`), on a free local port, in a thread; runs until the parent sends
    anything (or goes away)."""
    from app.cli import web_server

    if task.prepare is not None:
        task.prepare()
    server = web_server(bench_settings(task.url, task.home, task.secret, **dict(task.overrides)),
                        "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    conn.send(server.effective_port)
    try:
        conn.recv()
    except EOFError:
        pass
    server.close()


class PortalServer:
    """A spawned child serving the portal (the web process); stopped (terminated if need be)
    by :meth:`stop`."""

    def __init__(self, task: ServeTask) -> None:
        ctx = get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve_portal, args=(task, child), daemon=True)
        self.process.start()
        child.close()
        if not self._conn.poll(120):
            self.stop()
            raise RuntimeError("the portal did not start within 120 s")
        try:
            self.port: int = self._conn.recv()
        except EOFError:
            self.stop()
            raise RuntimeError(f"the portal process exited (code {self.process.exitcode}) "
                               "before serving: its traceback is above") from None

    def peak_rss_mb(self) -> float | None:
        """The web process's peak resident set so far (VmHWM; None without /proc)."""
        return _proc_status_mb("VmHWM", self.process.pid)

    def rss_mb(self) -> float | None:
        return _proc_status_mb("VmRSS", self.process.pid)

    def cpu_s(self) -> float | None:
        """CPU seconds the web process has used (see :func:`process_cpu_s`)."""
        return process_cpu_s(self.process.pid)

    def stop(self) -> None:
        try:
            self._conn.send("stop")
        except (OSError, ValueError):
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(10)
        self._conn.close()


class DashClient:
    """A logged-in browser, as far as the server can tell."""

    def __init__(self, port: int, email: str, password: str) -> None:
        import requests

        self.base = f"http://127.0.0.1:{port}"
        self.http = requests.Session()
        page = self.http.get(f"{self.base}/login", timeout=30)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if page.status_code != 200 or token is None:
            raise RuntimeError(f"GET /login: HTTP {page.status_code}, no csrf_token")
        response = self.http.post(f"{self.base}/login", allow_redirects=False, timeout=30, data={
            "email": email, "password": password, "csrf_token": token.group(1)})
        if response.status_code not in (302, 303):
            raise RuntimeError(f"POST /login: HTTP {response.status_code} (expected a redirect)")
        dependencies = self.http.get(f"{self.base}/_dash-dependencies", timeout=30)
        if dependencies.status_code != 200:
            raise RuntimeError(f"GET /_dash-dependencies: HTTP {dependencies.status_code}")
        self.dependencies: list[dict[str, Any]] = dependencies.json()

    def callback(self, output: str, trigger: str | None = None) -> dict[str, Any]:
        """The registered callback whose outputs include ``output`` (``id.property``; an
        ``allow_duplicate`` output counts too) and, where several do, the one whose inputs
        include ``trigger`` (``id.property``, the input that changed)."""
        found = [d for d in self.dependencies
                 if output in (o.split("@")[0] for o in _outputs(d["output"]))
                 and (trigger is None
                      or trigger in (f"{i['id']}.{i['property']}" for i in d["inputs"]))]
        if len(found) != 1:
            raise RuntimeError(f"{len(found)} callbacks output {output}"
                               + (f" on a change of {trigger}" if trigger else ""))
        return found[0]

    def send(self, payload: dict[str, Any], timeout: float = 60) -> tuple[float, Any]:
        """Seconds to the whole response (body read), and the response (its ``content`` is
        what the server sent: the app does not compress)."""
        t0 = time.perf_counter()
        response = self.http.post(f"{self.base}/_dash-update-component", json=payload,
                                  timeout=timeout)
        seconds = time.perf_counter() - t0
        if response.status_code != 200:
            raise RuntimeError(f"/_dash-update-component: HTTP {response.status_code}: "
                               f"{response.text[:300]}")
        return seconds, response

    def post(self, payload: dict[str, Any]) -> tuple[float, Any]:
        """Seconds to the response, and its JSON body."""
        seconds, response = self.send(payload)
        return seconds, response.json()


def _outputs(output: str) -> list[str]:
    """``..a.x...b.y..`` (several outputs) or ``a.x`` (one) -> ``["a.x", "b.y"]``."""
    if output.startswith("..") and output.endswith(".."):
        return output[2:-2].split("...")
    return [output]


def dash_payload(dependency: dict[str, Any], values: dict[str, Any], changed: str) -> dict[str, Any]:
    """The body dash-renderer POSTs for ``dependency`` with these input and state values
    (keyed ``id.property``), after ``changed`` changed."""
    outputs = []
    for item in _outputs(dependency["output"]):
        component, prop = item.rsplit(".", 1)
        outputs.append({"id": component, "property": prop.split("@")[0]})

    def values_of(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"id": i["id"], "property": i["property"],
                 "value": values.get(f"{i['id']}.{i['property']}")} for i in items]

    return {
        "output": dependency["output"],
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": values_of(dependency["inputs"]),
        "changedPropIds": [changed],
        "state": values_of(dependency.get("state", [])),
    }
