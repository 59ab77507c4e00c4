"""SQL Server coverage: without a server (DDL, offline migrations, the bulk path's T-SQL parsed
with sqlglot), and against a live one when ``TWIN_TEST_MSSQL_URL`` names it.
"""

from __future__ import annotations

import io
import os
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlglot
from alembic import command
from alembic.config import Config
from sqlalchemy import Date, Table, create_engine, text
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlglot import exp

import app.db.models  # noqa: F401  (registers every table)
from app.db import Base, Database, UTCDateTime
from app.db.migrate import MIGRATIONS_DIR, upgrade
from app.db.models import Calculation, SensorReading
from app.db.upsert import upsert
from app.ingest import (
    COLUMNS,
    MSSQL_MERGE,
    MSSQL_STAGE,
    MSSQL_STAGE_INSERT,
    IngestResult,
    write_sensor_readings,
)
from tests.conftest import MSSQL_ENV, add_plant, make_settings, utc
from tests.sensor_data import Row, assert_rows_equal, count, frame, rows_for, stored


def sql_server_2022() -> mssql.dialect:  # type: ignore[valid-type]
    """The dialect as connected to SQL Server 2022. A bare ``mssql.dialect()`` knows no server
    version and renders as for SQL Server 2005 (DATE becomes DATETIME)."""
    dialect = mssql.dialect()
    dialect.server_version_info = (16, 0)
    return dialect


MSSQL = sql_server_2022()
OFFLINE_URL = "mssql+pyodbc://u:p@h/db?driver=ODBC+Driver+18+for+SQL+Server"
TABLES: list[Table] = list(Base.metadata.sorted_tables)
SENSOR_READINGS: Table = SensorReading.__table__  # type: ignore[assignment]


# -- (a) DDL of the models ------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_every_table_and_index_compiles_as_sql_server_ddl(table: Table) -> None:
    ddl = str(CreateTable(table).compile(dialect=MSSQL))
    assert ddl.strip().startswith(f"CREATE TABLE {table.name} (")
    for index in table.indexes:
        create = str(CreateIndex(index).compile(dialect=MSSQL))
        assert create.startswith(f"CREATE {'UNIQUE ' if index.unique else ''}INDEX {index.name} ")


def utc_datetime_columns() -> list[tuple[str, str]]:
    return [(t.name, c.name) for t in TABLES for c in t.columns if isinstance(c.type, UTCDateTime)]


