"""The email log's lifecycle: a row per message, claimed, handed over once, then closed.

Exactly once, as far as a sender can make it:

1. A message is a row of ``email_log`` before it is anything else. Its ``idempotency_key``
   (kind, recipient, period, meter or account) is unique: asking twice, or a task delivered
   twice, finds the row and adds nothing.
2. A worker sends only after *claiming* the row with one conditional UPDATE (pending ->
   sending). Two copies of the same task cannot both claim it.
3. The row is marked sent in the transaction right after the server accepts the message.

The one gap no sender can close is a worker killed after the server said "250 OK" and before
step 3 commits. Such a row stays "sending"; after ``stale_after`` it is claimed again and sent
again with the same Message-ID header, so a duplicate is at least recognisable as one. Anything
else (a server that is down, a refused connection, 4xx answers) is retried with exponential
backoff up to ``smtp.max_attempts`` and then marked failed with the reason, which the portal
shows.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import Database
from app.db.base import utcnow
from app.db.models import EmailLog
from app.mail.compose import render_entry
from app.mail.transport import DeliveryError, hand_over
from settings import Settings

log = logging.getLogger(__name__)

STATUSES = ("pending", "sending", "sent", "failed")


class RetryLater(Exception):
    """Not sent this time; try again in ``after_s`` seconds."""

    def __init__(self, reason: str, after_s: float) -> None:
        super().__init__(reason)
        self.after_s = after_s


def idempotency_key(kind: str, recipient: str, period: str, subject: str) -> str:
    """``kind:<sha256>`` of the parts (the recipient case-folded): fixed length whatever the
    address, so the unique index stays small on every database."""
    digest = hashlib.sha256("\x1f".join((kind, recipient.strip().lower(), period, subject)).encode())
    return f"{kind}:{digest.hexdigest()}"


def _message_id(settings: Settings) -> str:
    domain = parseaddr(settings.smtp.from_address)[1].rpartition("@")[2] or "energytwin.local"
    return make_msgid(idstring="twin", domain=domain)


def create_entry(session: Session, settings: Settings, *, key: str, supplier_id: int | None,
                 kind: str, recipient: str, subject: str, **columns: Any) -> tuple[EmailLog, bool]:
    """The log row for ``key``, and whether this call created it. Safe against a concurrent
    creator: the loser of the race on the unique key gets the winner's row."""
    existing = session.scalar(select(EmailLog).where(EmailLog.idempotency_key == key))
    if existing is not None:
        return existing, False
    entry = EmailLog(idempotency_key=key, supplier_id=supplier_id, kind=kind, recipient=recipient,
                     subject=subject[:300], status="pending", attempts=0,
                     message_id=_message_id(settings), **columns)
    try:
        with session.begin_nested():
            session.add(entry)
    except IntegrityError:
        return session.scalars(select(EmailLog).where(EmailLog.idempotency_key == key)).one(), False
    return entry, True


def stale_after(settings: Settings) -> timedelta:
    """How long a claim may last before another worker may assume its holder died: a send is
    a handful of SMTP round trips, each bounded by ``smtp.timeout_s``."""
    return timedelta(seconds=settings.smtp.timeout_s * 4 + 30)


@dataclass(frozen=True)
class Claim:
    claimed: bool
    status: str | None  # the row's status when not claimed (None: no such row)
    retry_after_s: float = 0.0


def claim(db: Database, settings: Settings, log_id: int, now: datetime) -> Claim:
    """Take the row for sending, atomically: pending, or sending by a holder presumed dead."""
    with db.Session() as session, session.begin():
        result = session.execute(
            update(EmailLog)
            .where(
                EmailLog.id == log_id,
                or_(EmailLog.status == "pending",
                    and_(EmailLog.status == "sending", EmailLog.attempted_at < now - stale_after(settings))),
            )
            .values(status="sending", attempts=EmailLog.attempts + 1, attempted_at=now)
        )
        if result.rowcount == 1:
            return Claim(True, "sending")
        row = session.execute(select(EmailLog.status, EmailLog.attempted_at).where(EmailLog.id == log_id)).one_or_none()
    if row is None:
        return Claim(False, None)
    if row.status == "sending" and row.attempted_at is not None:
        remaining = (row.attempted_at + stale_after(settings) - now).total_seconds()
        return Claim(False, "sending", max(1.0, remaining))
    return Claim(False, row.status)


def backoff_s(settings: Settings, attempts: int) -> float:
    return min(settings.smtp.retry_backoff_s * 2 ** max(0, attempts - 1), settings.smtp.retry_backoff_max_s)


