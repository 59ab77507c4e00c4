"""Migrations bring an empty database to head, and the models match what they build."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.db import Base, Database
from app.db.migrate import alembic_config, current_revision, head_revision, upgrade


def assert_models_match_schema(database: Database) -> None:
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_upgrade_takes_an_empty_sqlite_database_to_head_once(db: Database) -> None:
    assert current_revision(db.engine) == head_revision(db.engine)
    upgrade(db.engine)  # a second run is a no-op
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert_models_match_schema(db)


@pytest.mark.postgres
def test_upgrade_takes_an_empty_postgres_database_to_head(pg_db: Database) -> None:
    assert current_revision(pg_db.engine) == head_revision(pg_db.engine)
    assert_models_match_schema(pg_db)


def test_sensor_readings_key_serves_range_scans(db: Database) -> None:
    pk = inspect(db.engine).get_pk_constraint("sensor_readings")
    assert pk["constrained_columns"] == ["sensor_id", "ts"]


def test_migrations_render_for_sql_server_offline(tmp_path: Path, db: Database) -> None:
    config = alembic_config(db.engine)
    config.set_main_option(
        "sqlalchemy.url", "mssql+pyodbc://u:p@host/twin?driver=ODBC+Driver+18+for+SQL+Server"
    )
    buffer = io.StringIO()
    config.output_buffer = buffer
    command.upgrade(config, "head", sql=True)
    sql = buffer.getvalue()
    assert "CREATE TABLE sensor_readings" in sql
    assert "ts DATETIME2(6) NOT NULL" in sql
    assert "CONSTRAINT pk_sensor_readings PRIMARY KEY (sensor_id, ts)" in sql
