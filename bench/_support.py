"""What the benchmarks share: progress lines, PASS/MISS, memory readings, spawned children,
and scratch databases (a template and a fresh copy of it per measured run).

The scripts are run as files (``python bench/ingest.py``), so this module is imported from
their own folder as ``_support``.
"""

from __future__ import annotations

import itertools
import os
import resource
import shutil
import sqlite3
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Any


def log(message: str) -> None:
    """A progress line on stderr (stdout carries the figures and the final JSON line)."""
    print(message, file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
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
        size = self._path("template").stat().st_size if self._path("template").exists() else 0
        return {"sqlite": sqlite3.sqlite_version, "database_mb": round(size / 2**20, 1)}


class PostgresScratch(Scratch):
    """Databases ``<prefix>_<pid>_<name>`` on the server; a copy is ``CREATE DATABASE ...
    TEMPLATE``. The database named in ``url`` is never touched."""

    dialect = "postgresql"

    def __init__(self, workdir: Path, url: str, prefix: str = "twin_bench") -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        super().__init__(workdir)
        self.server = make_url(url).set(drivername="postgresql+psycopg")
        self.prefix = f"{prefix}_{os.getpid()}"
        maintenance = self.server.set(drivername="postgresql", database="postgres")
        self._admin = psycopg.connect(maintenance.render_as_string(hide_password=False),
                                      autocommit=True)

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
        size = self._admin.execute(
            "SELECT pg_database_size(%s)", (f"{self.prefix}_template",)).fetchone()
        settings = dict(self._admin.execute(
            "SELECT name, setting || COALESCE(unit, '') FROM pg_settings "
            "WHERE name IN ('shared_buffers', 'work_mem', 'synchronous_commit')").fetchall())
        return {"postgres": self._admin.info.server_version,
                "database_mb": round(size[0] / 2**20, 1) if size and size[0] else None,
                "postgres_settings": settings}

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._admin.close()
