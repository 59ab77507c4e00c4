"""The import page. Every callback checks, on the server, that the user is an admin; the file
goes to the workers through ``app.import_jobs`` and the page polls its job."""

from __future__ import annotations

import base64
import binascii
import logging

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, no_update
from flask_login import current_user

from app.import_jobs import (
    job_state,
    latest_job_id,
    refused_csv,
    stage_upload,
    submit,
)
from app.importer import FIELDS, ImportFileError, guess_mapping
from app.queue import QueueUnavailable
from app.web.context import twin
from layouts import ids
from layouts import importer as page
from layouts.admin import admins_only

log = logging.getLogger(__name__)

#: What a Dash request adds to an upload: base64 (4 bytes for 3) and the JSON around it.
UPLOAD_OVERHEAD = 64 * 1024


def _is_admin() -> bool:
    return current_user.is_authenticated and current_user.role == "admin"


def _refused() -> dbc.Alert:
    return dbc.Alert("Only administrators can do that.", color="danger")


def _upload_limit() -> int:
    """The largest file a browser can send here: the request limit, less base64's growth."""
    return max(0, (twin().settings.web.max_content_length - UPLOAD_OVERHEAD) * 3 // 4)


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(page.BODY, "children"),
        Output(page.UPLOAD, "max_size"),
        Output(page.UPLOAD_LIMIT, "children"),
        Input(ids.URL, "pathname"),
    )
    def guard(_pathname: str):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return admins_only(), no_update, no_update
        limit = _upload_limit()
        return no_update, limit, page.upload_limit(limit)

    @app.callback(
        Output(page.STAGED, "data"),
        Output(page.FILE_NOTE, "children"),
        Output(page.UPLOAD, "contents"),
        Input(page.UPLOAD, "contents"),
        State(page.UPLOAD, "filename"),
        prevent_initial_call=True,
    )
    def upload(contents: str | None, filename: str | None):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return None, _refused(), None
        if not contents:
            return no_update, no_update, no_update
        try:
            data = base64.b64decode(contents.split(",", 1)[1], validate=True)
        except (IndexError, ValueError, binascii.Error):
            return None, page.problem("The upload did not arrive whole: try again."), None
        try:
            staged = stage_upload(twin().settings, current_user.supplier_id, filename or "upload.csv", data)
        except ImportFileError as exc:
            return None, page.problem(f"{filename}: {exc}"), None
        # The contents are cleared so that the same file can be chosen again after a change.
        return ({"token": staged.token, "filename": staged.filename, "columns": list(staged.columns),
                 "rows": staged.rows},
                page.file_note(staged.filename, staged.size, staged.columns), None)

    @app.callback(
        Output(page.PREVIEW, "children"),
        [Output(page.map_row_id(f), "style") for f in page.MAP_FIELDS],
        [Output(page.map_id(f), "options") for f in page.MAP_FIELDS],
        [Output(page.map_id(f), "value") for f in page.MAP_FIELDS],
        Output(page.RUN, "disabled"),
        Input(page.STAGED, "data"),
        Input(page.KIND, "value"),
    )
    def columns(staged, kind):  # type: ignore[no-untyped-def]
        count = len(page.MAP_FIELDS)
        if not _is_admin() or not staged or kind not in FIELDS:
            return ("Upload a file to see its first lines.", *[page.HIDDEN] * count, *[[]] * count,
                    *[None] * count, True)
        headers = staged["columns"]
        mine = {f.name for f in FIELDS[kind]}
        guessed = guess_mapping(kind, headers)
        options = [{"label": h, "value": h} for h in headers if h]
        return (page.preview_table(headers, staged["rows"]),
                *[{} if f in mine else page.HIDDEN for f in page.MAP_FIELDS],
                *[options] * count,
                *[guessed.get(f) for f in page.MAP_FIELDS],
                False)

    @app.callback(
        Output(page.JOB, "data"),
        Output(page.POLL, "disabled"),
        Output(page.PROGRESS, "value"),
        Output(page.PROGRESS, "label"),
        Output(page.PROGRESS, "color"),
        Output(page.PROGRESS_TEXT, "children"),
        Output(page.REPORT, "children"),
        Output(page.DOWNLOAD_REFUSED, "disabled"),
        Input(page.RUN, "n_clicks"),
        Input(page.POLL, "n_intervals"),
        Input(ids.URL, "pathname"),
        State(page.KIND, "value"),
        State(page.STAGED, "data"),
        State(page.TZ, "value"),
        [State(page.map_id(f), "value") for f in page.MAP_FIELDS],
        State(page.JOB, "data"),
        running=[(Output(page.RUN, "disabled"), True, False)],
    )
    def run(_clicks, _tick, _pathname, kind, staged, tz, *rest):  # type: ignore[no-untyped-def]
        mapped, job_id = rest[:-1], rest[-1]  # the dropdowns of MAP_FIELDS, then the job
        if not _is_admin():
            if ctx.triggered_id == page.RUN:
                return None, True, 0, "", "danger", _refused(), no_update, True
            return None, True, 0, "", "secondary", "", no_update, True
        settings, db = twin().settings, twin().db
        if ctx.triggered_id == page.RUN:
            if not staged:
                return job_id, True, 0, "", "secondary", "Upload a file first.", no_update, no_update
            chosen = {f.name: mapped[page.MAP_FIELDS.index(f.name)] for f in FIELDS.get(kind, ())}
            try:
                job_id = submit(db, settings, twin().queue, supplier_id=current_user.supplier_id,
                                user_id=current_user.id, role=current_user.role, kind=kind,
                                token=staged["token"], filename=staged["filename"], mapping=chosen,
                                tz=tz or "Europe/London")
            except (ImportFileError, QueueUnavailable) as exc:
                return no_update, True, 0, "", "danger", page.problem(f"Not imported: {exc}"), no_update, True
            except PermissionError:
                return no_update, True, 0, "", "danger", _refused(), no_update, True
            return (job_id, False, 0, "0 %", "primary", "Waiting for a worker…",
                    "Importing…", True)
        if ctx.triggered_id != page.POLL:  # the page has just opened: show the latest import
            job_id = latest_job_id(db, current_user.supplier_id)
        if job_id is None:
            return None, True, 0, "", "secondary", "", no_update, True
        state = job_state(db, settings, current_user.supplier_id, int(job_id))
        if state is None:
            return None, True, 0, "", "secondary", "", no_update, True
        if state.running:
            return (job_id, False, state.progress, f"{state.progress} %", "primary", state.message,
                    "Importing…", True)
        if state.report is None:
            return job_id, True, 100, "failed", "danger", state.message, page.problem(state.message), True
        colour = "warning" if state.report.refused_rows else "success"
        filename = state.message.split(": ", 1)[0]
        return (job_id, True, 100, "100 %", colour, state.message,
                page.report_view(state.report, filename), not state.report.refused_rows)

    @app.callback(
        Output(page.DOWNLOAD, "data"),
        Input(page.DOWNLOAD_REFUSED, "n_clicks"),
        State(page.JOB, "data"),
        prevent_initial_call=True,
    )
    def download(_clicks, job_id):  # type: ignore[no-untyped-def]
        if not _is_admin() or job_id is None:
            return no_update
        path = refused_csv(twin().db, twin().settings, current_user.supplier_id, int(job_id))
        if path is None:
            return no_update
        return dcc.send_file(str(path), filename=f"refused-lines-import-{int(job_id)}.csv")
