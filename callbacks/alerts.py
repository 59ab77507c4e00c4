"""The Alerts page. Alerts and sites come from the user's supplier only; acknowledging is for
operators and admins, checked by the service on the server."""

from __future__ import annotations

import logging
from datetime import datetime

import dash
from dash import ALL, Input, Output, State, ctx, no_update
from flask import request
from flask_login import current_user

from app.alerts import (
    AcknowledgeRefused,
    AlertNotFound,
    AlertRow,
    acknowledge,
    find_alert,
    list_alerts,
    open_counts,
)
from app.db.base import utcnow
from app.plain_text import classification, readable
from app.web.context import db_session
from callbacks.formatting import when
from layouts import alerts as page
from layouts import ids

log = logging.getLogger(__name__)


def _words(name: str | None) -> str:
    return (name or "—").replace("_", " ")


def span(started_at: datetime, ended_at: datetime | None) -> str:
    """When an alert's episode ran, in UK time, and for how long."""
    if ended_at is None or ended_at <= started_at:
        return when(started_at)
    minutes = (ended_at - started_at).total_seconds() / 60
    length = f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"
    return f"{when(started_at)} – {when(ended_at)} ({length})"


def _acknowledged(row: AlertRow) -> str | None:
    if row.acknowledged_at is None:
        return None
    return f"by {row.acknowledged_by or 'someone'}, {when(row.acknowledged_at)}: {row.ack_comment or ''}"


def _cells(row: AlertRow, can_acknowledge: bool) -> list[object]:
    return [
        page.severity_badge(row.severity),
        page.status_cell(row.status, _acknowledged(row)),
        row.site,
        page.asset_link(row.asset_id, row.asset),
        _words(row.sensor),
        span(row.started_at, row.ended_at),
        classification(row.classification),
        # the Class column says the class: the message need not end with it too
        readable(row.message, row.classification, with_class=False),
        page.ack_button(row.id) if can_acknowledge and row.status == "open" else "",
    ]


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.ALERTS_SITES, "children"),
        Output(ids.ALERTS_TABLE, "children"),
        Input(ids.URL, "pathname"),
        Input(ids.ALERTS_FILTER, "value"),
        Input(ids.ALERTS_CHANGED, "data"),
        Input(ids.ALERTS_POLL, "n_intervals"),
    )
    def show(_pathname, chosen, _changed, _tick):  # type: ignore[no-untyped-def]
        session = db_session()
        open_only = chosen != "all"
        counts = [(c.site, c.critical, c.warning, c.acknowledged)
                  for c in open_counts(session, current_user.supplier_id)]
        can = current_user.can("operator")
        rows = [_cells(r, can) for r in list_alerts(session, current_user.supplier_id, open_only=open_only)]
        return page.site_table(counts), page.table(rows, open_only)

    @app.callback(
        Output(ids.ALERTS_ACK_MODAL, "is_open"),
        Output(ids.ALERTS_ACK_TARGET, "data"),
        Output(ids.ALERTS_ACK_SUMMARY, "children"),
        Output(ids.ALERTS_ACK_COMMENT, "value"),
        Output(ids.ALERTS_ACK_RESULT, "children"),
        Input({"type": ids.ALERTS_ACK_OPEN, "alert": ALL}, "n_clicks"),
        Input(ids.ALERTS_ACK_CANCEL, "n_clicks"),
        prevent_initial_call=True,
    )
    def dialog(_opened, _cancel):  # type: ignore[no-untyped-def]
        trigger = ctx.triggered_id
        if trigger == ids.ALERTS_ACK_CANCEL:
            return False, None, None, "", None
        # A redrawn table fires this with its new buttons unclicked: nothing was pressed.
        if not isinstance(trigger, dict) or not ctx.triggered[0].get("value"):
            return no_update, no_update, no_update, no_update, no_update
        row = find_alert(db_session(), current_user.supplier_id, int(trigger["alert"]))
        if row is None:
            return False, None, None, "", None
        summary = [page.severity_badge(row.severity),
                   f" {row.site} · {row.asset}: {readable(row.message, row.classification)}"]
        return True, row.id, summary, "", None

    @app.callback(
        Output(ids.ALERTS_ACK_RESULT, "children", allow_duplicate=True),
        Output(ids.ALERTS_ACK_MODAL, "is_open", allow_duplicate=True),
        Output(ids.ALERTS_CHANGED, "data"),
        Input(ids.ALERTS_ACK_CONFIRM, "n_clicks"),
        State(ids.ALERTS_ACK_TARGET, "data"),
        State(ids.ALERTS_ACK_COMMENT, "value"),
        State(ids.ALERTS_CHANGED, "data"),
        prevent_initial_call=True,
    )
    def confirm(_clicks, alert_id, comment, changed):  # type: ignore[no-untyped-def]
        session = db_session()
        try:
            acknowledge(session, supplier_id=current_user.supplier_id, user_id=current_user.id,
                        role=current_user.role, alert_id=int(alert_id), comment=comment or "",
                        now=utcnow(), ip=request.remote_addr)
            session.commit()
        except PermissionError:
            session.rollback()
            return page.result("Your role can see alerts but not acknowledge them.", "danger"), no_update, no_update
        except (AlertNotFound, TypeError, ValueError) as exc:
            session.rollback()
            if isinstance(exc, AcknowledgeRefused):
                return page.result(str(exc), "warning"), no_update, no_update
            return page.result("This alert is not available.", "danger"), no_update, no_update
        return None, False, (changed or 0) + 1
