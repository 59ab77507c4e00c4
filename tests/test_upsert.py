"""Portable insert-or-update: executed on SQLite and PostgreSQL, compiled for SQL Server."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlglot
from sqlalchemy import Column, Integer, MetaData, String, Table, TextClause, select
from sqlalchemy.dialects import mssql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import StatementError

from app.db import Database, UTCDateTime
from app.db.models import Calculation, SensorReading, WorkerHeartbeat
from app.db.upsert import upsert, upsert_statement
from tests.conftest import add_plant, utc

CALCULATIONS: Table = Calculation.__table__  # type: ignore[assignment]
HEARTBEATS: Table = WorkerHeartbeat.__table__  # type: ignore[assignment]
CALC_KEYS = ["asset_id", "name", "ts"]
T0 = utc(2024, 3, 1, 12, 0, 0, 250)


H1 = timedelta(hours=1)


def calc(asset_id: int, name: str, ts: datetime, value: float) -> dict[str, Any]:
    return {"asset_id": asset_id, "name": name, "ts": ts, "value": value}


def beat(hostname: str, seen_at: datetime, pid: int) -> dict[str, Any]:
    return {"hostname": hostname, "seen_at": seen_at, "pid": pid}


def run_upsert(database: Database, table: Table, rows: Sequence[Mapping[str, Any]],
               keys: Sequence[str], *, update: bool = True) -> int:
    with database.engine.begin() as conn:
        return upsert(conn, table, rows, keys, update=update)


def all_rows(database: Database, table: Table) -> list[tuple[Any, ...]]:
    with database.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))]


def asset(database: Database) -> int:
    return add_plant(database, 0).asset_id


# -- executed: SQLite and PostgreSQL --------------------------------------------------------


def test_upsert_inserts_new_rows_with_composite_keys(any_db: Database) -> None:
    asset_id = asset(any_db)
    rows = [calc(asset_id, "destruction", T0, 0.5),
            calc(asset_id, "destruction", T0 + H1, 0.75),
            calc(asset_id, "efficiency", T0, 0.9)]

    sent = run_upsert(any_db, CALCULATIONS, rows, CALC_KEYS)

    assert sent == 3
    assert all_rows(any_db, CALCULATIONS) == [
        (asset_id, "destruction", T0, 0.5),
        (asset_id, "destruction", T0 + H1, 0.75),
        (asset_id, "efficiency", T0, 0.9),
    ]


def test_upsert_updates_non_key_columns_when_the_composite_key_clashes(any_db: Database) -> None:
    asset_id = asset(any_db)
    run_upsert(any_db, CALCULATIONS, [calc(asset_id, "destruction", T0, 0.5),
                                      calc(asset_id, "efficiency", T0, 0.9)], CALC_KEYS)

    # one clash on all three keys, one row differing only in ts: a new row
    later = T0 + timedelta(microseconds=1)
    run_upsert(any_db, CALCULATIONS, [calc(asset_id, "destruction", T0, 0.625),
                                      calc(asset_id, "efficiency", later, 0.8)], CALC_KEYS)

    assert all_rows(any_db, CALCULATIONS) == [
        (asset_id, "destruction", T0, 0.625),
        (asset_id, "efficiency", T0, 0.9),
        (asset_id, "efficiency", later, 0.8),
    ]


def test_upsert_without_update_leaves_stored_rows_alone_and_inserts_new_ones(
    any_db: Database,
) -> None:
    asset_id = asset(any_db)
    run_upsert(any_db, CALCULATIONS, [calc(asset_id, "destruction", T0, 0.5)], CALC_KEYS)

    sent = run_upsert(any_db, CALCULATIONS, [calc(asset_id, "destruction", T0, 99.0),
                                             calc(asset_id, "destruction", T0 + H1, 1.0)],
                      CALC_KEYS, update=False)

    assert sent == 2
    assert all_rows(any_db, CALCULATIONS) == [
        (asset_id, "destruction", T0, 0.5),
        (asset_id, "destruction", T0 + H1, 1.0),
    ]


def test_upsert_on_a_single_key_updates_every_other_column(any_db: Database) -> None:
    run_upsert(any_db, HEARTBEATS, [beat("worker-a", T0, 10), beat("worker-b", T0, 20)],
               ["hostname"])

    later = T0 + timedelta(seconds=30)
    run_upsert(any_db, HEARTBEATS, [beat("worker-a", later, 11)], ["hostname"])

    assert all_rows(any_db, HEARTBEATS) == [("worker-a", later, 11), ("worker-b", T0, 20)]


def test_upsert_stores_times_of_any_zone_as_utc(any_db: Database) -> None:
    paris = timezone(timedelta(hours=1))
    run_upsert(any_db, HEARTBEATS, [beat("w", datetime(2024, 1, 1, 13, tzinfo=paris), 1)],
               ["hostname"])

    assert all_rows(any_db, HEARTBEATS) == [("w", utc(2024, 1, 1, 12), 1)]


def test_upsert_refuses_naive_datetimes(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        run_upsert(db, HEARTBEATS, [beat("w", datetime(2024, 1, 1), 1)], ["hostname"])
    assert all_rows(db, HEARTBEATS) == []


def test_upsert_of_one_key_twice_in_one_call_keeps_the_last(any_db: Database) -> None:
    rows = [beat("w", T0, 1), beat("w", T0 + timedelta(seconds=1), 2)]

    run_upsert(any_db, HEARTBEATS, rows, ["hostname"])

    assert all_rows(any_db, HEARTBEATS) == [("w", T0 + timedelta(seconds=1), 2)]


def test_upsert_of_only_key_columns_ignores_a_clash(any_db: Database) -> None:
    tags = Table("twin_test_tags", MetaData(), Column("a", Integer, primary_key=True),
                 Column("b", String(10), primary_key=True))
    tags.create(any_db.engine)
    run_upsert(any_db, tags, [{"a": 1, "b": "x"}], ["a", "b"])

    run_upsert(any_db, tags, [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}], ["a", "b"])

    assert all_rows(any_db, tags) == [(1, "x"), (1, "y")]


def test_upsert_of_no_rows_sends_nothing(db: Database) -> None:
    assert run_upsert(db, HEARTBEATS, [], ["hostname"]) == 0
    assert all_rows(db, HEARTBEATS) == []


def test_upsert_rolls_back_with_the_callers_transaction(any_db: Database) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        with any_db.engine.begin() as conn:
            upsert(conn, HEARTBEATS, [beat("w", T0, 1)], ["hostname"])
            raise Abort

    assert all_rows(any_db, HEARTBEATS) == []


# -- statement construction -----------------------------------------------------------------


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_sqlite_and_postgresql_use_on_conflict_over_the_keys(dialect: Dialect) -> None:
    sql = str(upsert_statement(dialect, CALCULATIONS, CALC_KEYS, CALC_KEYS + ["value"])
              .compile(dialect=dialect))

    assert "ON CONFLICT (asset_id, name, ts) DO UPDATE SET value = excluded.value" in sql


def test_an_unknown_dialect_raises_not_implemented() -> None:
    from sqlalchemy.dialects import oracle

    with pytest.raises(NotImplementedError, match="oracle"):
        upsert_statement(oracle.dialect(), HEARTBEATS, ["hostname"], ["hostname", "pid"])


# -- SQL Server: the MERGE, compiled without a server ---------------------------------------

MSSQL = mssql.dialect()


def mssql_merge(table: Table, keys: Sequence[str], columns: Sequence[str], *,
                update: bool = True) -> tuple[TextClause, str]:
    stmt = upsert_statement(MSSQL, table, keys, columns, update=update)
    assert isinstance(stmt, TextClause)
    return stmt, str(stmt.compile(dialect=MSSQL))


def clause(sql: str, start: str, end: str) -> str:
    """The text of ``sql`` between ``start`` and the following ``end``."""
    found = re.search(re.escape(start) + r"(.*?)" + re.escape(end), sql)
    assert found, f"{start!r}...{end!r} not in {sql}"
    return found.group(1).strip()


def test_mssql_upsert_is_a_merge_with_holdlock_on_the_keys() -> None:
    _, sql = mssql_merge(CALCULATIONS, CALC_KEYS, CALC_KEYS + ["value"])

    assert sql.startswith("MERGE INTO calculations WITH (HOLDLOCK) AS target USING (SELECT ")
    assert clause(sql, " ON ", " WHEN ") == (
        "target.asset_id = source.asset_id AND target.name = source.name AND target.ts = source.ts"
    )
    assert sql.rstrip().endswith(";")  # SQL Server requires MERGE to be terminated


def test_mssql_merge_updates_only_non_key_columns_and_inserts_all_columns() -> None:
    _, sql = mssql_merge(CALCULATIONS, CALC_KEYS, CALC_KEYS + ["value"])

    assert clause(sql, "WHEN MATCHED THEN UPDATE SET", "WHEN NOT MATCHED") == (
        "target.value = source.value"
    )
    assert clause(sql, "WHEN NOT MATCHED THEN INSERT (", ")") == "asset_id, name, ts, value"
    assert clause(sql, "VALUES (", ");") == (
        "source.asset_id, source.name, source.ts, source.value"
    )


def test_mssql_merge_without_update_has_no_when_matched_clause() -> None:
    _, sql = mssql_merge(CALCULATIONS, CALC_KEYS, CALC_KEYS + ["value"], update=False)

    assert "WHEN MATCHED" not in sql
    assert "WHEN NOT MATCHED THEN INSERT (asset_id, name, ts, value)" in sql


def test_mssql_merge_of_only_key_columns_has_no_when_matched_clause() -> None:
    _, sql = mssql_merge(CALCULATIONS, CALC_KEYS, CALC_KEYS)

    assert "WHEN MATCHED" not in sql and "UPDATE SET" not in sql


def test_mssql_merge_quotes_reserved_column_names() -> None:
    odd = Table("odd", MetaData(), Column("key", Integer, primary_key=True),
                Column("order", String(5)))
    _, sql = mssql_merge(odd, ["key"], ["key", "order"])

    assert "target.[key] = source.[key]" in sql
    assert "UPDATE SET target.[order] = source.[order]" in sql


def test_mssql_merge_binds_carry_the_column_types() -> None:
    stmt, _ = mssql_merge(CALCULATIONS, CALC_KEYS, CALC_KEYS + ["value"])
    compiled = stmt.compile(dialect=MSSQL)

    types = {name: type(bind.type) for name, bind in compiled.binds.items()}
    assert types == {name: type(CALCULATIONS.c[name].type) for name in CALC_KEYS + ["value"]}
    assert isinstance(compiled.binds["ts"].type, UTCDateTime)


def test_mssql_merge_ts_bind_converts_aware_times_to_naive_utc() -> None:
    stmt, _ = mssql_merge(SensorReading.__table__, ["sensor_id", "ts"],  # type: ignore[arg-type]
                          ["sensor_id", "ts", "value"])
    compiled = stmt.compile(dialect=MSSQL)
    process = compiled.binds["ts"].type._cached_bind_processor(MSSQL)
    assert process is not None

    paris = timezone(timedelta(hours=1))
    aware = datetime(2024, 1, 1, 13, 0, 0, 7, tzinfo=paris)
    assert process(aware) == datetime(2024, 1, 1, 12, 0, 0, 7)
    with pytest.raises(ValueError, match="naive datetime"):
        process(datetime(2024, 1, 1, 12))


def test_mssql_merge_parses_as_t_sql() -> None:
    _, sql = mssql_merge(CALCULATIONS, CALC_KEYS, CALC_KEYS + ["value"])
    (parsed,) = sqlglot.parse(re.sub(r":\w+", "?", sql), read="tsql")

    assert isinstance(parsed, sqlglot.exp.Merge)
    assert parsed.this.name == "calculations"
