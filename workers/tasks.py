"""Celery tasks: thin wrappers that take ids, call one function of ``app``, and are idempotent."""

from __future__ import annotations

import os

from celery import shared_task

from app.system import record_heartbeat
from workers.base import TwinTask


@shared_task(bind=True, base=TwinTask, name="twin.heartbeat", ignore_result=True)
def heartbeat(self: TwinTask) -> None:
    """Record that this worker is alive (scheduled by beat; shown by ``/healthz``)."""
    record_heartbeat(self.db, self.request.hostname or "unknown", os.getpid())
