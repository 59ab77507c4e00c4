"""A meter's page, for the logged-in user's supplier: its header, its chart at the resolution the
user picks, and its readings a page at a time.

The supplier comes from the logged-in user, never from the browser: a meter id from the page
is checked against it by the service it is given to.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, no_update
from flask_login import current_user

from app.meters import (
    MAX_BARS,
    RESOLUTIONS,
    Bucket,
    GridRequestError,
    MeterOverview,
    bar_counts,
    chart_buckets,
    default_resolution,
    meter_overview,
    readings_page,
)
from app.readings import MeterNotFound
from app.tariffs import LONDON, to_pence
from app.web.context import db_session
from callbacks.formatting import pounds, quantity, when
from layouts import figures, ids
from layouts import meter as page
from layouts.meters import PAGE_SIZE

log = logging.getLogger(__name__)

NOT_AVAILABLE = "This meter is not available. Choose one on the Meters page."


def _overview(meter_id: Any) -> MeterOverview | None:
    try:
        return meter_overview(db_session(), current_user.supplier_id, int(meter_id))
    except (MeterNotFound, TypeError, ValueError):
        return None


def _chart(overview: MeterOverview, buckets: list[Bucket], resolution: str):  # type: ignore[no-untyped-def]
    per = "period" if resolution == "reading" else resolution
    return page.chart(
        resolution,
        [b.start.astimezone(LONDON).strftime("%Y-%m-%d") for b in buckets],
        [b.periods for b in buckets],
        [float(round(b.kwh, 1)) for b in buckets],
        [to_pence(b.cost_p) / 100 for b in buckets],
        [to_pence(b.cumulative_p) / 100 for b in buckets],
        f"Meter {overview.serial}: energy and cost per {per}",
        per=per, revision=f"meter:{overview.id}:{resolution}",
    )


def _grid_row(row: Any, unit: str) -> dict[str, Any]:
    opening = row.advance is None
    return {
        "id": str(row.id),
        "read_at": when(row.read_at),
        "value": f"{row.value:,.3f} {unit}",
        "kind": row.kind.title(),
        "advance": "opening reading" if opening else quantity(row.advance, unit, 3),
        "kwh": quantity(row.kwh, "kWh"),
        "days": "—" if row.days is None else f"{row.days:,}",
        "cost": "—" if opening else pounds(row.cost_p),
        "cumulative": pounds(row.cumulative_p),
    }


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.METER_HEADER, "children"),
        Input(ids.METER_ID, "data"),
    )
    def show(meter_id):  # type: ignore[no-untyped-def]
        overview = _overview(meter_id)
        if overview is None:
            return dbc.Alert(NOT_AVAILABLE, color="secondary")
        return page.header(overview.serial, overview.customer, overview.address, overview.fuel.title(),
                           pounds(overview.cost_p), overview.readings)

    @app.callback(
        Output(ids.METER_CHART, "figure"),
        Output(ids.METER_RESOLUTION, "options"),
        Output(ids.METER_RESOLUTION, "value"),
        Input(ids.METER_ID, "data"),
        Input(ids.METER_RESOLUTION, "value"),
    )
    def chart(meter_id, resolution):  # type: ignore[no-untyped-def]
        overview = _overview(meter_id)
        if overview is None:
            return figures.empty("Costs", NOT_AVAILABLE), [], None
        bars = bar_counts(overview)
        if resolution not in RESOLUTIONS or bars[resolution] > MAX_BARS:
            resolution = default_resolution(bars)
        options = page.resolution_options(RESOLUTIONS, bars, MAX_BARS)
        buckets = chart_buckets(db_session(), overview, resolution)
        if not buckets:
            return (figures.empty("Cost per period", "No priced periods yet: a meter's second reading "
                                  "closes its first period. Enter readings on the Meters page."),
                    options, resolution)
        return _chart(overview, buckets, resolution), options, resolution

    @app.callback(
        Output(ids.METER_GRID, "getRowsResponse"),
        Input(ids.METER_GRID, "getRowsRequest"),
        State(ids.METER_ID, "data"),
    )
    def grid_rows(request_: dict[str, Any] | None, meter_id: Any):  # type: ignore[no-untyped-def]
        if not request_:
            return no_update
        overview = _overview(meter_id)
        if overview is None:
            return {"rowData": [], "rowCount": 0}
        try:
            rows, count = readings_page(
                db_session(), current_user.supplier_id, overview.id,
                start=request_.get("startRow", 0), end=request_.get("endRow", PAGE_SIZE),
                sort_model=request_.get("sortModel"), filter_model=request_.get("filterModel"),
            )
        except GridRequestError as exc:
            log.info("meter grid request refused: %s", exc)
            return {"rowData": [], "rowCount": 0}
        return {"rowData": [_grid_row(r, overview.unit) for r in rows], "rowCount": count}
