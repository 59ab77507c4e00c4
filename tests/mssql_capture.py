"""Compile every statement the application issued during the test run under SQL Server.

SQL Server cannot run on our machines, so each distinct SQLAlchemy statement executed by any
engine in the test process (``activate()``, a class-level event) is recorded, and at the end of
the session compiled with the ``mssql`` dialect. A statement SQL Server would reject at compile time (OFFSET without ORDER BY,
an upsert construct of another dialect, a function it lacks) fails the run. Raw driver SQL is
not captured here: the bulk path's SQL Server strings have their own test.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, Table, TextClause, event
from sqlalchemy.dialects import mssql
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.ddl import ExecutableDDLElement
from sqlalchemy.sql.util import find_tables

from app.db import Base
from app.db.upsert import UPSERT_OPTION, upsert_statement

STASH = pytest.StashKey[dict[str, ClauseElement]]()
_statements: dict[str, ClauseElement] = {}


def _is_ours(element: ClauseElement) -> bool:
    """Statements on the application's tables; not SQLAlchemy's reflection of pg_catalog,
    Alembic's bookkeeping, or kombu's and Celery's own tables."""
    if isinstance(element, TextClause):
        return True
    return any(table.metadata is Base.metadata for table in find_tables(element, include_crud=True)
               if isinstance(table, Table))


def _capture(_conn: Any, element: Any, *_args: Any) -> None:
    if (isinstance(element, ClauseElement) and not isinstance(element, ExecutableDDLElement)
            and _is_ours(element)):
        try:
            key = f"{type(element).__name__}:{element}"
        except Exception:  # noqa: BLE001 - uncompilable on the default dialect: keep it anyway
            key = f"{type(element).__name__}:{id(element)}"
        _statements.setdefault(key, element)


def activate() -> None:
    """Record the statements every engine executes from now on."""
    if not event.contains(Engine, "before_execute", _capture):
        event.listen(Engine, "before_execute", _capture)


def compile_all() -> tuple[int, list[str]]:
    """Compile every captured statement under mssql; returns (count, failures).

    An upsert (ON CONFLICT on SQLite/PostgreSQL) is checked in the form SQL Server runs: the
    MERGE that ``upsert_statement`` builds for the same table, keys and columns.
    """
    dialect = mssql.dialect()
    failures = []
    for key, statement in _statements.items():
        upsert = statement._execution_options.get(UPSERT_OPTION)  # type: ignore[attr-defined]
        if upsert is not None:
            table, keys, columns, update = upsert
            statement = upsert_statement(dialect, table, keys, columns, update=update)
        try:
            statement.compile(dialect=dialect)
        except Exception as exc:  # noqa: BLE001 - every failure is reported
            failures.append(f"{key[:300]}\n    -> {type(exc).__name__}: {exc}")
    return len(_statements), failures


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _statements:
        return
    count, failures = compile_all()
    session.config.stash[STASH] = {"count": count, "failures": failures}  # type: ignore[assignment]
    if failures and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    result = config.stash.get(STASH, None)
    if result is None:
        return
    count, failures = result["count"], result["failures"]  # type: ignore[index]
    terminalreporter.section("SQL Server compilation of captured statements")
    terminalreporter.write_line(f"{count} distinct statements compiled under mssql; "
                                f"{len(failures)} failed")
    for failure in failures:
        terminalreporter.write_line(f"FAILED {failure}", red=True)
