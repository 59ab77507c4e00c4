"""Named leases in the database: one holder at a time until it stops renewing.

Used so that only one Celery beat schedules work, however many are started (a second waits and
takes over when the first stops). Portable: a conditional UPDATE decides who holds the lease.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from app.db import Database
from app.db.base import utcnow
from app.db.models import Lease


def acquire(db: Database, name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew the lease; True when ``holder`` holds it until now + ``ttl``."""
    now = utcnow()
    with db.engine.begin() as conn:
        taken = conn.execute(
            update(Lease).where(Lease.name == name,
                                or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=now + ttl)
        ).rowcount
    if taken:
        return True
    try:
        with db.engine.begin() as conn:
            conn.execute(Lease.__table__.insert().values(name=name, holder=holder, expires_at=now + ttl))
        return True
    except IntegrityError:  # somebody else holds it
        return False


def release(db: Database, name: str, holder: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(update(Lease).where(Lease.name == name, Lease.holder == holder)
                     .values(expires_at=utcnow() - timedelta(seconds=1)))
