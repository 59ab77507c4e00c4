"""The data layer: models, engines and sessions, portable upserts, migrations."""

from app.db.base import Base, UTCDateTime, utcnow
from app.db.session import Database, DatabaseUnavailable, check_connection, make_engine

__all__ = [
    "Base",
    "Database",
    "DatabaseUnavailable",
    "UTCDateTime",
    "check_connection",
    "make_engine",
    "utcnow",
]
