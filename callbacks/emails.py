"""Emailing cost summaries from the meters page, and the Emails page."""

from __future__ import annotations

import logging
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import MATCH, Input, Output, State, html
from flask import request
from flask_login import current_user

from app.db.base import utcnow
from app.mail.delivery import counts, recent
from app.mail.requests import Requested, request_summary
from app.queue import QueueUnavailable
from app.summaries import SummaryNotFound
from app.web.context import db_session, twin
from callbacks.formatting import when
from layouts import emails as page
from layouts import ids
from layouts.email_form import key

log = logging.getLogger(__name__)

KIND_LABELS = {"summary.meter": "Meter summary", "summary.account": "Account summary",
               "summary.monthly": "Monthly summary", "alert": "Alert", "alert.digest": "Alert digest"}


def _outcome(rows: list[Requested], queue_down: bool) -> dbc.Alert:
    lines = []
    for row in rows:
        if row.state in ("new", "retry"):
            lines.append(f"Queued for {row.recipient}.")
        elif row.state == "sent":
            lines.append(f"Already sent to {row.recipient} on {when(row.sent_at, 'an earlier request')}: "
                         "nothing has changed since, so it is not sent twice.")
        else:
            lines.append(f"Already on its way to {row.recipient}.")
    if queue_down:
        lines.append("The task queue is not answering right now: the message is saved and goes "
                     "out as soon as the workers are back. Its status is on the Emails page.")
    colour = "warning" if queue_down else ("success" if any(r.to_queue for r in rows) else "info")
    return dbc.Alert([html.Div(line) for line in lines], color=colour, className="py-2 mb-0 email-result")


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(key(ids.EMAIL_FORM, MATCH), "is_open"),
        Input(key(ids.EMAIL_TOGGLE, MATCH), "n_clicks"),
        State(key(ids.EMAIL_FORM, MATCH), "is_open"),
        prevent_initial_call=True,
    )
    def toggle(_clicks, is_open):  # type: ignore[no-untyped-def]
        return not is_open

    @app.callback(
        Output(key(ids.EMAIL_RESULT, MATCH), "children"),
        Input(key(ids.EMAIL_SEND, MATCH), "n_clicks"),
        State(key(ids.EMAIL_SCOPE, MATCH), "value"),
        State(key(ids.EMAIL_PERIOD, MATCH), "value"),
        State(ids.METERS_GRID, "selectedRows"),
        prevent_initial_call=True,
        running=[(Output(key(ids.EMAIL_SEND, MATCH), "disabled"), True, False)],
    )
    def send(_clicks, scope, period, selected):  # type: ignore[no-untyped-def]
        if not current_user.can("operator"):
            return dbc.Alert("Your role can view costs but not email them.", color="danger", className="py-2 mb-0")
        if not selected:
            return dbc.Alert("Select a meter in the grid first.", color="warning", className="py-2 mb-0")
        session = db_session()
        try:
            rows = request_summary(
                session, twin().settings, supplier_id=current_user.supplier_id,
                user_id=current_user.id, user_email=current_user.email,
                meter_id=int(selected[0]["id"]), scope=scope, period_name=period, now=utcnow(),
                ip=request.remote_addr,
            )
            session.commit()
        except (SummaryNotFound, KeyError, TypeError, ValueError):
            session.rollback()
            return dbc.Alert("This summary cannot be sent: choose a meter of yours, a scope and a period.",
                             color="danger", className="py-2 mb-0")
        queue_down = False
        for row in rows:
            if not row.to_queue:
                continue
            try:
                twin().queue.send("twin.email.send", row.log_id)
            except QueueUnavailable:
                queue_down = True  # the row stays pending; the email sweep queues it again
        return _outcome(rows, queue_down)

    @app.callback(
        Output(key(ids.EMAIL_TOGGLE, "page"), "disabled"),
        Input(ids.METERS_GRID, "selectedRows"),
    )
    def can_email(selected: list[dict[str, Any]] | None) -> bool:
        return not selected

    @app.callback(
        Output(ids.EMAILS_COUNTS, "children"),
        Output(ids.EMAILS_TABLE, "children"),
        Input(ids.URL, "pathname"),
        Input(ids.EMAILS_POLL, "n_intervals"),
    )
    def emails_page(_pathname, _tick):  # type: ignore[no-untyped-def]
        session = db_session()
        rows = [
            (when(r.created_at), KIND_LABELS.get(r.kind, r.kind), r.recipient, r.subject,
             page.status_badge(r.status), r.attempts, when(r.sent_at, "—"), r.last_error or "",
             page.eml_link(r.id) if r.has_file else "")
            for r in recent(session, current_user.supplier_id)
        ]
        return page.counts(counts(session, current_user.supplier_id)), page.table(rows)
