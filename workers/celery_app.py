"""The Celery application, configured from the same settings as the web app.

``celery -A workers.celery_app`` finds ``app`` here; ``twin worker`` and ``twin beat`` use
:func:`create_celery`. With no ``TWIN_BROKER_URL`` the broker is embedded: kombu's SQLAlchemy
transport on a SQLite file under the data home, so ``make run`` needs no server.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals
from celery.schedules import crontab

from app import schedule
from app.logs import configure_logging, logging_configured
from settings import Settings, load_settings
from workers.base import SETTINGS_KEY, TwinTask

log = logging.getLogger(__name__)

def create_celery(settings: Settings | None = None, *, beat: bool = False) -> Celery:
    """The Celery app. Only beat (``beat=True``) reads the pipeline's schedule file, so a
    mistake there stops beat with a clear message and leaves workers running."""
    settings = settings or load_settings()
    celery = Celery("twin", task_cls=TwinTask)
    celery.conf.update(
        broker_url=settings.broker_url,
        result_backend=settings.result_backend,
        broker_connection_retry_on_startup=True,
        include=["workers.tasks"],
        timezone="UTC",
        enable_utc=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=24 * 3600,
        task_track_started=True,
        worker_hijack_root_logger=False,  # our own logging, see on_setup_logging
        worker_prefetch_multiplier=1,
        task_soft_time_limit=30 * 60,
        task_time_limit=35 * 60,
        beat_schedule=beat_schedule(settings, None if beat else [], mail=beat),
        **{SETTINGS_KEY: settings},
    )
    if settings.broker_url.startswith(("redis://", "rediss://")):
        celery.conf.broker_transport_options = redis_transport_options(settings)
    return celery


def redis_transport_options(settings: Settings) -> dict[str, int]:
    """An unacknowledged task (its worker died) is delivered again after the visibility
    timeout, found by a sweep of Redis's unacked index. Kombu sweeps every ``interval x
    throttle`` s, 100 s by default, so a lost task would come back up to 100 s late; here the
    sweep runs every half timeout, at most every 10 s (one small ZRANGE)."""
    timeout = settings.broker.visibility_timeout_s
    return {"visibility_timeout": timeout,
            "unacked_restore_interval": max(1, min(10, timeout // 2)),
            "unacked_restore_throttle": 1}


def beat_schedule(settings: Settings, entries: list[schedule.Entry] | None = None, *,
                  mail: bool = True) -> dict[str, dict[str, Any]]:
    """The heartbeat, the email jobs (with ``mail``), and one dispatch per stage of each entry
    of the pipeline's schedule."""
    beats: dict[str, dict[str, Any]] = {
        "worker-heartbeat": {
            "task": "twin.heartbeat",
            "schedule": float(settings.broker.heartbeat_interval_s),
            "options": {"expires": float(settings.broker.heartbeat_interval_s)},
        }
    }
    if mail:
        check = float(settings.mail.alert_check_interval_s)
        beats["email-alerts"] = {"task": "twin.email.alerts", "schedule": check,
                                 "options": {"expires": check}}
        minute, hour, day, month, weekday = settings.mail.monthly_summary_cron.split()
        beats["email-monthly-summaries"] = {
            "task": "twin.email.monthly",
            "schedule": crontab(minute=minute, hour=hour, day_of_month=day, month_of_year=month,
                                day_of_week=weekday),
            "options": {"expires": 6 * 3600.0},
        }
    for entry in schedule.load(settings.pipeline.schedule_file) if entries is None else entries:
        for stage, when in entry.stages.items():
            if when.every is not None:
                every: Any = when.every.total_seconds()
                expires = every
            else:
                minute, hour, day, month, weekday = when.cron  # type: ignore[misc]
                every = crontab(minute=minute, hour=hour, day_of_month=day, month_of_year=month,
                                day_of_week=weekday)
                expires = 3600.0
            beats[f"{stage} {entry.label}"] = {
                "task": "twin.schedule.dispatch",
                "schedule": every,
                "args": (stage, entry.asset_type, entry.asset_id, entry.target, entry.mode),
                # A dispatch nobody picked up in time is dropped, not run late in a pile.
                "options": {"expires": expires},
            }
    return beats


@signals.setup_logging.connect
def on_setup_logging(**_kwargs: Any) -> None:
    # Connecting this signal stops Celery from configuring logging itself. `twin worker` and
    # `twin beat` have configured it already; `celery -A workers.celery_app ...` has not.
    from celery import current_app

    if not logging_configured():
        configure_logging(current_app.conf.get(SETTINGS_KEY) or load_settings(), "worker")


@signals.worker_process_init.connect
def on_worker_process_init(**_kwargs: Any) -> None:
    # Pooled connections inherited from the parent must not be shared across the fork.
    from celery import current_app

    database = getattr(current_app, "_twin_database", None)
    if database is not None:
        database.dispose()
    # Parallelism comes from the pool's processes: inside each, numerics get one thread (the
    # anomaly pass's many small ridge fits ran 3-4x slower with OpenBLAS's own threads).
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


app = create_celery()
