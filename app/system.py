"""Liveness of the background machinery: the broker and worker heartbeats."""

from __future__ import annotations

from app.db import Database
from app.db.base import utcnow
from app.db.models import WorkerHeartbeat
from app.db.upsert import upsert
from settings import Settings, mask_url


def record_heartbeat(db: Database, hostname: str, pid: int) -> None:
    """Upsert the worker's last-seen time (idempotent: one row per worker host name)."""
    with db.engine.begin() as conn:
        upsert(
            conn,
            WorkerHeartbeat.__table__,
            [{"hostname": hostname[:200], "seen_at": utcnow(), "pid": pid}],
            keys=["hostname"],
        )


def broker_status(settings: Settings, timeout_s: float = 2.0) -> dict[str, str]:
    """Connect to the broker (Redis, or the embedded SQLite broker) once, quickly.

    Returns ``{"status": "ok"|"down", "url": <password hidden>, "error": ...}``.
    """
    from kombu import Connection

    url = settings.broker_url
    try:
        with Connection(url, connect_timeout=timeout_s,
                        transport_options={"socket_timeout": timeout_s}) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason is reported
        return {"status": "down", "url": mask_url(url), "error": str(exc)[:200]}
    return {"status": "ok", "url": mask_url(url)}
