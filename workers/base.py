"""The base class of every Energy Twin task."""

from __future__ import annotations

from celery import Task

from app.db import Database
from settings import Settings

#: Where the Celery app's configuration keeps the process's settings.
SETTINGS_KEY = "twin_settings"


class TwinTask(Task):
    """Base task: gives tasks the process's :class:`Database`, built once per process."""

    abstract = True

    @property
    def settings(self) -> Settings:
        return self.app.conf[SETTINGS_KEY]

    @property
    def db(self) -> Database:
        database = getattr(self.app, "_twin_database", None)
        if database is None:
            database = Database(self.settings)
            self.app._twin_database = database  # one per worker process, made lazily
        return database
