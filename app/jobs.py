"""Background jobs people ask for (e.g. "Train now"): a row with status and progress that the
portal polls, so the progress bar survives a page reload (microblog's tasks table)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import Database
from app.db.base import utcnow
from app.db.models import Job

ACTIVE = ("queued", "running")


def create_job(session: Session, *, supplier_id: int, kind: str, asset_id: int | None = None,
               target: str | None = None, user_id: int | None = None, message: str | None = None) -> Job:
    job = Job(supplier_id=supplier_id, kind=kind, asset_id=asset_id, target=target,
              created_by_id=user_id, status="queued", progress=0, message=message or "Waiting for a worker")
    session.add(job)
    session.flush()
    return job


def set_progress(db: Database, job_id: int | None, progress: int, message: str,
                 status: str = "running") -> None:
    if job_id is None:
        return
    with db.engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id, Job.status.in_(ACTIVE)).values(
            progress=progress, message=message[:500], status=status, updated_at=utcnow()))


def finish(session: Session, job_id: int | None, message: str, *, failed: bool = False) -> None:
    """Mark the job done (or failed) in the caller's transaction: with the work it reports."""
    if job_id is None:
        return
    session.execute(update(Job).where(Job.id == job_id).values(
        status="failed" if failed else "done", progress=100, message=message[:500], updated_at=utcnow()))


def is_finished(db: Database, job_id: int | None) -> bool:
    if job_id is None:
        return False
    with db.Session() as session:
        return session.scalar(select(Job.status).where(Job.id == job_id)) in ("done", "failed")


def latest_job(session: Session, supplier_id: int, asset_id: int, kind: str) -> Job | None:
    """The newest job of a kind for an asset, scoped to the supplier."""
    return session.scalar(select(Job).where(Job.supplier_id == supplier_id, Job.asset_id == asset_id,
                                            Job.kind == kind).order_by(Job.id.desc()).limit(1))


def owned_job(session: Session, supplier_id: int, job_id: int, kind: str) -> Job | None:
    """Job ``job_id`` if it is of ``kind`` and the supplier's; None for anyone else's."""
    return session.scalar(select(Job).where(Job.id == job_id, Job.supplier_id == supplier_id,
                                            Job.kind == kind))


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a job's request or result file whole: readers (the portal polling, another
    worker) never see half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data), encoding="utf-8")
    temporary.replace(path)
