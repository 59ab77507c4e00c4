"""Operational records: alerts, the email log, the audit log and worker heartbeats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class Alert(Base):
    """One anomaly episode of an asset (merged while it lasts). ``status`` is open,
    acknowledged or closed; ``classification`` leakage, sensor_error, overuse or other."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_asset_status", "asset_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"))
    sensor_id: Mapped[int | None] = mapped_column(ForeignKey("sensors.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    classification: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), default="open")
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who acknowledged it when no person did: "API token 'SCADA bridge'".
    acknowledged_via: Mapped[str | None] = mapped_column(String(120))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ack_comment: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the site's maintenance contacts were emailed (or the email was judged a repeat
    # within the re-arm period): alerts with none are waiting to be notified.
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EmailLog(Base):
    """One outgoing message, written before it is sent. ``idempotency_key`` (kind, recipient,
    period, meter or account) is unique, so a retried or duplicated request or task finds the
    row and sends nothing twice. ``status``: pending, sending, sent or failed; ``params`` holds
    what the message is rendered from (alert ids, the summary's scope); ``message_id`` is fixed
    when the row is made, so a message re-sent after an unknown outcome carries the same
    Message-ID header and receivers can tell it is the same message."""

    __tablename__ = "email_log"
    __table_args__ = (Index("ix_email_log_supplier_created", "supplier_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    message_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(255))
    meter_id: Mapped[int | None] = mapped_column(ForeignKey("meters.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(Base):
    """Who did what, when: logins, lockouts, reading changes, admin actions."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_supplier_at", "supplier_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    old: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(45))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkerHeartbeat(Base):
    """The last time each Celery worker ran the scheduled heartbeat task: proof that the
    broker, beat and a worker are all alive, shown by ``/healthz``."""

    __tablename__ = "worker_heartbeats"

    hostname: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pid: Mapped[int] = mapped_column(Integer)
