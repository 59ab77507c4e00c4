"""Fill the Overview page for the logged-in user's supplier."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output
from flask_login import current_user

from app.db.base import utcnow
from app.estate import estate_summary
from app.health import worst_first
from app.web.context import db_session, twin
from callbacks.formatting import when
from layouts import estate as page
from layouts import ids


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.ESTATE_SUMMARY, "children"),
        Output(ids.ESTATE_SITES, "children"),
        Input(ids.URL, "pathname"),
    )
    def fill_estate(_pathname: str):  # type: ignore[no-untyped-def]
        summary = estate_summary(db_session(), twin().db.sensors_engine, current_user.supplier_id, utcnow())
        assets = worst_first(summary.sites)
        attention = sum(1 for a in assets if a.level != "green")
        stats = dbc.Row(
            [
                page.stat("Supplier", current_user.supplier_name, f"signed in as {current_user.name}"),
                page.stat("Customers", f"{summary.customers:,}", f"{summary.meters:,} meters"),
                page.stat("Meter readings", f"{summary.meter_readings:,}",
                          f"latest {when(summary.latest_meter_read_at)}"),
                page.stat("Plant", f"{len(summary.sites)} sites",
                          f"{len(assets)} assets, {attention} needing attention"),
            ]
        )
        return stats, page.plant(summary.sites, assets, when)
