"""A meter's page: each billing period's energy and cost, and the cost accumulating."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids
from layouts.figures import CONFIG

PATH = "/meters/<meter_id>"
TITLE = "Meter · Energy Twin"


def layout(meter_id: str = "", **_query: str) -> html.Div:
    try:
        meter = int(meter_id)
    except ValueError:
        meter = -1
    return html.Div(
        [
            dcc.Store(id=ids.METER_ID, data=meter),
            html.Div(dcc.Link("← Meters", href="/meters"), className="small mb-1"),
            html.Div(id=ids.METER_HEADER, className="mb-3"),
            dbc.Card(dbc.CardBody(dcc.Loading(dcc.Graph(
                id=ids.METER_CHART, style={"minHeight": "420px"},
                config={**CONFIG, "toImageButtonOptions": {**CONFIG["toImageButtonOptions"], "filename": "meter-costs"}},
            ), type="dot", delay_show=400)), className="shadow-sm mb-4"),
            html.Div(id=ids.METER_TABLE),
        ]
    )


def header(serial: str, customer: str, address: str, fuel: str, total: str, readings: int) -> html.Div:
    return html.Div(
        [
            html.H1(f"Meter {serial}", className="h3 mb-0"),
            html.Div(f"{customer} · {address} · {fuel}", className="text-muted"),
            html.Div(f"{readings} readings · cost to date {total}", className="small text-muted"),
        ]
    )


def readings_table(rows: list[tuple[str, ...]]) -> dbc.Card:
    head = html.Thead(html.Tr([html.Th(h) for h in ("Read on (UK)", "Reading", "Type", "Advance", "Energy",
                                                     "Days", "Cost", "Cumulative")]))
    body = html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows])
    return dbc.Card([dbc.CardHeader(html.Strong("Readings, newest first"), className="bg-white"),
                     dbc.Table([head, body], size="sm", hover=True, responsive=True, className="mb-0 small")],
                    className="shadow-sm")
