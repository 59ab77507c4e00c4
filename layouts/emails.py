"""The Emails page: every message the supplier's portal and workers sent, and how it went."""

from __future__ import annotations

from collections.abc import Sequence

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids

PATH = "/emails"
TITLE = "Emails · Energy Twin"
POLL_MS = 5_000
STATUS_COLOURS = {"sent": "success", "pending": "warning", "sending": "info", "failed": "danger"}


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            dcc.Interval(id=ids.EMAILS_POLL, interval=POLL_MS),
            html.H1("Emails", className="h3"),
            html.P("Cost summaries and alert emails, newest first. Failed messages show the "
                   "server's reason; messages written to the outbox (no SMTP server configured) "
                   "can be opened as .eml files.", className="text-muted"),
            html.Div(id=ids.EMAILS_COUNTS, className="mb-3"),
            html.Div(id=ids.EMAILS_TABLE),
        ]
    )


def counts(by_status: dict[str, int]) -> html.Div:
    return html.Div([
        dbc.Badge(f"{n} {status}", color=STATUS_COLOURS.get(status, "secondary"), className="me-2 p-2")
        for status, n in by_status.items()
    ])


def table(rows: Sequence[Sequence[object]]) -> dbc.Table | dbc.Alert:
    if not rows:
        return dbc.Alert("No emails yet. Send one with “Email summary…” on the Meters page; "
                         "alert emails and the monthly summaries appear here once sent.",
                         color="secondary", id=ids.EMAILS_EMPTY)
    header = html.Thead(html.Tr([html.Th(h) for h in
                                 ("Queued", "Kind", "To", "Subject", "Status", "Tries", "Sent", "Problem", "")]))
    return dbc.Table([header, html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows])],
                     size="sm", hover=True, responsive=True, className="small")


def status_badge(status: str) -> dbc.Badge:
    return dbc.Badge(status, color=STATUS_COLOURS.get(status, "secondary"))


def eml_link(log_id: int) -> html.A:
    return html.A("open .eml", href=f"/emails/{log_id}.eml", download=f"email-{log_id}.eml",
                  className="text-nowrap")
