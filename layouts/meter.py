"""A meter's page: its energy and cost per period, month or other bucket, the cost accumulating,
and its readings in a grid paged on the server.

Components only; ``callbacks.meter`` fills them. However long the meter's history, the page
holds one chart of at most a few dozen bars by default and one page of readings: the grid asks
the server for rows as they are shown (the Meters page's infinite row model).
"""

from __future__ import annotations

from collections.abc import Sequence

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from layouts import figures, ids
from layouts.figures import CONFIG
from layouts.meters import paged_grid

PATH = "/meters/<meter_id>"
TITLE = "Meter · Energy Twin"

_NUMBER = {"filter": "agNumberColumnFilter", "type": "rightAligned",
           "filterParams": {"filterOptions": ["greaterThan", "lessThan", "inRange", "equals"], "maxNumConditions": 1}}

COLUMNS = [
    {"field": "read_at", "headerName": "Read on (UK)", "width": 160, "sort": "desc", "filter": False},
    {"field": "value", "headerName": "Reading", "width": 150, **_NUMBER},
    {"field": "kind", "headerName": "Type", "width": 120, "filter": "agTextColumnFilter",
     "filterParams": {"filterOptions": ["equals", "contains"], "maxNumConditions": 1}},
    {"field": "advance", "headerName": "Advance", "width": 150, **_NUMBER},
    {"field": "kwh", "headerName": "Energy", "width": 140, **_NUMBER},
    {"field": "days", "headerName": "Days", "width": 100, **_NUMBER},
    {"field": "cost", "headerName": "Cost", "width": 120, **_NUMBER},
    {"field": "cumulative", "headerName": "Cost to date", "flex": 1, "minWidth": 140, **_NUMBER},
]

# Plotly's period of each resolution's bars (a month's bar spans the month), where a week
# starts (a Monday), and how the hover names a bucket.
PERIODS: dict[str, dict[str, object]] = {
    "day": {"xperiod": 86_400_000},
    "week": {"xperiod": 7 * 86_400_000, "xperiod0": "2000-01-03"},
    "month": {"xperiod": "M1"},
    "quarter": {"xperiod": "M3", "xperiod0": "2000-01-01"},
    "year": {"xperiod": "M12", "xperiod0": "2000-01-01"},
}
HOVER_DATES = {"day": "%a %d %b %Y", "week": "week of %d %b %Y", "month": "%B %Y", "quarter": "Q%q %Y",
               "year": "%Y"}


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
            dbc.Card(dbc.CardBody([
                html.Div([
                    html.Span("Show energy and cost per", className="small text-muted me-2"),
                    dbc.RadioItems(id=ids.METER_RESOLUTION, options=[], value=None, inline=True,
                                   className="btn-group btn-group-sm", inputClassName="btn-check",
                                   labelClassName="btn btn-outline-secondary btn-sm",
                                   labelCheckedClassName="active"),
                ], className="d-flex flex-wrap align-items-center gap-1 mb-2"),
                dcc.Loading(dcc.Graph(
                    id=ids.METER_CHART, style={"minHeight": "420px"},
                    config={**CONFIG, "toImageButtonOptions": {**CONFIG["toImageButtonOptions"],
                                                               "filename": "meter-costs"}},
                ), type="dot", delay_show=400),
            ]), className="shadow-sm mb-4"),
            html.Div(readings_grid(), id=ids.METER_TABLE),
        ]
    )


def header(serial: str, customer: str, address: str, fuel: str, total: str, readings: int) -> html.Div:
    return html.Div(
        [
            html.H1(f"Meter {serial}", className="h3 mb-0"),
            html.Div(f"{customer} · {address} · {fuel}", className="text-muted"),
            html.Div(f"{readings:,} reading{'s' if readings != 1 else ''} · cost to date {total}",
                     className="small text-muted"),
        ]
    )


def resolution_options(labels: dict[str, str], bars: dict[str, int], max_bars: int) -> list[dict[str, object]]:
    """The chart's resolutions; those that would draw more than ``max_bars`` bars disabled."""
    return [{"label": label, "value": name, "disabled": bars.get(name, 0) > max_bars}
            for name, label in labels.items()]


def readings_grid() -> dbc.Card:
    """The meter's readings, newest first, fetched a page at a time (see ``callbacks.meter``)."""
    grid = paged_grid(ids.METER_GRID, COLUMNS, "480px")
    return dbc.Card([dbc.CardHeader(html.Strong("Readings, newest first"), className="bg-white"),
                     dbc.CardBody(grid, className="p-0")], className="shadow-sm")


def chart(resolution: str, x: Sequence[str], periods: Sequence[int], kwh: Sequence[float],
          cost_pounds: Sequence[float], cumulative_pounds: Sequence[float], title: str, *, per: str,
          revision: str) -> go.Figure:
    """Energy and cost per bucket as bars, the cost to date as a line. ``x`` is each reading's
    date (``resolution="reading"``) or each bucket's first UK day, ``periods`` how many periods
    each sums; ``per`` names a bucket in the legend ("month")."""
    figure = figures.periods_and_cumulative(x, kwh, cost_pounds, cumulative_pounds, title, revision=revision)
    if resolution == "reading":
        return figure
    # Each bar spans its bucket (a month's bar is the month wide), and says how many periods it
    # sums: a month with three readings so far is not a month of usage.
    figure.update_traces(customdata=[[count] for count in periods], xperiodalignment="middle",
                         **PERIODS[resolution])
    figure.update_traces(selector={"name": "Energy (kWh)"},
                         hovertemplate="%{y:,.1f} kWh in %{customdata[0]:,} period(s)<extra>energy</extra>")
    figure.update_traces(selector={"name": "Period cost (£)"}, name=f"Cost per {per} (£)",
                         hovertemplate="£%{y:,.2f}<extra>cost</extra>")
    figure.update_traces(selector={"name": "Cumulative cost (£)"},
                         hovertemplate="£%{y:,.2f}<extra>cost to date</extra>")
    figure.update_xaxes(title_text=f"{per.title()} (UK), by the date of the reading that closes each period",
                        hoverformat=HOVER_DATES[resolution],
                        ticklabelmode="period" if resolution in {"month", "quarter", "year"} else "instant")
    return figure
