"""The Models page: per asset and target, what serves (a model, or the baseline no model beat)
in each mode and how it did in its backtest, the versions and how they validated over time,
the decisions taken, and "Train now" for admins with a progress bar.

Components only; ``callbacks.models`` fills them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html
from plotly.subplots import make_subplots

from layouts import figures, ids

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


#: One validation of the chart: its version ("version", "mode"), when its window ended
#: ("at", UK wall-clock time), MAPE and coverage in per cent (None: not measured) and the
#: coverage its intervals aim at ("nominal", per cent, or None).
Point = dict[str, Any]
CHART_HEIGHT = 460
MARKER = {"size": 10, "line": {"width": 1, "color": "white"}}
PANELS = ("Forecast error, MAPE (%): lower is better",
          "Interval coverage (%): share of actual values inside the forecast interval")


def _label(point: Point, key: str, digits: int) -> str:
    value = point[key]
    return "" if value is None else f"{value:.{digits}f} %"


def _version_traces(figure: go.Figure, mine: list[Point], name: str, colour: str) -> None:
    """A version's MAPE (top panel) and coverage (bottom), one legend entry for both; the
    newest point of each is labelled with its value, so a single validation reads at a glance."""
    times = [p["at"] for p in mine]
    for row, key, digits, what in ((1, "mape", 2, "MAPE"), (2, "coverage", 0, "coverage")):
        figure.add_trace(go.Scatter(
            x=times, y=[p[key] for p in mine], mode="lines+markers+text", name=name, legendgroup=name,
            showlegend=row == 1, line={"color": colour, "width": 2}, marker={**MARKER, "color": colour},
            text=[""] * (len(mine) - 1) + [_label(mine[-1], key, digits)], textposition="top center",
            textfont={"color": colour}, cliponaxis=False, connectgaps=False,
            hovertemplate=f"{name}<br>%{{x|%d %b %H:%M}}<br>{what} %{{y:.{digits}f}} %<extra></extra>"),
            row=row, col=1)


def validation_chart(points: list[Point], target: str | None) -> go.Figure:
    """How each version of a target validated over time: MAPE (lower is better) above, interval
    coverage (near its nominal, drawn dashed, is right) below, on axes of their own; one colour
    per version in both. A single validation is drawn as labelled markers with a note that the
    lines grow as more are made."""
    title = f"Validation of the {target.replace('_', ' ')} models over time" if target else "Validation over time"
    if not points:
        return figures.empty(title, "No validation yet: forecasts are validated once what they "
                                    "forecast has happened.", height=260)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.16, subplot_titles=PANELS)
    versions = sorted({(p["version"], p["mode"]) for p in points})
    for index, (version, mode) in enumerate(versions):
        mine = sorted((p for p in points if (p["version"], p["mode"]) == (version, mode)), key=lambda p: p["at"])
        _version_traces(figure, mine, f"v{version} ({mode})", figures.COLOURS[index % len(figures.COLOURS)])
    for nominal in sorted({p["nominal"] for p in points if p["nominal"] is not None}):
        figure.add_hline(y=nominal, row=2, col=1, line={"dash": "dash", "color": "#6e84a3", "width": 1},
                         annotation_text=f"nominal {nominal:.0f} %", annotation_position="bottom right",
                         annotation_font={"color": "#6e84a3", "size": 11})
    times = [p["at"] for p in points]
    subtitle = None
    if max(times) == min(times):  # one validation: the day around it, not milliseconds, and why one
        figure.update_xaxes(range=[min(times) - timedelta(hours=12), max(times) + timedelta(hours=12)])
        subtitle = ("One validation so far: each later check of the forecasts against what "
                    "happened adds a point.")
    figure.update_layout(title={"text": title, "x": 0.01, "font": {"size": 15},
                                "subtitle": {"text": subtitle or f"{len(points)} validations",
                                             "font": {"size": 12, "color": "#6e84a3"}}},
                         template="plotly_white", height=CHART_HEIGHT, hovermode="closest",
                         margin={"l": 70, "r": 20, "t": 110, "b": 50}, showlegend=True,
                         legend={"orientation": "h", "yanchor": "bottom", "y": 1.1, "xanchor": "right", "x": 1,
                                 "title": {"text": "Version"}})
    for panel in PANELS:  # each panel's title over its left edge, like the figure's
        figure.update_annotations(selector={"text": panel}, x=0, xanchor="left", font={"size": 13})
    figure.update_xaxes(tickformat="%d %b\n%H:%M")
    figure.update_xaxes(title_text="Validated at (UK time): the end of each validation window", row=2, col=1)
    mape = [p["mape"] for p in points if p["mape"] is not None]
    figure.update_yaxes(title_text="MAPE (%)", rangemode="tozero", row=1, col=1,
                        range=[0, 1.3 * max(mape)] if mape and max(mape) > 0 else None)
    figure.update_yaxes(title_text="Coverage (%)", range=[0, 112], dtick=25, row=2, col=1)
    return figure