@pytest.mark.parametrize(("table", "column"), utc_datetime_columns(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_utc_datetime_columns_are_datetime2_with_microseconds_on_sql_server(
    table: str, column: str
) -> None:
    # DATETIME would round to 3.33 ms: (sensor_id, ts) keys would collide and values shift
    ddl = str(CreateTable(Base.metadata.tables[table]).compile(dialect=MSSQL))
    assert column_type(ddl, column) == "DATETIME2(6)"


def test_sensor_readings_ddl_keys_on_sensor_and_time() -> None:
    ddl = str(CreateTable(SENSOR_READINGS).compile(dialect=MSSQL))
    assert "CONSTRAINT pk_sensor_readings PRIMARY KEY (sensor_id, ts)" in ddl
    assert "value FLOAT NOT NULL" in ddl


# -- (b) the migrations, rendered offline ---------------------------------------------------


@pytest.fixture(scope="module")
def offline_sql() -> str:
    """``alembic upgrade head --sql`` for SQL Server: no server, no driver needed."""
    buffer = io.StringIO()
    config = Config(output_buffer=buffer)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", OFFLINE_URL)
    command.upgrade(config, "head", sql=True)
    return buffer.getvalue()


def create_table_block(sql: str, table: str) -> str:
    """The column definitions of ``table``: its CREATE TABLE body, plus the columns later
    migrations ADD (one per line, in the same form)."""
    found = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", sql, re.S)
    assert found, f"no CREATE TABLE {table} in the offline SQL"
    added = re.findall(rf"^ALTER TABLE {table} ADD (.+?);$", sql, re.M)
    return found.group(1) + "".join(f"\n    {column}" for column in added)


def column_type(block: str, column: str) -> str:
    """The SQL type of ``column`` in a CREATE TABLE body."""
    found = re.search(rf"^\s*{column} (.+?) (?:NOT )?NULL", block, re.M)
    assert found, f"no column {column}"
    return found.group(1)


def test_migrations_render_sensor_readings_for_sql_server(offline_sql: str) -> None:
    block = create_table_block(offline_sql, "sensor_readings")
    assert column_type(block, "ts") == "DATETIME2(6)"
    assert "CONSTRAINT pk_sensor_readings PRIMARY KEY (sensor_id, ts)" in block
    assert "FOREIGN KEY(sensor_id) REFERENCES sensors (id)" in block


def test_migrations_render_every_model_table_and_index_for_sql_server(offline_sql: str) -> None:
    for table in TABLES:
        create_table_block(offline_sql, table.name)
        for index in table.indexes:
            assert re.search(rf"CREATE (UNIQUE )?INDEX {index.name} ON {table.name} ", offline_sql)
    assert re.search(r"INSERT INTO alembic_version \(version_num\) .*VALUES \('\w+'\);",
                     offline_sql)


def test_migrations_render_every_utc_datetime_as_datetime2_for_sql_server(
    offline_sql: str,
) -> None:
    for table, column in utc_datetime_columns():
        assert column_type(create_table_block(offline_sql, table), column) == "DATETIME2(6)", (
            f"{table}.{column}"
        )


# BUG (reported): offline, Alembic's SQL Server dialect knows no server version and SQLAlchemy
# renders sa.Date() as DATETIME (its SQL Server 2005 fallback): a DBA applying this script gets
# DATETIME tariff and meter dates where an online upgrade creates DATE.
def test_migrations_render_date_columns_as_date_for_sql_server(offline_sql: str) -> None:
    dates = [(t.name, c.name) for t in TABLES for c in t.columns
             if isinstance(c.type, Date) and not isinstance(c.type, UTCDateTime)]
    assert dates  # tariffs.valid_from, meters.installed_on...
    for table, column in dates:
        assert column_type(create_table_block(offline_sql, table), column) == "DATE", (
            f"{table}.{column}"
        )


def test_migration_sql_server_statements_parse_as_t_sql(offline_sql: str) -> None:
    # GO separates batches for sqlcmd; it is not T-SQL itself
    batches = [b.strip() for b in re.split(r"^GO$", offline_sql, flags=re.M) if b.strip()]
    for batch in batches:
        for statement in sqlglot.parse(batch, read="tsql"):
            assert statement is not None


# -- (c) the bulk path's raw T-SQL ----------------------------------------------------------
#
# sqlglot (>= 25) reads "IF cond CREATE TABLE ...; TRUNCATE ...;" as one IF whose body holds
# both statements, though in T-SQL an IF without BEGIN/END governs only the next statement (the
# TRUNCATE runs every time, which is what the bulk path needs). The batch is therefore split on
# ';' (no literal in it contains one) and each statement parsed on its own.


def t_sql_statements(batch: str) -> list[exp.Expression]:
    parsed = []
    for part in (p.strip() for p in batch.split(";")):
        if part:
            (statement,) = sqlglot.parse(part, read="tsql")
            assert statement is not None
            parsed.append(statement)
    return parsed


def test_staging_batch_parses_as_if_missing_create_temp_table_then_truncate() -> None:
    create_if_missing, truncate = t_sql_statements(MSSQL_STAGE)

    assert isinstance(create_if_missing, exp.IfBlock)
    assert "OBJECT_ID('tempdb..#twin_ingest_stage') IS NULL" in create_if_missing.this.sql("tsql")
    create = create_if_missing.find(exp.Create)
    assert create is not None and create.kind == "TABLE"
    table = create.find(exp.Table)
    assert table is not None and table.name == "twin_ingest_stage"
    assert table.this.args.get("temporary")  # #twin_ingest_stage: session-local
    columns = {c.name: c.args["kind"].sql("tsql") for c in create.find_all(exp.ColumnDef)}
    assert columns == {"sensor_id": "BIGINT", "ts": "DATETIME2", "value": "FLOAT"}
    key = create.find(exp.PrimaryKey)
    assert key is not None and [c.name for c in key.find_all(exp.Column)] == ["sensor_id", "ts"]

    assert isinstance(truncate, exp.TruncateTable)
    assert truncate.find(exp.Table).name == "twin_ingest_stage"  # type: ignore[union-attr]


def test_staging_insert_parses_with_one_placeholder_per_column() -> None:
    (insert,) = t_sql_statements(MSSQL_STAGE_INSERT)

    assert isinstance(insert, exp.Insert)
    assert [c.name for c in insert.this.expressions] == list(COLUMNS)
    assert len(list(insert.find_all(exp.Placeholder))) == len(COLUMNS)


def test_bulk_merge_parses_and_matches_on_the_primary_key_of_sensor_readings() -> None:
    (merge,) = t_sql_statements(MSSQL_MERGE)

    assert isinstance(merge, exp.Merge)
    assert merge.this.name == "sensor_readings"
    assert "HOLDLOCK" in merge.this.sql("tsql")
    matched_on = {c.name for c in merge.args["on"].find_all(exp.Column)}
    assert matched_on == {c.name for c in SENSOR_READINGS.primary_key.columns}
    whens = merge.find_all(exp.When)
    insert = next(w for w in whens if w.find(exp.Insert)).find(exp.Insert)
    assert [c.name for c in insert.this.expressions] == list(COLUMNS)  # type: ignore[union-attr]


def test_bulk_staging_ts_is_at_least_as_precise_as_the_stored_column() -> None:
    # comparing DATETIME2(7) with DATETIME2(6) is exact; a DATETIME on either side would not be
    stage_ts = re.search(r"\bts (\w+(?:\(\d\))?) ", MSSQL_STAGE)
    assert stage_ts and stage_ts.group(1) in ("DATETIME2", "DATETIME2(7)", "DATETIME2(6)")
    assert str(SENSOR_READINGS.c.ts.type.compile(dialect=MSSQL)) == "DATETIME2(6)"


# -- (d) live SQL Server ---------------------------------------------------------------------


@pytest.fixture
def mssql_db(tmp_path: Path) -> Iterator[Database]:
    """A fresh SQL Server database at head, dropped afterwards.

    ``TWIN_TEST_MSSQL_URL`` names a server and a login allowed to CREATE DATABASE.
    """
    url = os.environ.get(MSSQL_ENV)
    if not url:
        pytest.skip(f"{MSSQL_ENV} is not set")
    server = make_url(url)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"twin_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE [{name}]"))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        pytest.fail(f"{MSSQL_ENV} is set but SQL Server refuses a test database: {exc}")
    database = Database(make_settings(
        tmp_path, database__url=server.set(database=name).render_as_string(hide_password=False)
    ))
    try:
        upgrade(database.engine)
        yield database
    finally:
        database.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE [{name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE"))
            conn.execute(text(f"DROP DATABASE [{name}]"))
        admin.dispose()


def sql_server_rows(sensor_id: int, n: int, offset: float = 0.0) -> list[Row]:
    """``rows_for`` without subnormal floats, which SQL Server's FLOAT does not store."""
    smallest_normal = 2.2250738585072014e-308
    return [(i, t, v if v == 0 or abs(v) >= smallest_normal else smallest_normal)
            for i, t, v in rows_for(sensor_id, n, offset=offset)]


@pytest.mark.mssql
def test_mssql_readings_round_trip_exactly_and_resend_idempotently(mssql_db: Database) -> None:
    plant = add_plant(mssql_db)
    rows = sql_server_rows(plant.sensor_ids[0], 20) + sql_server_rows(plant.sensor_ids[1], 20, 0.5)

    first = write_sensor_readings(mssql_db.engine, frame(rows), chunk_rows=15)
    again = write_sensor_readings(mssql_db.engine, frame(rows), chunk_rows=15)

    assert first == again == IngestResult(rows=40, chunks=3, merged_chunks=3)
    assert count(mssql_db) == 40
    assert_rows_equal(stored(mssql_db), rows)


@pytest.mark.mssql
def test_mssql_resent_values_update_and_new_ones_insert(mssql_db: Database) -> None:
    sensor = add_plant(mssql_db, 1).sensor_ids[0]
    write_sensor_readings(mssql_db.engine, frame(sql_server_rows(sensor, 10)))
    corrected = [(i, t, -v) for i, t, v in sql_server_rows(sensor, 15)[5:]]

    write_sensor_readings(mssql_db.engine, frame(corrected))

    assert_rows_equal(stored(mssql_db), sql_server_rows(sensor, 5) + corrected)


@pytest.mark.mssql
def test_mssql_given_a_connection_a_failing_chunk_rolls_back_the_whole_call(
    mssql_db: Database,
) -> None:
    import pyodbc  # only importable where an ODBC driver manager is installed

    sensor = add_plant(mssql_db, 1).sensor_ids[0]
    bad = frame(sql_server_rows(sensor, 2) + sql_server_rows(987_654, 2))

    with pytest.raises(pyodbc.IntegrityError, match="FOREIGN KEY"):
        with mssql_db.engine.begin() as conn:
            write_sensor_readings(conn, bad, chunk_rows=2)

    assert count(mssql_db) == 0


@pytest.mark.mssql
def test_mssql_upsert_inserts_updates_and_leaves_alone(mssql_db: Database) -> None:
    table: Table = Calculation.__table__  # type: ignore[assignment]
    keys = ["asset_id", "name", "ts"]
    asset_id = add_plant(mssql_db, 0).asset_id
    t0 = utc(2024, 3, 1, 12, 0, 0, 250)

    def row(ts_offset_s: int, value: float) -> dict[str, object]:
        return {"asset_id": asset_id, "name": "destruction",
                "ts": t0 + timedelta(seconds=ts_offset_s), "value": value}

    with mssql_db.engine.begin() as conn:
        upsert(conn, table, [row(0, 1.0), row(1, 2.0)], keys)
    with mssql_db.engine.begin() as conn:
        upsert(conn, table, [row(0, 10.0), row(2, 3.0)], keys)
    with mssql_db.engine.begin() as conn:
        upsert(conn, table, [row(1, 99.0), row(3, 4.0)], keys, update=False)

    with mssql_db.engine.connect() as conn:
        got = [tuple(r) for r in conn.execute(table.select().order_by(table.c.ts))]
    assert got == [
        (asset_id, "destruction", t0, 10.0),
        (asset_id, "destruction", t0 + timedelta(seconds=1), 2.0),
        (asset_id, "destruction", t0 + timedelta(seconds=2), 3.0),
        (asset_id, "destruction", t0 + timedelta(seconds=3), 4.0),
    ]
