"""Insert-or-update that works the same on SQLite, PostgreSQL and SQL Server.

SQLite and PostgreSQL have ``INSERT ... ON CONFLICT``; SQL Server has ``MERGE``, which
SQLAlchemy does not build, so it is written here as a parameterised text statement whose bind
parameters carry the columns' types (so UTC conversion and the like still apply).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Executable, Table, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

#: Execution option carrying (table, keys, columns, update) of an upsert statement.
UPSERT_OPTION = "twin_upsert"


def upsert_statement(
    dialect: Dialect,
    table: Table,
    keys: Sequence[str],
    columns: Sequence[str],
    *,
    update: bool = True,
) -> Executable:
    """The statement that inserts ``columns`` of one row, or on a clash of ``keys`` updates the
    other columns (or, with ``update=False``, leaves the stored row alone). Run it with a list of
    row dicts for an executemany."""
    non_keys = [c for c in columns if c not in keys]
    name = dialect.name
    if name in ("sqlite", "postgresql"):
        insert = (sqlite if name == "sqlite" else postgresql).insert(table)
        if update and non_keys:
            stmt = insert.on_conflict_do_update(
                index_elements=list(keys),
                set_={c: insert.excluded[c] for c in non_keys},
            )
        else:
            stmt = insert.on_conflict_do_nothing(index_elements=list(keys))
    elif name == "mssql":
        stmt = _mssql_merge(dialect, table, keys, columns, update=update and bool(non_keys))
    else:
        raise NotImplementedError(f"upsert is not implemented for the {name} dialect")
    # Tagged so the test suite can check the same upsert's SQL Server form (tests/mssql_capture).
    return stmt.execution_options(**{UPSERT_OPTION: (table, tuple(keys), tuple(columns), update)})


def _mssql_merge(
    dialect: Dialect, table: Table, keys: Sequence[str], columns: Sequence[str], *, update: bool
) -> Executable:
    quote = dialect.identifier_preparer.quote
    target = dialect.identifier_preparer.format_table(table)
    source = ", ".join(f":{c} AS {quote(c)}" for c in columns)
    on = " AND ".join(f"target.{quote(c)} = source.{quote(c)}" for c in keys)
    inserted = ", ".join(quote(c) for c in columns)
    values = ", ".join(f"source.{quote(c)}" for c in columns)
    sql = (
        # HOLDLOCK makes the MERGE's check-then-insert atomic under concurrent writers.
        f"MERGE INTO {target} WITH (HOLDLOCK) AS target "
        f"USING (SELECT {source}) AS source ON {on} "
    )
    if update:
        assignments = ", ".join(
            f"target.{quote(c)} = source.{quote(c)}" for c in columns if c not in keys
        )
        sql += f"WHEN MATCHED THEN UPDATE SET {assignments} "
    sql += f"WHEN NOT MATCHED THEN INSERT ({inserted}) VALUES ({values});"
    return text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    *,
    update: bool = True,
) -> int:
    """Upsert ``rows`` (dicts with the same columns) into ``table`` on the conflict ``keys``.

    Runs inside the caller's transaction; returns the number of rows sent.
    """
    if not rows:
        return 0
    columns = list(rows[0].keys())
    stmt = upsert_statement(conn.dialect, table, keys, columns, update=update)
    conn.execute(stmt, list(rows))
    return len(rows)
