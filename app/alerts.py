"""What the Alerts page shows and does: a supplier's alerts, open alerts counted per site, and
acknowledging an alert (who, when, comment; audited). Every query is scoped to the supplier.

Alerts are raised by :mod:`app.anomalies`; their lifecycle is described there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, aliased

from app import audit
from app.db.models import Alert, Asset, Sensor, Site, User

#: The page lists at most this many alerts (open ones first).
LIST_LIMIT = 500
COMMENT_MAX = 1000
STATUS_ORDER = case((Alert.status == "open", 0), (Alert.status == "acknowledged", 1), else_=2)
SEVERITY_ORDER = case((Alert.severity == "critical", 0), else_=1)


class AlertNotFound(LookupError):
    """No such alert for this supplier (or none at all: the two are not told apart)."""


class AcknowledgeRefused(ValueError):
    """The alert cannot be acknowledged as asked; ``str()`` says why, for the user."""


@dataclass(frozen=True)
class AlertRow:
    id: int
    site: str
    asset_id: int
    asset: str
    sensor: str | None
    kind: str
    severity: str
    classification: str
    message: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_comment: str | None


@dataclass(frozen=True)
class SiteCount:
    """A site's alerts: open (nobody has acknowledged them yet) by severity, and acknowledged
    (someone is on it, the anomaly may still be running)."""

    site_id: int
    site: str
    critical: int
    warning: int
    acknowledged: int

    @property
    def open(self) -> int:
        return self.critical + self.warning


def _query(supplier_id: int, *conditions: Any) -> Any:
    acknowledger = aliased(User)
    return (
        select(Alert, Site.name, Asset.name, Sensor.name, acknowledger.name)
        .join(Asset, Asset.id == Alert.asset_id)
        .join(Site, Site.id == Asset.site_id)
        .outerjoin(Sensor, Sensor.id == Alert.sensor_id)
        .outerjoin(acknowledger, acknowledger.id == Alert.acknowledged_by_id)
        .where(Site.supplier_id == supplier_id, *conditions)
    )


def _rows(session: Session, supplier_id: int, *conditions: Any, limit: int,
          offset: int = 0) -> list[AlertRow]:
    query = (_query(supplier_id, *conditions)
             .order_by(STATUS_ORDER, SEVERITY_ORDER, Alert.started_at.desc(), Alert.id.desc())
             .offset(offset).limit(limit))
    return [
        AlertRow(a.id, site, a.asset_id, asset, sensor, a.kind, a.severity, a.classification,
                 a.message, a.status, a.started_at, a.ended_at, who or a.acknowledged_via,
                 a.acknowledged_at, a.ack_comment)
        for a, site, asset, sensor, who in session.execute(query).all()
    ]


def page_alerts(session: Session, supplier_id: int, *, offset: int, limit: int,
                status: str | None = None, asset_id: int | None = None,
                site_id: int | None = None) -> tuple[list[AlertRow], int]:
    """A page of the supplier's alerts in :func:`list_alerts` order, and how many match."""
    conditions = [condition for condition in (
        Alert.status == status if status else None,
        Alert.asset_id == asset_id if asset_id is not None else None,
        Site.id == site_id if site_id is not None else None) if condition is not None]
    total = session.scalar(select(func.count()).select_from(_query(supplier_id, *conditions)
                                                             .subquery())) or 0
    return _rows(session, supplier_id, *conditions, limit=limit, offset=offset), total


def list_alerts(session: Session, supplier_id: int, *, open_only: bool = False,
                limit: int = LIST_LIMIT) -> list[AlertRow]:
    """The supplier's alerts, open first, then acknowledged, then closed; critical before
    warning; newest first. ``open_only``: the open ones alone."""
    conditions = [Alert.status == "open"] if open_only else []
    return _rows(session, supplier_id, *conditions, limit=limit)


def find_alert(session: Session, supplier_id: int, alert_id: int) -> AlertRow | None:
    """One alert of the supplier; None for an alert of another supplier or none at all."""
    found = _rows(session, supplier_id, Alert.id == alert_id, limit=1)
    return found[0] if found else None


def open_counts(session: Session, supplier_id: int) -> list[SiteCount]:
    """Every site of the supplier with its open alerts by severity and its acknowledged ones
    (sites with none included), sites with the most open critical alerts first."""

    def counted(condition):  # type: ignore[no-untyped-def]
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    critical = counted((Alert.status == "open") & (Alert.severity == "critical"))
    warning = counted((Alert.status == "open") & (Alert.severity != "critical"))
    acknowledged = counted(Alert.status == "acknowledged")
    rows = session.execute(
        select(Site.id, Site.name, critical.label("critical"), warning.label("warning"),
               acknowledged.label("acknowledged"))
        .outerjoin(Asset, Asset.site_id == Site.id)
        .outerjoin(Alert, Alert.asset_id == Asset.id)
        .where(Site.supplier_id == supplier_id)
        .group_by(Site.id, Site.name)
    ).all()
    counts = [SiteCount(site_id, name, int(c), int(w), int(a)) for site_id, name, c, w, a in rows]
    return sorted(counts, key=lambda s: (-s.critical, -s.warning, s.site))


def acknowledge(session: Session, *, supplier_id: int, user_id: int | None, role: str,
                alert_id: int, comment: str, now: datetime, ip: str | None = None,
                via: str | None = None) -> Alert:
    """Mark an open alert acknowledged by the user (or, with no user, by ``via``: an API
    token), with their comment, and audit it, in the caller's transaction. Operators and admins only (``PermissionError`` for a viewer);
    :class:`AlertNotFound` for an alert of another supplier; :class:`AcknowledgeRefused` for
    an empty comment or an alert already acknowledged or closed."""
    if role not in ("operator", "admin"):
        raise PermissionError("only operators and admins acknowledge alerts")
    alert = session.scalar(
        select(Alert).join(Asset, Asset.id == Alert.asset_id).join(Site, Site.id == Asset.site_id)
        .where(Alert.id == alert_id, Site.supplier_id == supplier_id)
    )
    if alert is None:
        raise AlertNotFound(alert_id)
    text = (comment or "").strip()
    if not text:
        raise AcknowledgeRefused("Say what is being done about it: the comment is required.")
    if len(text) > COMMENT_MAX:
        raise AcknowledgeRefused(f"The comment is too long: at most {COMMENT_MAX} characters.")
    # Conditional, so two people acknowledging at once cannot both succeed.
    changed = session.execute(
        update(Alert).where(Alert.id == alert.id, Alert.status == "open")
        .values(status="acknowledged", acknowledged_by_id=user_id, acknowledged_via=via,
                acknowledged_at=now, ack_comment=text)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(alert)
    if not changed:
        raise AcknowledgeRefused(f"This alert is already {alert.status}.")
    audit.record(session, "alert.acknowledged", supplier_id=supplier_id, user_id=user_id,
                 entity="alert", entity_id=alert.id, old={"status": "open"},
                 new={"status": "acknowledged", "comment": text, **({"via": via} if via else {})},
                 ip=ip)
    return alert
