"""Building the message of an email-log row, from what the row says it is."""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Alert, Asset, EmailLog, Sensor, Site
from app.mail.render import AlertView, Envelope, alert_message, summary_message
from app.summaries import Period, build_summary
from settings import Settings

SUMMARY_KINDS = ("summary.meter", "summary.account", "summary.monthly")
ALERT_KINDS = ("alert", "alert.digest")


def envelope(entry: EmailLog, settings: Settings) -> Envelope:
    assert entry.message_id, "every log row gets its Message-ID when it is created"
    return Envelope(settings.smtp.from_address, entry.recipient, entry.message_id)


def alert_views(session: Session, alert_ids: list[int]) -> list[AlertView]:
    rows = session.execute(
        select(Alert, Asset.name, Site.name, Sensor.name)
        .join(Asset, Asset.id == Alert.asset_id)
        .join(Site, Site.id == Asset.site_id)
        .outerjoin(Sensor, Sensor.id == Alert.sensor_id)
        .where(Alert.id.in_(alert_ids))
        .order_by(Alert.started_at, Alert.id)
    ).all()
    return [
        AlertView(a.id, site, asset, sensor, a.kind, a.severity, a.classification, a.message,
                  a.started_at, a.ended_at)
        for a, asset, site, sensor in rows
    ]


def render_entry(session: Session, settings: Settings, entry: EmailLog) -> EmailMessage:
    """The message row ``entry`` stands for, rendered from the database as it is now."""
    params = entry.params or {}
    if entry.kind in SUMMARY_KINDS:
        if entry.supplier_id is None or entry.period_start is None or entry.period_end is None:
            raise ValueError("a summary row needs its supplier and period")
        period = Period(entry.period_start, entry.period_end, params["period_label"], params["period_key"])
        summary = build_summary(session, entry.supplier_id, params["scope"], params.get("target_id"), period)
        return summary_message(summary, envelope(entry, settings))
    if entry.kind in ALERT_KINDS:
        views = alert_views(session, [int(i) for i in params["alert_ids"]])
        if not views:
            raise ValueError("the alerts of this message no longer exist")
        return alert_message(views, envelope(entry, settings))
    raise ValueError(f"unknown email kind {entry.kind!r}")
