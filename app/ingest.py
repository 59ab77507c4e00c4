"""The one bulk path for sensor readings: fast on each database, idempotent on (sensor, ts).

Everything that writes sensor data (the generator, demo seeding, file import, the API) calls
:func:`write_sensor_readings`. Rows go in bounded chunks, each with the database's fastest
bulk mechanism:

* SQLite: ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE`` on the raw driver cursor.
* PostgreSQL: ``COPY``. When no stored row overlaps the chunk's sensors and time span (the usual
  case: new data), straight into ``sensor_readings``; otherwise (a re-send, a correction) into a
  temporary table merged with ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``. A racing writer
  that lands an overlapping row between the check and the ``COPY`` makes the ``COPY`` fail on
  the primary key; the chunk is then rolled back to a savepoint and merged.
* SQL Server: ``fast_executemany`` into a ``#temp`` table, then ``MERGE``.

A re-sent reading replaces the stored value (the latest word wins), so re-running an ingest
changes and duplicates nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

COLUMNS = ("sensor_id", "ts", "value")
TABLE = "sensor_readings"
COPY_PIECE_ROWS = 10_000


class IngestError(ValueError):
    """Rows that cannot be stored as given; the message says which and why."""


@dataclass
class IngestResult:
    rows: int = 0
    chunks: int = 0
    # Chunks that overlapped stored data and took the separate merge step (PostgreSQL; SQL
    # Server always merges). SQLite's single upsert statement has no such step: always 0.
    merged_chunks: int = 0


def normalise(frame: pd.DataFrame, first_row: int = 0) -> pd.DataFrame:
    """Validate a frame of (sensor_id, ts, value) and return it with naive-UTC ``ts``
    (``datetime64[us]``), int64 ids and float64 values, one row per (sensor_id, ts), the
    last occurrence of a duplicate winning. Errors count rows from ``first_row``."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise IngestError(f"sensor readings need columns {', '.join(COLUMNS)}; missing {missing}")
    out = frame.loc[:, list(COLUMNS)]
    ts = out["ts"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        raise IngestError("ts must be timezone-aware (UTC) timestamps")
    if ts.isna().any():
        first = first_row + int(np.flatnonzero(ts.isna().to_numpy())[0])
        raise IngestError(f"{int(ts.isna().sum())} reading(s) have no ts (first at row {first})")
    ids = pd.to_numeric(out["sensor_id"], errors="coerce")
    bad_id = (ids.isna() | (ids != np.round(ids))).to_numpy()
    if bad_id.any():
        first = first_row + int(np.flatnonzero(bad_id)[0])
        raise IngestError(
            f"{int(bad_id.sum())} reading(s) have no integer sensor_id (first at row {first})"
        )
    out = pd.DataFrame(
        {
            "sensor_id": ids.to_numpy(dtype=np.int64),
            "ts": ts.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").to_numpy(),
            "value": pd.to_numeric(out["value"], errors="coerce").to_numpy(dtype=np.float64),
        }
    )
    bad = ~np.isfinite(out["value"].to_numpy())
    if bad.any():
        first = first_row + int(np.flatnonzero(bad)[0])
        raise IngestError(
            f"{int(bad.sum())} reading(s) have no finite value (first at row {first})"
        )
    if out.duplicated(["sensor_id", "ts"], keep="last").any():
        out = out.drop_duplicates(["sensor_id", "ts"], keep="last", ignore_index=True)
    return out


def iso_strings(ts: np.ndarray) -> list[str]:
    """Naive-UTC datetime64[us] as the text SQLAlchemy's SQLite dialect stores
    ('YYYY-MM-DD HH:MM:SS.ffffff'), so ORM queries and range scans compare correctly."""
    text = np.datetime_as_string(ts, unit="us")
    return np.char.replace(text, "T", " ").tolist()


def raw_connection(conn: Connection):  # the DBAPI connection under SQLAlchemy's pool proxy
    return conn.connection.dbapi_connection


# -- SQLite ---------------------------------------------------------------------------------

_SQLITE_UPSERT = (
    f"INSERT INTO {TABLE} (sensor_id, ts, value) VALUES (?, ?, ?) "
    "ON CONFLICT (sensor_id, ts) DO UPDATE SET value = excluded.value"
)


def _write_sqlite(conn: Connection, chunk: pd.DataFrame) -> bool:
    rows = zip(chunk["sensor_id"].tolist(), iso_strings(chunk["ts"].to_numpy()), chunk["value"].tolist())
    cursor = raw_connection(conn).cursor()
    try:
        cursor.executemany(_SQLITE_UPSERT, rows)
    finally:
        cursor.close()
    return False


# -- PostgreSQL -----------------------------------------------------------------------------


def copy_text(chunk: pd.DataFrame) -> bytes:
    """The chunk in PostgreSQL's COPY text format (tab-separated, one row a line).

    Built with one f-string join: twice as fast as ``DataFrame.to_csv`` here, and ``str(float)``
    is the shortest repr that round-trips, so COPY stores exactly the value given."""
    rows = zip(chunk["sensor_id"].tolist(), iso_strings(chunk["ts"].to_numpy()), chunk["value"].tolist())
    return "".join(f"{sensor}\t{ts}\t{value}\n" for sensor, ts, value in rows).encode()


def _pg_overlaps(cursor, chunk: pd.DataFrame) -> bool:
    ids = sorted(set(chunk["sensor_id"].tolist()))
    ts = chunk["ts"].to_numpy()
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {TABLE} WHERE sensor_id = ANY(%s) AND ts BETWEEN %s AND %s)",
        (ids, pd.Timestamp(ts.min()).to_pydatetime(), pd.Timestamp(ts.max()).to_pydatetime()),
    )
    return bool(cursor.fetchone()[0])


