"""Alembic environment. The connection comes from ``app.db.migrate`` (settings), never an ini."""

from __future__ import annotations

from alembic import context

import app.db.models  # noqa: F401  (registers every table on the metadata)
from app.db.base import Base, UTCDateTime

config = context.config


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # Migrations must not import application types: UTCDateTime is a plain DateTime on disk.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("from sqlalchemy.dialects import mssql")  # type: ignore[attr-defined]
        return 'sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql")'
    return False

target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    dialect = context.get_context().dialect
    if dialect.name == "mssql" and not dialect.server_version_info:
        # No server to ask: render for SQL Server 2022, not SQLAlchemy's pre-2008 fallback
        # (DATE and TIME as DATETIME).
        dialect.server_version_info = (16,)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
