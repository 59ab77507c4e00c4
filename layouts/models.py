"""The Models page: per asset, its model versions and how they scored over time, the active
one, validations and the decisions taken, and "Train now" for admins with a progress bar.

Components only; ``callbacks.models`` fills them.
"""

from __future__ import annotations

from datetime import timedelta

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html
from plotly.subplots import make_subplots

from layouts import ids

PATH = "/models"
TITLE = "Models · Energy Twin"


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.MODELS_REFRESH, data=0),
            dcc.Interval(id=ids.MODELS_POLL, interval=1000, disabled=True),
            html.H1("Models", className="h3"),
            html.P("Each asset's forecasting models: versions, how they validated against what "
                   "happened, and which one is active and why.", className="text-muted"),
            dbc.Row(
                [
                    dbc.Col(dcc.Dropdown(id=ids.MODELS_ASSET, placeholder="Choose an asset",
                                         clearable=False), md=6),
                    dbc.Col(dcc.Dropdown(id=ids.MODELS_TARGET, placeholder="Target",
                                         clearable=False), md=3),
                    dbc.Col(dbc.Button("Train now", id=ids.MODELS_TRAIN, color="primary",
                                       disabled=True), md=3),
                ],
                className="g-2 mb-2",
            ),
            dbc.Progress(id=ids.MODELS_PROGRESS, value=0, striped=True, animated=True,
                         className="mb-1", style={"height": "1.25rem"}),
            html.Div(id=ids.MODELS_PROGRESS_TEXT, className="small text-muted mb-3"),
            dbc.Card([dbc.CardHeader(html.Strong("Versions"), className="bg-white"),
                      dbc.CardBody(html.Div(id=ids.MODELS_VERSIONS))], className="shadow-sm mb-3"),
            dbc.Card([dbc.CardHeader(html.Strong("Validation over time"), className="bg-white"),
                      dbc.CardBody(dcc.Graph(id=ids.MODELS_CHART, config={"displaylogo": False}))],
                     className="shadow-sm mb-3"),
            dbc.Row(
                [
                    dbc.Col(dbc.Card([dbc.CardHeader(html.Strong("Validations"), className="bg-white"),
                                      dbc.CardBody(html.Div(id=ids.MODELS_VALIDATIONS))],
                                     className="shadow-sm mb-3"), lg=6),
                    dbc.Col(dbc.Card([dbc.CardHeader(html.Strong("Decisions"), className="bg-white"),
                                      dbc.CardBody(html.Div(id=ids.MODELS_EVENTS))],
                                     className="shadow-sm mb-3"), lg=6),
                ]
            ),
        ]
    )


def table(header: list[str], rows: list[list[object]], empty: str) -> html.Div | dbc.Table:
    if not rows:
        return html.Div(empty, className="text-muted")
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in header])),
                      html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows])],
                     size="sm", hover=True, responsive=True, className="mb-0")


def validation_chart(points: list[dict[str, object]], target: str) -> go.Figure:
    """MAPE and interval coverage of each validation, per version, on two axes."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    for version in sorted({p["version"] for p in points}):  # type: ignore[type-var]
        mine = [p for p in points if p["version"] == version]
        times = [p["at"] for p in mine]
        figure.add_trace(go.Scatter(x=times, y=[p["mape"] for p in mine], mode="lines+markers",
                                    name=f"v{version} MAPE (%)",
                                    hovertemplate="%{x|%d %b %H:%M}<br>MAPE %{y:.2f} %<extra></extra>"))
        figure.add_trace(go.Scatter(x=times, y=[p["coverage"] for p in mine], mode="lines+markers",
                                    name=f"v{version} coverage (%)", line={"dash": "dot"},
                                    hovertemplate="%{x|%d %b %H:%M}<br>coverage %{y:.0f} %<extra></extra>"),
                         secondary_y=True)
    figure.update_layout(title=f"Forecast error and interval coverage of {target}", template="plotly_white",
                         height=340, margin={"l": 60, "r": 60, "t": 50, "b": 40},
                         legend={"orientation": "h", "y": -0.2})
    figure.update_xaxes(title_text="Validated at (UK time)", tickformat="%d %b\n%H:%M")
    times = [p["at"] for p in points]
    if times and max(times) == min(times):  # one validation: show the day around it, not milliseconds
        figure.update_xaxes(range=[min(times) - timedelta(hours=12), max(times) + timedelta(hours=12)])
    figure.update_yaxes(title_text="MAPE (%)", rangemode="tozero", secondary_y=False)
    figure.update_yaxes(title_text="Interval coverage (%)", range=[0, 105], dtick=20,
                        showgrid=False, secondary_y=True)
    if not points:
        figure.add_annotation(text="No validation yet: forecasts are validated once what they "
                                   "forecast has happened.", showarrow=False, x=0.5, y=0.5,
                              xref="paper", yref="paper")
    return figure
