"""An asset's pipeline status in words: what its last run did and what stops part of it.

Each run of the pipeline stores its notes (``summary["status"]``: a missing sensor, an empty
sensor, a formula that cannot be calculated, a target that could not be trained) with the run;
the asset page and ``twin pipeline run`` show them, so a user sees why an asset of theirs is
only partly twinned instead of a stack trace or silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import PipelineRun

#: ok: everything ran; attention: it ran, but part of the twin waits for something the user
#: can give (a sensor, data, a fixed formula); failed: the run stopped with an error; never:
#: no run yet.
LEVELS = ("ok", "attention", "failed", "never")


@dataclass(frozen=True)
class AssetStatus:
    level: str
    text: str
    notes: tuple[str, ...]
    at: datetime | None


def describe(level: str, decision: str | None, notes: list[str] | tuple[str, ...]) -> str:
    """One line: the run's outcome, then each note."""
    head = {"ok": "Pipeline ran", "attention": "Pipeline ran, with gaps",
            "failed": "Pipeline failed", "never": "The pipeline has not run yet"}[level]
    text = f"{head}: {decision}" if decision else head
    return "; ".join([text, *notes])


def latest_status(session: Session, asset_id: int) -> AssetStatus:
    """The status left by the asset's newest finished calculate or run."""
    run = session.scalar(select(PipelineRun).where(
        PipelineRun.asset_id == asset_id, PipelineRun.kind.in_(("calculate", "run")),
        PipelineRun.status != "running").order_by(PipelineRun.id.desc()).limit(1))
    if run is None:
        return AssetStatus("never", describe("never", None, ()), (), None)
    summary = run.summary or {}
    notes = tuple(str(n) for n in summary.get("status") or ())
    level = "failed" if run.status == "failed" else ("attention" if notes else "ok")
    decision = summary.get("error") if run.status == "failed" else summary.get("decision")
    return AssetStatus(level, describe(level, decision, notes), notes, run.finished_at)
