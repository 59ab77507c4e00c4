"""The audit log: who did what, when, to which record, with old and new values."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.db.models import AuditLog


def record(
    session: Session,
    action: str,
    *,
    supplier_id: int | None = None,
    user_id: int | None = None,
    entity: str | None = None,
    entity_id: int | str | None = None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditLog:
    """Add an audit row to ``session``; it commits (or rolls back) with the change it records."""
    row = AuditLog(
        supplier_id=supplier_id,
        user_id=user_id,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        old=old,
        new=new,
        ip=ip,
    )
    session.add(row)
    return row
