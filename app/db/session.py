"""Engines and sessions, built from settings once per process.

Nothing here is module-level state: a :class:`Database` belongs to whoever built it (the Flask
app keeps one in ``app.extensions``, each worker process builds its own after fork).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from settings import Settings, SettingsError, mask_url

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The database does not answer; ``str()`` names the URL (password hidden) and what to do."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, busy_timeout_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the portal read while a worker writes; NORMAL sync is safe with WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.close()


def make_engine(url: str, settings: Settings, *, label: str = "database") -> Engine:
    """An engine for ``url`` with the options each backend needs.

    Raises :class:`SettingsError` for a URL that cannot be parsed or whose driver is missing.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError(
            f"{label} URL {mask_url(url)!r} is not a valid SQLAlchemy URL: expected e.g. "
            "sqlite:///var/twin.db or postgresql+psycopg://user@host/db"
        ) from None
    if parsed.drivername == "postgresql":
        # Plain "postgresql://" would pick psycopg2, which we do not install.
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {"echo": settings.database.echo}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": settings.database.sqlite_busy_timeout_ms / 1000}
    else:
        kwargs.update(
            pool_pre_ping=True,  # recover by itself after a database restart
            pool_size=settings.database.pool_size,
            pool_recycle=settings.database.pool_recycle_s,
        )
        if backend == "mssql":
            kwargs["fast_executemany"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        raise SettingsError(
            f"{label} URL {mask_url(url)!r} needs a driver that is not installed ({exc}); "
            "supported: sqlite, postgresql+psycopg, mssql+pyodbc"
        ) from None
    if backend == "sqlite":
        timeout = settings.database.sqlite_busy_timeout_ms
        event.listen(engine, "connect", lambda c, r: _sqlite_pragmas(c, r, timeout))
    return engine


def check_connection(engine: Engine, *, label: str = "database") -> None:
    """Raise :class:`DatabaseUnavailable` unless ``engine`` answers ``SELECT 1``."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
        env = "TWIN_SENSORS_DATABASE_URL" if label == "sensor database" else "TWIN_DATABASE_URL"
        raise DatabaseUnavailable(
            f"{label} {engine.url.render_as_string(hide_password=True)} does not answer "
            f"({reason}): check {env} and that the server is running"
        ) from None


class Database:
    """The main engine, the (possibly separate, read-only) sensor source and a session factory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url, settings)
        if settings.sensors_database_url == settings.database_url:
            self.sensors_engine = self.engine
        else:
            self.sensors_engine = make_engine(
                settings.sensors_database_url, settings, label="sensor database"
            )
        self.Session: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def check(self) -> None:
        check_connection(self.engine)
        if self.sensors_engine is not self.engine:
            check_connection(self.sensors_engine, label="sensor database")

    def dispose(self) -> None:
        """Drop pooled connections (after a fork they belong to the parent)."""
        self.engine.dispose(close=False)
        if self.sensors_engine is not self.engine:
            self.sensors_engine.dispose(close=False)
