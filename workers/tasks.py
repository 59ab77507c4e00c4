"""Celery tasks: thin wrappers that take ids, call one function of ``app``, and are idempotent.

The pipeline tasks acknowledge late and are rejected when their worker dies, so a task lost
with a killed worker is delivered again; they can be, because each is idempotent (upserts,
and jobs finished in the same transaction as their work). Transient database errors are
retried with exponential backoff.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from app import forecasting, import_jobs, jobs, pipeline, whatif
from app.db.base import utcnow
from app.mail import delivery, requests
from app.system import record_heartbeat
from workers.base import TwinTask

log = logging.getLogger(__name__)

PIPELINE_TASK: dict[str, Any] = {
    "bind": True,
    "base": TwinTask,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 8,
}


@shared_task(bind=True, base=TwinTask, name="twin.heartbeat", ignore_result=True)
def heartbeat(self: TwinTask) -> None:
    """Record that this worker is alive (scheduled by beat; shown by ``/healthz``)."""
    record_heartbeat(self.db, self.request.hostname or "unknown", os.getpid())


@shared_task(name="twin.calculate", soft_time_limit=1800, **PIPELINE_TASK)
def calculate(self: TwinTask, asset_id: int) -> dict[str, Any]:
    """Calculate the asset's new sensor data (from its watermark)."""
    return pipeline.calculate(self.db, self.settings, asset_id).as_dict()


@shared_task(name="twin.train", soft_time_limit=1800, **PIPELINE_TASK)
def train(self: TwinTask, asset_id: int, target: str, job_id: int | None = None,
          reason: str = "scheduled training", mode: str = "forecast") -> dict[str, Any]:
    """Train a version of the asset's target model; a challenger must beat the champion."""
    if jobs.is_finished(self.db, job_id):
        return {"skipped": "job already finished"}
    try:
        decision = forecasting.challenge(self.db, self.settings, asset_id, target, now=utcnow(),
                                         reason=reason, job_id=job_id, mode=mode)
    except forecasting.NotEnoughData as exc:
        with self.db.Session() as session, session.begin():
            jobs.finish(session, job_id, str(exc), failed=True)
        log.warning("not training asset %s %s: %s", asset_id, target, exc)
        return {"skipped": str(exc)}
    except SoftTimeLimitExceeded:
        with self.db.Session() as session, session.begin():
            jobs.finish(session, job_id, "Training took too long and was stopped", failed=True)
        raise
    return {"version": decision.challenger.version, "promoted": decision.promoted, "reason": decision.reason}


@shared_task(name="twin.predict", soft_time_limit=600, **PIPELINE_TASK)
def predict(self: TwinTask, asset_id: int, target: str, mode: str = "forecast") -> int:
    """Serve the active model: the next horizon, or a surrogate's new estimates (idempotent
    per version, time and horizon)."""
    try:
        return forecasting.predict(self.db, self.settings, asset_id, target, now=utcnow(), mode=mode)
    except forecasting.ModelError as exc:
        log.warning("no forecast for asset %s %s: %s", asset_id, target, exc)
        return 0


@shared_task(name="twin.validate", soft_time_limit=600, **PIPELINE_TASK)
def validate(self: TwinTask, asset_id: int, target: str, mode: str = "forecast") -> str | None:
    """Check forecasts against what happened; queue retraining at once when they fail."""
    validation = forecasting.validate(self.db, self.settings, asset_id, target, now=utcnow(), mode=mode)
    if validation is None or validation.disposition != "retrain":
        return None if validation is None else validation.disposition
    job_id = pipeline.retraining_job(self.db, asset_id, target)
    if job_id is not None:  # enqueued only after the job row has committed
        train.delay(asset_id, target, job_id, f"retraining: {validation.reason}", mode)
    return "retrain"


@shared_task(bind=True, base=TwinTask, name="twin.schedule.dispatch", ignore_result=True)
def dispatch(self: TwinTask, stage: str, asset_type: str | None, asset_id: int | None,
             target: str | None, mode: str = "forecast") -> int:
    """Fan a schedule entry out to one task per matching asset and target (beat sends this);
    the catalogue entry (no type, asset or target) fans out to each asset's chosen targets."""
    pairs = pipeline.scheduled_assets(self.db, asset_type, asset_id,
                                      None if stage == "calculate" else target)
    if stage == "calculate":
        pairs = list(dict.fromkeys((one, None) for one, _ in pairs))
    for one, chosen in pairs:
        if stage == "calculate":
            calculate.delay(one)
        elif stage == "train":
            train.delay(one, chosen, mode=mode)
        elif stage == "predict":
            predict.delay(one, chosen, mode)
        elif stage == "validate":
            validate.delay(one, chosen, mode)
    return len(pairs)


# -- email ---------------------------------------------------------------------------------

# The same options as the pipeline's: late acknowledgement brings back a task lost with its
# worker, and the email log's claim (see app.mail.delivery) makes the copy harmless.
EMAIL_TASK = PIPELINE_TASK


@shared_task(name="twin.email.send", soft_time_limit=300, **EMAIL_TASK)
def send_email(self: TwinTask, log_id: int) -> str:
    """Send the message of one email-log row, once; SMTP failures come back with backoff."""
    try:
        return delivery.deliver(self.db, self.settings, log_id, utcnow())
    except delivery.RetryLater as exc:
        # The row counts the attempts and gives up after smtp.max_attempts; Celery need not.
        raise self.retry(countdown=exc.after_s, max_retries=None, exc=exc) from None


def _queue_emails(task: TwinTask, make: Any) -> int:
    with task.db.Session() as session, session.begin():
        ids = make(session, task.settings, utcnow())
    for log_id in ids:  # only after the rows have committed
        send_email.delay(log_id)
    return len(ids)


@shared_task(name="twin.email.monthly", soft_time_limit=600, **EMAIL_TASK)
def monthly_summaries(self: TwinTask) -> int:
    """Last month's cost summary of each supplier, to its billing contact (scheduled)."""
    return _queue_emails(self, requests.queue_monthly_summaries)


@shared_task(name="twin.email.alerts", soft_time_limit=300, **EMAIL_TASK)
def alert_emails(self: TwinTask) -> int:
    """Email new alerts to their sites' contacts, and re-queue messages whose task was lost
    (the broker was down when they were asked for, or their worker died)."""
    queued = _queue_emails(self, requests.queue_alert_emails)
    for log_id in delivery.due(self.db, self.settings, utcnow()):
        send_email.delay(log_id)
        queued += 1
    return queued


# -- what-if scenarios ---------------------------------------------------------------------


@shared_task(bind=True, base=TwinTask, name="twin.whatif.run", soft_time_limit=1800, acks_late=True,
             reject_on_worker_lost=True)
def whatif_run(self: TwinTask, job_id: int) -> str:
    """Simulate the what-if scenarios the portal queued as job ``job_id``, with progress in the
    job (idempotent: a finished job is left alone, and a rerun gives the same result)."""
    return whatif.run_job(self.db, self.settings, job_id)


# -- file imports ----------------------------------------------------------------------------


@shared_task(bind=True, base=TwinTask, name="twin.import.run", soft_time_limit=1800, acks_late=True,
             reject_on_worker_lost=True)
def import_run(self: TwinTask, job_id: int) -> str:
    """Import the file the portal staged as job ``job_id``, with progress in the job
    (idempotent: a finished job is left alone, and the import itself stores nothing twice)."""
    return import_jobs.run_job(self.db, self.settings, job_id)
