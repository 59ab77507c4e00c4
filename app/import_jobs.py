"""Imports asked for in the portal, run by the workers: the uploaded file is staged under the
data home, a ``jobs`` row records the import's progress for the page to poll, the task
``twin.import.run`` calls :func:`run_job`, and the report and the refused rows are kept beside
the file, in ``<home>/imports/<job id>/`` (the workers and the portal share the data home; on
several machines, a shared volume).

Only a supplier's admins import, and every lookup here is scoped to their supplier.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app import jobs
from app.db import Database
from app.db.models import Job
from app.importer import (
    KINDS,
    ImportFileError,
    ImportReport,
    Progress,
    check_tz,
    import_meters,
    import_sensors,
    preview,
    resolve_mapping,
)
from app.queue import QueueUnavailable, TaskQueue
from settings import Settings

log = logging.getLogger(__name__)

TASK = "twin.import.run"
JOB_KIND = "import"
PREVIEW_ROWS = 8
#: Uploads nobody imported are removed after this long.
STAGED_TTL_S = 24 * 3600
#: The job's progress is written at most this often (a file of millions of rows reports often).
PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True)
class Staged:
    """An uploaded file waiting for its Import: a token naming it, its header and first lines."""

    token: str
    filename: str
    size: int
    columns: tuple[str, ...]
    rows: list[list[str]]


def _imports(settings: Settings) -> Path:
    return settings.home_dir / "imports"


def _staged_path(settings: Settings, supplier_id: int, token: str) -> Path:
    if not token.isalnum():
        raise ImportFileError("this upload is no longer available: upload the file again")
    return _imports(settings) / "staged" / f"{int(supplier_id)}-{token}.csv"


def _folder(settings: Settings, job_id: int) -> Path:
    return _imports(settings) / str(int(job_id))


def stage_upload(settings: Settings, supplier_id: int, filename: str, data: bytes) -> Staged:
    """Keep an uploaded file until it is imported, after checking that it is a CSV file with a
    header (:class:`ImportFileError` otherwise, and nothing is kept)."""
    folder = _imports(settings) / "staged"
    folder.mkdir(parents=True, exist_ok=True)
    _remove_old(folder)
    token = secrets.token_hex(16)
    path = _staged_path(settings, supplier_id, token)
    path.write_bytes(data)
    try:
        header, rows = preview(path, PREVIEW_ROWS)
    except ImportFileError:
        path.unlink(missing_ok=True)
        raise
    return Staged(token, os.path.basename(filename or "upload.csv")[:200], header.size, header.columns, rows)


def _remove_old(folder: Path) -> None:
    cutoff = time.time() - STAGED_TTL_S
    for old in folder.glob("*.csv"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:  # another process removed it first
            pass


def submit(db: Database, settings: Settings, queue: TaskQueue, *, supplier_id: int, user_id: int,
           role: str, kind: str, token: str, filename: str, mapping: Mapping[str, str | None],
           tz: str) -> int:
    """Queue the import of a staged upload; the job's id.

    The mapping is checked against the file's header first, so a column missing is said at
    once. Raises :class:`PermissionError` for anyone but an admin, :class:`ImportFileError` for
    a file or mapping to fix, ``QueueUnavailable`` when the workers' queue does not answer (the
    job is then marked failed)."""
    if role != "admin":
        raise PermissionError("only administrators import files")
    if kind not in KINDS:
        raise ImportFileError(f"unknown kind of import {kind!r}")
    staged = _staged_path(settings, supplier_id, token)
    if not staged.exists():
        raise ImportFileError("this upload is no longer available: upload the file again")
    header, _ = preview(staged, 0)
    chosen = resolve_mapping(kind, header.columns, mapping)
    tz = check_tz(tz)
    with db.Session() as session, session.begin():
        job = jobs.create_job(session, supplier_id=supplier_id, kind=JOB_KIND, target=kind,
                              user_id=user_id, message="Waiting for a worker")
        job_id = job.id
    folder = _folder(settings, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.move(staged, folder / "upload.csv")
    jobs.write_json(folder / "request.json", {"kind": kind, "filename": filename, "mapping": chosen,
                                          "tz": tz, "user_id": user_id, "role": role})
    try:
        task_id = queue.send(TASK, job_id)  # only after the job row has committed
    except QueueUnavailable as exc:
        with db.Session() as session, session.begin():
            jobs.finish(session, job_id, str(exc), failed=True)
        raise
    with db.Session() as session, session.begin():
        session.get_one(Job, job_id).task_id = task_id
    return job_id


def run_job(db: Database, settings: Settings, job_id: int) -> str:
    """The workers' half: import a queued upload, recording progress in its job, and keep its
    report. Idempotent: a finished job is left alone, and an import run again (a task
    redelivered after its worker died) stores nothing twice."""
    with db.Session() as session:
        job = session.get(Job, job_id)
        if job is None or job.kind != JOB_KIND or job.status in ("done", "failed"):
            return "skipped"
        supplier_id = job.supplier_id
    folder = _folder(settings, job_id)
    upload = folder / "upload.csv"
    try:
        request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
        jobs.set_progress(db, job_id, 0, "Reading the file")
        report = _import(db, settings, job_id, supplier_id, upload, request)
    except ImportFileError as exc:
        _finish(db, job_id, f"Nothing imported: {exc}", failed=True)
        upload.unlink(missing_ok=True)
        return "failed"
    except Exception as exc:
        log.exception("import job %s failed", job_id)
        _finish(db, job_id, f"The import stopped: {exc}", failed=True)
        raise
    jobs.write_json(folder / "report.json", report.as_dict())
    _finish(db, job_id, f"{request['filename']}: {report.summary()}")
    upload.unlink(missing_ok=True)  # the report and the refused rows are what is kept
    return "done"


def _import(db: Database, settings: Settings, job_id: int, supplier_id: int, upload: Path,
            request: dict[str, Any]) -> ImportReport:
    last = [0.0]

    def progress(step: Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            what = ("Saving readings" if step.unit == "rows" else "Reading and storing")
            done = (f"{step.done:,} of {step.total:,}" if step.unit == "rows"
                    else f"{step.rows:,} lines, {step.done / 1e6:.1f} of {step.total / 1e6:.1f} MB")
            jobs.set_progress(db, job_id, min(step.percent, 99), f"{what}: {done}")

    common: dict[str, Any] = {
        "supplier_id": supplier_id, "tz": request["tz"], "mapping": request["mapping"],
        "chunk_rows": settings.ingest.chunk_rows, "refused_path": upload.parent / "refused.csv",
        "progress": progress}
    if request["kind"] == "sensors":
        return import_sensors(db, upload, **common)
    return import_meters(db, upload, tariff_settings=settings.tariffs, user_id=request["user_id"],
                         role=request["role"], **common)


def _finish(db: Database, job_id: int, message: str, *, failed: bool = False) -> None:
    with db.Session() as session, session.begin():
        jobs.finish(session, job_id, message, failed=failed)


@dataclass(frozen=True)
class ImportState:
    job_id: int
    kind: str
    status: str  # queued | running | done | failed
    progress: int
    message: str
    report: ImportReport | None

    @property
    def running(self) -> bool:
        return self.status in jobs.ACTIVE


def job_state(db: Database, settings: Settings, supplier_id: int, job_id: int) -> ImportState | None:
    """An import job of the supplier, with its report once done; None for anyone else's."""
    with db.Session() as session:
        job = jobs.owned_job(session, supplier_id, job_id, JOB_KIND)
        if job is None:
            return None
        state = (job.target or "", job.status, job.progress, job.message or job.status)
    report = None
    if state[1] == "done":
        try:
            data = json.loads((_folder(settings, job_id) / "report.json").read_text(encoding="utf-8"))
            report = ImportReport.of(data)
        except (OSError, ValueError, TypeError):
            return ImportState(job_id, state[0], "failed", 100,
                               "The import's report is no longer stored.", None)
    return ImportState(job_id, state[0], state[1], state[2], state[3], report)


def latest_job_id(db: Database, supplier_id: int) -> int | None:
    """The supplier's newest import, to show again after a reload."""
    with db.Session() as session:
        return session.scalar(select(Job.id).where(Job.supplier_id == supplier_id, Job.kind == JOB_KIND)
                              .order_by(Job.id.desc()).limit(1))


def refused_csv(db: Database, settings: Settings, supplier_id: int, job_id: int) -> Path | None:
    """The refused-rows CSV of the supplier's import ``job_id``, if it has one."""
    state = job_state(db, settings, supplier_id, job_id)
    if state is None or state.report is None or not state.report.refused_rows:
        return None
    path = _folder(settings, job_id) / "refused.csv"
    return path if path.exists() else None

