"""``GET /healthz``: is the database answering, is the broker answering, is a worker alive?"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, jsonify
from sqlalchemy import func, select

from app.db import DatabaseUnavailable
from app.db.base import utcnow
from app.db.models import WorkerHeartbeat
from app.system import broker_status
from app.web.context import twin

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz() -> tuple[Response, int]:
    context = twin()
    checks: dict[str, dict[str, str]] = {}
    try:
        context.db.check()
        checks["database"] = {"status": "ok", "dialect": context.db.dialect}
    except DatabaseUnavailable as exc:
        checks["database"] = {"status": "down", "error": str(exc)}
    checks["broker"] = broker_status(context.settings)
    if checks["database"]["status"] == "ok":
        # Informational: a missing worker does not make the web process unhealthy.
        with context.db.Session() as session:
            last = session.scalar(select(func.max(WorkerHeartbeat.seen_at)))
        if last is None:
            checks["workers"] = {"status": "unknown", "detail": "no worker heartbeat yet"}
        else:
            age = utcnow() - last
            stale = age > timedelta(seconds=3 * context.settings.broker.heartbeat_interval_s)
            checks["workers"] = {
                "status": "stale" if stale else "ok",
                "last_heartbeat": last.isoformat(),
            }
    healthy = checks["database"]["status"] == "ok" and checks["broker"]["status"] == "ok"
    return jsonify(status="ok" if healthy else "unavailable", checks=checks), 200 if healthy else 503