def deliver(db: Database, settings: Settings, log_id: int, now: datetime) -> str:
    """Send the message of row ``log_id`` once; the row's final or current status. Raises
    :class:`RetryLater` when the message should be tried again later."""
    got = claim(db, settings, log_id, now)
    if not got.claimed:
        if got.status == "sending":
            raise RetryLater("another worker is sending this message", got.retry_after_s)
        return got.status or "missing"
    with db.Session() as session:
        entry = session.get(EmailLog, log_id)
        assert entry is not None  # just claimed
        try:
            message = render_entry(session, settings, entry)
        except Exception as exc:  # noqa: BLE001 - a message that cannot be built is failed, not retried forever
            log.exception("email %s (%s) could not be built", log_id, entry.kind)
            _close(db, log_id, "failed", f"could not build the message: {exc}")
            return "failed"
        name = f"{log_id:08d}-{entry.kind.replace('.', '-')}"
    try:
        path = hand_over(message, settings, name)
    except DeliveryError as exc:
        return _after_failure(db, settings, log_id, exc)
    _close(db, log_id, "sent", None, path=None if path is None else str(path))
    log.info("email %s sent to %s%s", log_id, message["To"], f" (written to {path})" if path else "")
    return "sent"


def _close(db: Database, log_id: int, status: str, error: str | None, *, path: str | None = None) -> None:
    with db.Session() as session, session.begin():
        entry = session.get(EmailLog, log_id)
        assert entry is not None
        entry.status = status
        entry.last_error = None if error is None else error[:1000]
        if status == "sent":
            entry.sent_at = utcnow()
            entry.message_path = path


def _after_failure(db: Database, settings: Settings, log_id: int, exc: DeliveryError) -> str:
    with db.Session() as session, session.begin():
        entry = session.get(EmailLog, log_id)
        assert entry is not None
        entry.last_error = str(exc)[:1000]
        if exc.temporary and entry.attempts < settings.smtp.max_attempts:
            entry.status = "pending"
            wait = backoff_s(settings, entry.attempts)
            attempts = entry.attempts
        else:
            entry.status = "failed"
            wait = None
    if wait is None:
        log.error("email %s failed for good: %s", log_id, exc)
        return "failed"
    log.warning("email %s not sent (attempt %s), retrying in %.0f s: %s", log_id, attempts, wait, exc)
    raise RetryLater(str(exc), wait)


def due(db: Database, settings: Settings, now: datetime, *, limit: int = 500) -> list[int]:
    """Rows that should be in the queue but may not be: never attempted for a minute (the
    broker was down when they were asked for), attempted long enough ago that no scheduled
    retry can still be pending, or claimed by a worker that has since died. Sending them again
    is safe: the claim lets only one copy through."""
    minute = now - timedelta(minutes=1)
    retry_gone = now - timedelta(seconds=settings.smtp.retry_backoff_max_s + 60)
    with db.Session() as session:
        return list(session.scalars(
            select(EmailLog.id).where(or_(
                and_(EmailLog.status == "pending", EmailLog.attempts == 0, EmailLog.created_at < minute),
                and_(EmailLog.status == "pending", EmailLog.attempted_at < retry_gone),
                and_(EmailLog.status == "sending", EmailLog.attempted_at < now - stale_after(settings)),
            )).order_by(EmailLog.id).limit(limit)
        ))


@dataclass(frozen=True)
class LogRow:
    id: int
    created_at: datetime
    kind: str
    recipient: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    has_file: bool


def recent(session: Session, supplier_id: int, *, limit: int = 200) -> list[LogRow]:
    """The supplier's newest messages, for the portal's Emails page."""
    rows = session.scalars(
        select(EmailLog).where(EmailLog.supplier_id == supplier_id)
        .order_by(EmailLog.created_at.desc(), EmailLog.id.desc()).limit(limit)
    )
    return [LogRow(r.id, r.created_at, r.kind, r.recipient, r.subject, r.status, r.attempts,
                   r.last_error, r.sent_at, bool(r.message_path)) for r in rows]


def counts(session: Session, supplier_id: int) -> dict[str, int]:
    rows = session.execute(
        select(EmailLog.status, func.count()).where(EmailLog.supplier_id == supplier_id)
        .group_by(EmailLog.status)
    ).all()
    return {status: 0 for status in STATUSES} | {status: int(n) for status, n in rows}


def outbox_file(session: Session, settings: Settings, supplier_id: int, log_id: int) -> bytes | None:
    """The .eml of one of the supplier's messages written to the outbox (None if there is none)."""
    path = session.scalar(select(EmailLog.message_path).where(
        EmailLog.id == log_id, EmailLog.supplier_id == supplier_id))
    if not path:
        return None
    file = Path(path).resolve()
    # Only ever serve files from the configured outbox, whatever the column says.
    if settings.outbox_path.resolve() not in file.parents or not file.is_file():
        return None
    return file.read_bytes()
