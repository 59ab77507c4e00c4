"""The Models page: per asset and target, what serves (a model, or the baseline no model beat)
in each mode and how it did in its backtest, the versions and how they validated over time,
the decisions taken, and "Train now" for admins with a progress bar.

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
            html.P("Each asset's models: forecasts of a target's future from its past, and "
                   "surrogates estimating a calculation from the sensors. What serves is the "
                   "method that did best in a backtest; a model serves only when it beats simple "
                   "baselines. Below: versions, how they validated against what happened, and why.",
                   className="text-muted"),
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
            dbc.Card([dbc.CardHeader(html.Strong("What serves, and its versions"), className="bg-white"),
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


def slot_summary(title: str, mode: str, serving: str, verdict: str, no_model_won: bool,
                 scores: list[list[str]], checked: str, history: str) -> html.Div:
    """One mode of the target: what serves, the verdict against the baselines (a warning when
    a baseline serves), the backtest per horizon, the latest validation and the versions."""
    return html.Div(
        [
            html.H2(title, className="h6 mb-1"),
            html.Div(serving, className="small"),
            dbc.Alert(verdict, color="warning", className="small py-1 px-2 my-1 d-inline-block")
            if no_model_won else html.Div(verdict, className="small fw-semibold my-1"),
            table(["Backtest", "Points", "MAE", "MAPE", "Interval coverage"], scores,
                  "No backtest scores recorded."),
            html.Div(f"Latest validation: {checked}", className="small text-muted mt-1"),
            html.Div(f"Versions: {history}", className="small text-muted"),
        ],
        className="mb-3", **{"data-mode": mode},
    )


def served_and_versions(summaries: list[html.Div], versions: html.Div | dbc.Table) -> html.Div:
    return html.Div([*summaries, html.H2("Version history", className="h6"), versions])


def no_slot(title: str, mode: str, text: str) -> html.Div:
    return html.Div([html.H2(title, className="h6 mb-1"), html.Div(text, className="small text-muted")],
                    className="mb-3", **{"data-mode": mode})


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
