"""Declarative base, naming convention and column types shared by every model."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime, Float, Integer, MetaData, String, type_coerce
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

# Alembic needs stable constraint names to alter or drop them later (SQLite batch mode recreates
# tables and matches constraints by name), so every constraint is named the same way everywhere.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python, naive UTC in the database.

    Naive UTC is the one representation SQLite, PostgreSQL (``timestamp``) and SQL Server
    (``datetime2``) all store and index the same way, and it is what the bulk paths write.
    Naive datetimes are refused on the way in: a naive time is a bug waiting for a clock change.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # SQL Server's DATETIME rounds to 3.33 ms and starts in 1753; DATETIME2(6) keeps
        # microseconds like the other two databases.
        if dialect.name == "mssql":
            return dialect.type_descriptor(mssql.DATETIME2(precision=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC time")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite rows written by the raw bulk path
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def raw_ts(column: Any, dialect: str) -> Any:
    """``column`` (a UTCDateTime) as the database returns it, labelled ``ts``, for bulk reads
    that convert it in one vectorised ``pd.to_datetime(..., utc=True, format="ISO8601")``.

    UTCDateTime converts each value in Python, about 2 us a row: that was 40 % of the time to
    load a year of an asset's readings (bench/pipeline.py). SQLite returns its stored text
    ('YYYY-MM-DD HH:MM:SS.ffffff'), the other databases naive UTC datetimes."""
    return type_coerce(column, String() if dialect == "sqlite" else DateTime()).label("ts")


class HourSummary:
    """The columns of an hourly rollup (:class:`SensorRollup`, ``CalculationRollup``): how many
    values the hour holds, their extremes and sum, and the first and last value's time."""

    n: Mapped[int] = mapped_column(Integer)
    min_value: Mapped[float] = mapped_column(Float)
    max_value: Mapped[float] = mapped_column(Float)
    sum_value: Mapped[float] = mapped_column(Float)
    first_ts: Mapped[datetime] = mapped_column(UTCDateTime)
    last_ts: Mapped[datetime] = mapped_column(UTCDateTime)
