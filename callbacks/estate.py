"""Fill the estate page for the logged-in user's supplier."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, html
from flask_login import current_user

from app.estate import estate_summary
from app.web.context import db_session, twin
from callbacks.formatting import when as _when
from layouts import ids


def _stat(label: str, value: str, note: str = "") -> dbc.Col:
    return dbc.Col(
        dbc.Card(
            dbc.CardBody(
                [
                    html.Div(label, className="text-muted small"),
                    html.Div(value, className="fs-3 fw-semibold"),
                    html.Div(note, className="small text-muted"),
                ]
            ),
            className="shadow-sm h-100",
        ),
        xs=12, sm=6, lg=3, className="mb-3",
    )


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.ESTATE_SUMMARY, "children"),
        Output(ids.ESTATE_SITES, "children"),
        Input(ids.URL, "pathname"),
    )
    def fill_estate(_pathname: str):  # type: ignore[no-untyped-def]
        summary = estate_summary(db_session(), twin().db.sensors_engine, current_user.supplier_id)
        assets = sum(len(site.assets) for site in summary.sites)
        stats = dbc.Row(
            [
                _stat("Supplier", current_user.supplier_name, f"signed in as {current_user.name}"),
                _stat("Customers", f"{summary.customers:,}", f"{summary.meters:,} meters"),
                _stat("Meter readings", f"{summary.meter_readings:,}",
                      f"latest {_when(summary.latest_meter_read_at)}"),
                _stat("Plant", f"{len(summary.sites)} sites", f"{assets} assets"),
            ]
        )
        if not summary.sites:
            return stats, dbc.Alert(
                "No sites yet. An administrator adds them; `twin seed-demo` loads a demo estate.",
                color="secondary",
            )
        cards = [
            dbc.Card(
                [
                    dbc.CardHeader(html.Strong(site.name), className="bg-white"),
                    dbc.Table(
                        [
                            html.Thead(html.Tr([html.Th("Asset"), html.Th("Type"),
                                                html.Th("Sensors"), html.Th("Latest reading")])),
                            html.Tbody(
                                [
                                    html.Tr([html.Td(a.name), html.Td(a.type_label),
                                             html.Td(a.sensors), html.Td(_when(a.latest_reading_at))])
                                    for a in site.assets
                                ]
                            ),
                        ],
                        hover=True, responsive=True, className="mb-0",
                    ),
                ],
                className="shadow-sm mb-3",
            )
            for site in summary.sites
        ]
        return stats, cards
