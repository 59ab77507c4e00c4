"""The Models page. Assets come from the user's supplier only; training is for admins."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import dash
from dash import Input, Output, State, ctx, no_update
from flask_login import current_user

from app.model_registry import (
    AssetNotFound,
    Slot,
    history_text,
    method_name,
    overview,
    p_value_text,
    percent,
    request_training,
    supplier_assets,
    train_mode,
    validation_text,
)
from app.queue import QueueUnavailable
from app.tariffs import LONDON
from app.web.context import db_session, twin
from callbacks.formatting import when
from layouts import ids
from layouts import models as page

if TYPE_CHECKING:
    from app.db.models import Validation

log = logging.getLogger(__name__)


def _summary(slot: Slot | None, target: str, mode: str) -> Any:
    title = f"{target.replace('_', ' ').capitalize()} · {mode}"
    if slot is None:
        return page.no_slot(title, mode, f"No {mode} model trained yet: an admin can press Train now, "
                                         "or wait for the schedule.")
    served = slot.served
    checked = "not yet"
    if slot.latest is not None:
        validation, number = slot.latest
        checked = f"v{number}, {when(validation.window_to)}, {validation_text(validation)}"
    return page.slot_summary(title, mode, f"Serving: {slot.serving_text}", served.verdict,
                             served.backtested and served.kind == "baseline",
                             [s.cells(served.coverage_nominal) for s in served.scores], checked,
                             history_text(slot.versions))


def _percent(share: float | None) -> float | None:
    return None if share is None else share * 100


def _point(validation: Validation, number: int, mode: str) -> page.Point:
    """A validation as the chart draws it: a measure not taken stays a gap, never a 0 %."""
    expected = (validation.details or {}).get("expected")
    return {"version": number, "mode": mode, "at": validation.window_to.astimezone(LONDON).replace(tzinfo=None),
            "mape": _percent(validation.mape), "coverage": _percent(validation.coverage),
            "nominal": _percent(expected) if isinstance(expected, (int, float)) else None}


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.MODELS_ASSET, "options"),
        Output(ids.MODELS_ASSET, "value"),
        Input(ids.URL, "pathname"),
        State(ids.MODELS_ASSET, "value"),
    )
    def assets(_pathname, chosen):  # type: ignore[no-untyped-def]
        options = [{"label": label, "value": asset_id}
                   for asset_id, label in supplier_assets(db_session(), current_user.supplier_id)]
        valid = {o["value"] for o in options}
        return options, chosen if chosen in valid else (options[0]["value"] if options else None)

    @app.callback(
        Output(ids.MODELS_TARGET, "options"),
        Output(ids.MODELS_TARGET, "value"),
        Output(ids.MODELS_VERSIONS, "children"),
        Output(ids.MODELS_CHART, "figure"),
        Output(ids.MODELS_VALIDATIONS, "children"),
        Output(ids.MODELS_EVENTS, "children"),
        Output(ids.MODELS_TRAIN, "disabled"),
        Input(ids.MODELS_ASSET, "value"),
        Input(ids.MODELS_TARGET, "value"),
        Input(ids.MODELS_REFRESH, "data"),
    )
    def show(asset_id, target, _refresh):  # type: ignore[no-untyped-def]
        if asset_id is None:
            return [], None, page.table([], [], "No assets yet."), page.validation_chart([], None), None, None, True
        try:
            view = overview(db_session(), current_user.supplier_id, int(asset_id),
                            twin().settings.pipeline.schedule_file)
        except (AssetNotFound, ValueError):
            return [], None, page.table([], [], "This asset is not available."), page.validation_chart([], None), None, None, True
        target = target if target in view.targets else (view.targets[0] if view.targets else None)
        versions = [v for v in view.versions if v.target == target]
        rows = [[f"v{v.version}", v.mode, v.status, method_name(v.algorithm), when(v.created_at),
                 f"{when(v.train_from)} – {when(v.train_to)}", f"{v.rows:,}",
                 f"{v.holdout_metrics.get('mae', 0):.4g}", percent(v.holdout_metrics.get("mape")),
                 percent(v.holdout_metrics.get("coverage")),
                 f"pruned {when(v.pruned_at)}" if v.pruned_at else v.file_sha256[:12]] for v in versions]
        # By row id: version numbers repeat across an asset's targets (each has its own v1).
        chosen = {v.id for v in versions}
        modes = {v.id: v.mode for v in versions}
        checks = [(val, n) for val, n in view.validations if val.model_version_id in chosen]
        points = [_point(val, n, modes[val.model_version_id]) for val, n in checks]
        validation_rows = [[f"v{n}", f"{when(val.window_from)} – {when(val.window_to)}", val.n,
                            "—" if val.mae is None else f"{val.mae:.4g}", percent(val.mape), percent(val.coverage), p_value_text(val),
                            val.disposition, val.reason]
                           for val, n in reversed(checks)]
        event_rows = [[when(e.at), f"v{n}" if n else "—", e.event.replace("_", " "), e.reason]
                      for e, n in view.events if e.target == target]
        return (
            [{"label": t, "value": t} for t in view.targets], target,
            page.served_and_versions(
                [_summary(view.slot(target, mode), target, mode) for mode in view.modes(target)],
                page.table(["Version", "Mode", "Status", "Method", "Trained", "Training data", "Points",
                            "MAE", "MAPE", "Coverage", "File"], rows,
                           "No model trained yet: an admin can press Train now, or wait for the schedule.")),
            page.validation_chart(points, target),
            page.table(["Version", "Window", "Points", "MAE", "MAPE", "Coverage", "Binomial p", "Decision", "Why"],
                       validation_rows, "No validation yet."),
            page.table(["When", "Version", "What", "Why"], event_rows, "No decisions yet."),
            current_user.role != "admin" or target is None,
        )

    @app.callback(
        Output(ids.MODELS_PROGRESS, "value"),
        Output(ids.MODELS_PROGRESS, "label"),
        Output(ids.MODELS_PROGRESS, "color"),
        Output(ids.MODELS_PROGRESS_TEXT, "children"),
        Output(ids.MODELS_POLL, "disabled"),
        Output(ids.MODELS_REFRESH, "data"),
        Input(ids.MODELS_TRAIN, "n_clicks"),
        Input(ids.MODELS_POLL, "n_intervals"),
        Input(ids.MODELS_ASSET, "value"),
        State(ids.MODELS_TARGET, "value"),
        State(ids.MODELS_REFRESH, "data"),
        State(ids.MODELS_POLL, "disabled"),
    )
    def training(_clicks, _tick, asset_id, target, refresh, was_idle):  # type: ignore[no-untyped-def]
        if asset_id is None:
            return 0, "", "secondary", "", True, no_update
        session = db_session()
        message = None
        if ctx.triggered_id == ids.MODELS_TRAIN and target:
            try:
                job = request_training(session, supplier_id=current_user.supplier_id,
                                       user_id=current_user.id, role=current_user.role,
                                       asset_id=int(asset_id), target=target)
                session.commit()
                if job.task_id is None:
                    mode = train_mode(session, current_user.supplier_id, job.asset_id, job.target,
                                      twin().settings.pipeline.schedule_file)
                    job.task_id = twin().queue.send("twin.train", job.asset_id, job.target, job.id,
                                                    "requested in the portal", mode)
                    session.commit()
            except PermissionError:
                session.rollback()
                message = "Only admins can start training."
            except AssetNotFound:
                session.rollback()
                message = "This asset is not available."
            except QueueUnavailable as exc:
                job.status, job.message = "failed", str(exc)
                session.commit()
        try:
            view = overview(session, current_user.supplier_id, int(asset_id),
                            twin().settings.pipeline.schedule_file)
        except (AssetNotFound, ValueError):
            return 0, "", "secondary", "This asset is not available.", True, no_update
        job = view.job
        if job is None:
            return 0, "", "secondary", message or "No training requested yet.", True, no_update
        running = job.status in ("queued", "running")
        color = {"done": "success", "failed": "danger"}.get(job.status, "primary")
        text = message or f"Training {job.target}: {job.message or job.status} (asked {when(job.created_at)})"
        # When a job finishes while the page watches it, redraw the versions and decisions.
        finished_now = not running and was_idle is False
        return (job.progress, f"{job.progress} %", color, text, not running,
                (refresh or 0) + 1 if finished_now else no_update)
