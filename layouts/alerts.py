"""The Alerts page: the supplier's alerts (open first), open alerts counted per site, and an
Acknowledge dialog (a comment is required) for operators and admins.

Components only; ``callbacks.alerts`` fills them.
"""

from __future__ import annotations

from collections.abc import Sequence

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids

PATH = "/alerts"
TITLE = "Alerts · Energy Twin"
POLL_MS = 30_000
SEVERITY_COLOURS = {"critical": "danger", "warning": "warning"}
STATUS_COLOURS = {"open": "danger", "acknowledged": "info", "closed": "secondary"}
FILTERS = [{"label": "Open", "value": "open"}, {"label": "All", "value": "all"}]
HEADER = ("Severity", "Status", "Site", "Asset", "Sensor", "When", "Class", "What happened", "")


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.ALERTS_CHANGED, data=0),
            dcc.Store(id=ids.ALERTS_ACK_TARGET),
            dcc.Interval(id=ids.ALERTS_POLL, interval=POLL_MS),
            html.H1("Alerts", className="h3"),
            html.P("Anomalies the twin found in the sensor data, one alert per episode. "
                   "Acknowledge an alert to say it is being dealt with; it closes by itself "
                   "once the anomaly is over.", className="text-muted"),
            dbc.Card([dbc.CardHeader(html.Strong("Open alerts per site"), className="bg-white"),
                      dbc.CardBody(html.Div(id=ids.ALERTS_SITES))], className="shadow-sm mb-3"),
            dbc.RadioItems(id=ids.ALERTS_FILTER, options=FILTERS, value="open", inline=True,
                           className="mb-2"),
            html.Div(id=ids.ALERTS_TABLE),
            dbc.Modal(
                [
                    dbc.ModalHeader(dbc.ModalTitle("Acknowledge alert")),
                    dbc.ModalBody([
                        html.Div(id=ids.ALERTS_ACK_SUMMARY, className="mb-3"),
                        dbc.Label("What is being done about it?", html_for=ids.ALERTS_ACK_COMMENT),
                        dbc.Textarea(id=ids.ALERTS_ACK_COMMENT, maxLength=1000, rows=3,
                                     placeholder="e.g. Engineer booked for 10:00 to check the valve"),
                        html.Div(id=ids.ALERTS_ACK_RESULT, className="mt-2"),
                    ]),
                    dbc.ModalFooter([
                        dbc.Button("Cancel", id=ids.ALERTS_ACK_CANCEL, color="secondary", outline=True),
                        dbc.Button("Acknowledge", id=ids.ALERTS_ACK_CONFIRM, color="primary"),
                    ]),
                ],
                id=ids.ALERTS_ACK_MODAL, is_open=False,
            ),
        ]
    )


def site_table(rows: Sequence[Sequence[object]]) -> dbc.Table | html.Div:
    """(site, open critical, open warning, acknowledged) per site."""
    if not rows:
        return html.Div("No sites yet.", className="text-muted")
    header = html.Thead(html.Tr([html.Th("Site"), html.Th("Open critical"), html.Th("Open warning"),
                                 html.Th("Acknowledged")]))
    body = [html.Tr([html.Td(site), html.Td(count_badge(critical, "danger")),
                     html.Td(count_badge(warning, "warning")), html.Td(count_badge(acknowledged, "info"))])
            for site, critical, warning, acknowledged in rows]
    return dbc.Table([header, html.Tbody(body)], size="sm", className="mb-0")


def count_badge(count: object, colour: str) -> dbc.Badge | str:
    return dbc.Badge(str(count), color=colour) if count else "0"


def table(rows: Sequence[Sequence[object]], open_only: bool) -> dbc.Table | dbc.Alert:
    if not rows:
        text = ("No open alerts: nothing needs attention." if open_only
                else "No alerts yet: the twin raises them when it finds an anomaly.")
        return dbc.Alert(text, color="success" if open_only else "secondary")
    header = html.Thead(html.Tr([html.Th(h) for h in HEADER]))
    return dbc.Table([header, html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows])],
                     size="sm", hover=True, responsive=True, className="small")


def severity_badge(severity: str) -> dbc.Badge:
    return dbc.Badge(severity, color=SEVERITY_COLOURS.get(severity, "secondary"))


def status_cell(status: str, detail: str | None) -> html.Div:
    return html.Div([dbc.Badge(status, color=STATUS_COLOURS.get(status, "secondary")),
                     html.Div(detail, className="text-muted") if detail else None])


def asset_link(asset_id: int, name: str) -> dcc.Link:
    return dcc.Link(name, href=f"/assets/{asset_id}")


def ack_button(alert_id: int) -> dbc.Button:
    return dbc.Button("Acknowledge", id={"type": ids.ALERTS_ACK_OPEN, "alert": alert_id},
                      size="sm", color="primary", outline=True)


def result(text: str, colour: str) -> dbc.Alert:
    return dbc.Alert(text, color=colour, className="py-2 mb-0")
