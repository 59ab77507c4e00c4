"""A meter's page, for the logged-in user's supplier."""

from __future__ import annotations

from decimal import Decimal

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output
from flask_login import current_user

from app.db.base import utcnow
from app.summaries import SummaryNotFound, meter_history
from app.tariffs import LONDON, to_pence
from app.web.context import db_session
from callbacks.formatting import pounds, quantity, when
from layouts import figures, ids
from layouts import meter as page


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.METER_HEADER, "children"),
        Output(ids.METER_CHART, "figure"),
        Output(ids.METER_TABLE, "children"),
        Input(ids.METER_ID, "data"),
    )
    def show(meter_id):  # type: ignore[no-untyped-def]
        try:
            history = meter_history(db_session(), current_user.supplier_id, int(meter_id), utcnow())
        except (SummaryNotFound, TypeError, ValueError):
            return (dbc.Alert("This meter is not available. Choose one on the Meters page.", color="secondary"),
                    figures.empty("Costs", "No meter."), None)
        lines = history.lines
        cumulative, running = [], Decimal(0)
        for line in lines:
            running += line.total_p
            cumulative.append(running)
        header = page.header(history.title.removeprefix("meter "), history.customer_name or "",
                             history.address or "", lines[0].fuel.title() if lines else "",
                             pounds(running), len(lines))
        priced = [(line, total) for line, total in zip(lines, cumulative, strict=True) if line.advance is not None]
        if not priced:
            figure = figures.empty("Cost per period", "No priced periods yet: a meter's second reading "
                                   "closes its first period. Enter readings on the Meters page.")
        else:
            figure = figures.periods_and_cumulative(
                [line.read_at.astimezone(LONDON).strftime("%Y-%m-%d") for line, _ in priced],
                [float(line.kwh or 0) for line, _ in priced],
                [to_pence(line.total_p) / 100 for line, _ in priced],
                [to_pence(total) / 100 for _, total in priced],
                f"Meter {history.title.removeprefix('meter ')}: energy and cost per period",
                revision=f"meter:{meter_id}",
            )
        rows = [
            (when(line.read_at), f"{line.value:,.3f} {line.unit}", line.kind.title(),
             "opening reading" if line.advance is None else quantity(line.advance, line.unit, 3),
             quantity(line.kwh, "kWh"), "—" if line.days is None else str(line.days),
             "—" if line.advance is None else pounds(line.total_p), pounds(total))
            for line, total in reversed(list(zip(lines, cumulative, strict=True)))
        ]
        return header, figure, page.readings_table(rows)