def _copy_pieces(chunk: pd.DataFrame, piece_rows: int = COPY_PIECE_ROWS) -> Iterator[bytes]:
    # Sent in pieces so the server ingests one piece while Python formats the next; building
    # the whole chunk first left the server idle for about 1 s per million rows.
    for start in range(0, len(chunk), piece_rows):
        yield copy_text(chunk.iloc[start : start + piece_rows])


def _copy(cursor: Any, table: str, chunk: pd.DataFrame) -> None:
    with cursor.copy(f"COPY {table} (sensor_id, ts, value) FROM STDIN") as copy:
        for piece in _copy_pieces(chunk):
            copy.write(piece)


def _write_postgresql(conn: Connection, chunk: pd.DataFrame) -> bool:
    import psycopg

    raw = raw_connection(conn)
    with raw.cursor() as cursor:
        if not _pg_overlaps(cursor, chunk):
            try:
                with raw.transaction():  # a savepoint inside the caller's transaction
                    _copy(cursor, TABLE, chunk)
                return False
            except psycopg.errors.UniqueViolation:
                log.info("concurrent write overlapped a chunk; merging it instead")
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS twin_ingest_stage "
            "(sensor_id bigint, ts timestamp, value double precision) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE twin_ingest_stage")
        _copy(cursor, "twin_ingest_stage", chunk)
        cursor.execute(
            f"INSERT INTO {TABLE} (sensor_id, ts, value) "
            "SELECT sensor_id, ts, value FROM twin_ingest_stage "
            "ON CONFLICT (sensor_id, ts) DO UPDATE SET value = EXCLUDED.value"
        )
    return True


# -- SQL Server -----------------------------------------------------------------------------

MSSQL_STAGE = (
    "IF OBJECT_ID('tempdb..#twin_ingest_stage') IS NULL "
    "CREATE TABLE #twin_ingest_stage (sensor_id BIGINT NOT NULL, ts DATETIME2 NOT NULL, "
    "value FLOAT NOT NULL, PRIMARY KEY (sensor_id, ts)); "
    "TRUNCATE TABLE #twin_ingest_stage;"
)
MSSQL_STAGE_INSERT = "INSERT INTO #twin_ingest_stage (sensor_id, ts, value) VALUES (?, ?, ?)"
MSSQL_MERGE = (
    f"MERGE INTO {TABLE} WITH (HOLDLOCK) AS target "
    "USING #twin_ingest_stage AS source "
    "ON target.sensor_id = source.sensor_id AND target.ts = source.ts "
    "WHEN MATCHED THEN UPDATE SET target.value = source.value "
    "WHEN NOT MATCHED THEN INSERT (sensor_id, ts, value) "
    "VALUES (source.sensor_id, source.ts, source.value);"
)


def _write_mssql(conn: Connection, chunk: pd.DataFrame) -> bool:
    cursor = raw_connection(conn).cursor()
    try:
        cursor.fast_executemany = True
        cursor.execute(MSSQL_STAGE)
        rows = list(
            zip(
                chunk["sensor_id"].tolist(),
                pd.DatetimeIndex(chunk["ts"]).to_pydatetime().tolist(),
                chunk["value"].tolist(),
            )
        )
        cursor.executemany(MSSQL_STAGE_INSERT, rows)
        cursor.execute(MSSQL_MERGE)
    finally:
        cursor.close()
    return True


_WRITERS: dict[str, Callable[[Connection, pd.DataFrame], bool]] = {
    "sqlite": _write_sqlite,
    "postgresql": _write_postgresql,
    "mssql": _write_mssql,
}


def _chunks(frames: pd.DataFrame | Iterable[pd.DataFrame], chunk_rows: int):
    """(row number of the chunk's first row across all frames, chunk)."""
    if isinstance(frames, pd.DataFrame):
        frames = (frames,)
    offset = 0
    for frame in frames:
        for start in range(0, len(frame), chunk_rows):
            yield offset + start, frame.iloc[start : start + chunk_rows]
        offset += len(frame)


def write_sensor_readings(
    target: Engine | Connection,
    frames: pd.DataFrame | Iterable[pd.DataFrame],
    *,
    chunk_rows: int = 100_000,
    progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Store sensor readings; see the module docstring for how each database does it.

    ``frames`` is one DataFrame or an iterable of them, with columns sensor_id, ts (tz-aware)
    and value. Given an :class:`Engine`, each chunk of at most ``chunk_rows`` rows commits on its
    own (memory and lock time stay bounded; a re-run completes an interrupted ingest). Given a
    :class:`Connection`, everything runs in the caller's transaction (all or nothing).
    ``progress`` is called with the number of rows of each chunk written.
    """
    result = IngestResult()
    dialect = target.dialect.name
    try:
        writer = _WRITERS[dialect]
    except KeyError:
        raise NotImplementedError(f"no bulk sensor path for the {dialect} dialect") from None
    if isinstance(target, Connection) and not target.in_transaction():
        # The writers work on the DBAPI connection, which SQLAlchemy does not see: begin here
        # so that the caller's conn.commit() (commit-as-you-go) commits these rows.
        target.begin()
    for first_row, raw_chunk in _chunks(frames, chunk_rows):
        if raw_chunk.empty:
            continue
        chunk = normalise(raw_chunk, first_row)
        if isinstance(target, Engine):
            with target.begin() as conn:
                merged = writer(conn, chunk)
        else:
            merged = writer(target, chunk)
        result.rows += len(chunk)
        result.chunks += 1
        result.merged_chunks += int(merged)
        if progress is not None:
            progress(len(chunk))
    return result
