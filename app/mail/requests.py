"""What gets emailed: a summary someone asked for, the monthly summaries, and alerts.

Each function only *writes log rows* (in the caller's transaction) and returns the ids to
send; the caller commits, then queues one ``twin.email.send`` task per id, so a task never
runs before its row exists.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.db.models import Alert, Asset, Meter, Site, Supplier
from app.mail.compose import alert_views
from app.mail.delivery import create_entry, idempotency_key
from app.mail.render import alert_subject, summary_subject
from app.summaries import CostSummary, SummaryNotFound, build_summary, last_month, period_named
from settings import Settings

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


def addresses(text: str | None) -> list[str]:
    """The valid addresses of a comma-, semicolon- or space-separated list, each once."""
    seen: dict[str, str] = {}
    for part in re.split(r"[,;\s]+", text or ""):
        if _ADDRESS.match(part) and part.lower() not in seen:
            seen[part.lower()] = part
    return list(seen.values())


@dataclass(frozen=True)
class Requested:
    """One recipient's message of a request: ``state`` is new (queued now), retry (had failed,
    queued again), pending (already on its way) or sent (this very summary went already)."""

    log_id: int
    recipient: str
    state: str
    sent_at: datetime | None

    @property
    def to_queue(self) -> bool:
        return self.state in ("new", "retry")


def _summary_rows(session: Session, settings: Settings, summary: CostSummary, kind: str,
                  recipients: list[str], target_id: int | None, *, version: str,
                  requested_by_id: int | None = None, meter_id: int | None = None,
                  customer_id: int | None = None) -> list[Requested]:
    out = []
    for recipient in recipients:
        key = idempotency_key(kind, recipient, f"{summary.period.key}@{version}",
                              f"{summary.scope}:{target_id}")
        entry, created = create_entry(
            session, settings, key=key, supplier_id=summary.supplier_id, kind=kind,
            recipient=recipient, subject=summary_subject(summary), meter_id=meter_id,
            customer_id=customer_id, period_start=summary.period.start,
            period_end=summary.period.end, requested_by_id=requested_by_id,
            params={"scope": summary.scope, "target_id": target_id,
                    "period_label": summary.period.label, "period_key": summary.period.key},
        )
        if created:
            state = "new"
        elif entry.status == "failed":  # asked again: a fresh set of attempts
            entry.status, entry.attempts = "pending", 0
            state = "retry"
        else:
            state = "sent" if entry.status == "sent" else "pending"
        out.append(Requested(entry.id, recipient, state, entry.sent_at))
    return out


def request_summary(session: Session, settings: Settings, *, supplier_id: int, user_id: int,
                    user_email: str, meter_id: int, scope: str, period_name: str,
                    now: datetime, ip: str | None = None) -> list[Requested]:
    """Email the cost summary of a meter (``scope="meter"``) or of its customer's whole account
    (``scope="account"``) to the user and to the supplier's billing contact.

    The summary is identified by its period *and its newest reading*: asking again with
    nothing new is the same message (not sent twice); after a new reading it is a new one.
    Raises :class:`SummaryNotFound` for a meter of another supplier."""
    if scope not in ("meter", "account"):
        raise ValueError("scope must be meter or account")
    customer_id = session.scalar(select(Meter.customer_id).where(
        Meter.id == meter_id, Meter.supplier_id == supplier_id))
    if customer_id is None:
        raise SummaryNotFound("no such meter")
    target_id = meter_id if scope == "meter" else customer_id
    summary = build_summary(session, supplier_id, scope, target_id, period_named(period_name, now))
    billing = session.scalar(select(Supplier.billing_email).where(Supplier.id == supplier_id))
    recipients = addresses(f"{user_email},{billing or ''}")
    version = summary.through.isoformat() if summary.through else "empty"
    rows = _summary_rows(session, settings, summary, f"summary.{scope}", recipients, target_id,
                         version=version, requested_by_id=user_id,
                         meter_id=meter_id if scope == "meter" else None, customer_id=customer_id)
    audit.record(session, "email.summary_requested", supplier_id=supplier_id, user_id=user_id,
                 entity=scope, entity_id=target_id, ip=ip,
                 new={"period": summary.period.key, "recipients": [r.recipient for r in rows],
                      "states": [r.state for r in rows]})
    return rows


def queue_monthly_summaries(session: Session, settings: Settings, now: datetime) -> list[int]:
    """Last month's summary of each supplier with a billing contact (once per month and
    contact, however often the schedule fires)."""
    ids: list[int] = []
    period = last_month(now)
    for supplier_id, billing in session.execute(select(Supplier.id, Supplier.billing_email)).all():
        recipients = addresses(billing)
        if not recipients:
            log.info("supplier %s has no billing contact: no monthly summary", supplier_id)
            continue
        summary = build_summary(session, supplier_id, "supplier", None, period)
        rows = _summary_rows(session, settings, summary, "summary.monthly", recipients, None,
                             version="month")
        ids += [r.log_id for r in rows if r.to_queue]
    return ids


def queue_alert_emails(session: Session, settings: Settings, now: datetime) -> list[int]:
    """Email the open alerts not yet notified to their site's maintenance contacts.

    An alert of the same asset, sensor and kind as one notified within ``anomaly.rearm_minutes``
    is a repeat: it is marked notified (at that email's time) without a message. When ``mail.alert_digest_after`` or
    more alerts of a site are due together, its contacts get one digest instead of a flood."""
    rearm = now - timedelta(minutes=settings.anomaly.rearm_minutes)
    due = session.execute(
        select(Alert, Site.id, Site.supplier_id, Site.maintenance_emails)
        .join(Asset, Asset.id == Alert.asset_id).join(Site, Site.id == Asset.site_id)
        .where(Alert.notified_at.is_(None), Alert.status == "open")
        .order_by(Alert.started_at, Alert.id)
    ).all()
    by_site: dict[int, list[Alert]] = defaultdict(list)
    contacts: dict[int, tuple[int, list[str]]] = {}
    for alert, site_id, supplier_id, emails in due:
        emailed_at = session.scalar(
            select(func.max(Alert.notified_at)).where(
                Alert.id != alert.id, Alert.asset_id == alert.asset_id, Alert.kind == alert.kind,
                Alert.sensor_id.is_(None) if alert.sensor_id is None else Alert.sensor_id == alert.sensor_id,
                Alert.notified_at >= rearm,
            )
        )
        if emailed_at is not None:
            # A repeat keeps the time of the email it repeats: were it stamped ``now``, each
            # repeat would push the re-arm period on, and a problem that keeps coming back
            # would never be emailed again.
            alert.notified_at = emailed_at
            log.info("alert %s repeats one emailed at %s, within the re-arm period: not emailed",
                     alert.id, emailed_at)
            continue
        alert.notified_at = now
        by_site[site_id].append(alert)
        contacts[site_id] = (supplier_id, addresses(emails))
    ids: list[int] = []
    for site_id, alerts in by_site.items():
        supplier_id, recipients = contacts[site_id]
        if not recipients:
            log.warning("site %s has no maintenance contacts: %s alert(s) not emailed", site_id, len(alerts))
            continue
        alert_ids = [a.id for a in alerts]
        groups = [alert_ids] if len(alerts) >= settings.mail.alert_digest_after else [[i] for i in alert_ids]
        for group in groups:
            kind = "alert.digest" if len(group) > 1 else "alert"
            subject = alert_subject(alert_views(session, group))
            for recipient in recipients:
                entry, created = create_entry(
                    session, settings, key=idempotency_key(kind, recipient, "", ",".join(map(str, group))),
                    supplier_id=supplier_id, kind=kind, recipient=recipient, subject=subject,
                    params={"alert_ids": group, "site_id": site_id},
                )
                if created:
                    ids.append(entry.id)
    return ids
