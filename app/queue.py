"""Sending tasks to the workers by name, from processes that do not run them (the portal).

The web app does not import the workers' code: it only needs the broker and a task name.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from settings import Settings

log = logging.getLogger(__name__)


class QueueUnavailable(RuntimeError):
    """The broker did not take the task; ``str()`` says so in words for a person."""


class TaskQueue:
    def __init__(self, settings: Settings) -> None:
        # No result backend: the portal follows its work in the database (jobs, email log),
        # never in Celery's results. With one, every send subscribed to the task's result
        # channel (one subscription per task for the life of the web process) and, with Redis
        # down, retried that subscription 20 times a second apart: a click answered after 19 s
        # instead of "the queue is not answering". Workers still store results in their own.
        self.client = Celery("twin-client", broker=settings.broker_url)
        self.client.conf.update(broker_connection_retry_on_startup=False, task_serializer="json",
                                accept_content=["json"])
        if settings.broker_url.startswith(("redis://", "rediss://")):
            self.client.conf.broker_transport_options = {
                "visibility_timeout": settings.broker.visibility_timeout_s,
                # A broker that vanishes without closing the connection must not hold a
                # request either.
                "socket_connect_timeout": 2, "socket_timeout": 5}

    def send(self, name: str, *args: Any) -> str:
        """Queue task ``name``; its id. Gives up quickly when the broker does not answer."""
        try:
            result = self.client.send_task(name, args=args, retry=True, retry_policy={
                "max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1})
        except Exception as exc:  # noqa: BLE001 - whatever the transport raises, say it plainly
            log.error("could not queue %s%r: %s", name, args, exc)
            raise QueueUnavailable("The task queue is not answering; the job was not started. "
                                   "Try again in a moment.") from exc
        return result.id
