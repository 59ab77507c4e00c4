"""Per-app and per-request access to settings and the database."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from app.db import Database
from app.queue import TaskQueue
from settings import Settings

EXTENSION_KEY = "energy_twin"


@dataclass(frozen=True)
class TwinContext:
    """What the web app was built with: its settings, its database and its task queue."""

    settings: Settings
    db: Database
    queue: TaskQueue


def init_app(server: Flask, context: TwinContext) -> None:
    server.extensions[EXTENSION_KEY] = context
    server.teardown_appcontext(_close_session)


def twin() -> TwinContext:
    return current_app.extensions[EXTENSION_KEY]


def db_session() -> Session:
    """The request's database session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = twin().db.Session()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
