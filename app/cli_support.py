"""What every ``twin`` command module shares: settings loaded on demand, one-line failures,
logging per process, the database checked (and at the latest schema when asked).

Its own module so ``app/cli.py`` and ``app/cli_catalogue.py`` both import it and neither
imports the other's helpers (no import circle).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from settings import Settings, SettingsError, load_settings

F = TypeVar("F", bound=Callable[..., Any])

EXIT_SETTINGS = 2
EXIT_UNAVAILABLE = 3


def _settings(ctx: click.Context) -> Settings:
    """Settings are loaded when a command needs them, so ``--help`` works with broken ones."""
    root = ctx.find_root()
    if root.obj is None:
        try:
            root.obj = load_settings()
        except SettingsError as exc:
            _fail(str(exc), EXIT_SETTINGS)
    return root.obj


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"twin: error: {message}", err=True)
    sys.exit(code)


def friendly_errors(func: F) -> F:
    """Turn the errors a user can fix into one line and an exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from app.accounts import AccountError
        from app.db import DatabaseUnavailable
        from app.demo import DemoError
        from app.importer import ImportFileError
        from app.ingest import IngestError
        from app.pipeline import PipelineError

        try:
            return func(*args, **kwargs)
        except SettingsError as exc:
            _fail(str(exc), EXIT_SETTINGS)
        except DatabaseUnavailable as exc:
            _fail(str(exc), EXIT_UNAVAILABLE)
        except (AccountError, DemoError, ImportFileError, IngestError, PipelineError) as exc:
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _process(ctx: click.Context, role: str) -> Settings:
    from app.logs import configure_logging

    settings = _settings(ctx)
    configure_logging(settings, role)
    return settings


def _database(settings: Settings, *, require_head: bool = False):  # -> Database
    from app.db import Database
    from app.db.migrate import current_revision, head_revision

    db = Database(settings)
    db.check()
    if require_head and current_revision(db.engine) != head_revision(db.engine):
        _fail(
            f"the database {db.engine.url.render_as_string(hide_password=True)} is not at the "
            "latest schema: run `twin db upgrade` first",
            EXIT_UNAVAILABLE,
        )
    return db


