"""The what-if page: up to four scenarios of an asset's parameters side by side, Run, then their
KPIs in a table and their temperature and energy in plots.

Components only; ``callbacks.whatif`` fills them.
"""

from __future__ import annotations

import math
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from app.whatif import FIELDS, MAX_SCENARIOS, Field
from layouts import ids
from layouts.figures import COLOURS, CONFIG

PATH = "/whatif"
TITLE = "What-if · Energy Twin"
SHOWN = 2  # scenarios shown at first
HEIGHT = 380
#: A responsive graph (CONFIG) takes its container's height: without one it collapses when
#: the window is resized.
GRAPH_STYLE = {"height": f"{HEIGHT}px"}


def field_id(name: str, scenario: int) -> dict[str, Any]:
    return {"type": ids.WHATIF_FIELD, "field": name, "scenario": scenario}


def row_id(name: str, scenario: int) -> dict[str, Any]:
    return {"type": ids.WHATIF_ROW, "field": name, "scenario": scenario}


def _input(field: Field, scenario: int) -> Any:
    if field.options:
        return dbc.Select(id=field_id(field.name, scenario), size="sm",
                          options=[{"label": label, "value": value} for value, label in field.options])
    return dbc.InputGroup(
        [dbc.Input(id=field_id(field.name, scenario), type="number", min=field.minimum, max=field.maximum,
                   step=field.step, size="sm"),
         *([dbc.InputGroupText(field.unit)] if field.unit else [])],
        size="sm",
    )


def column(scenario: int) -> dbc.Col:
    letter = "ABCD"[scenario]
    rows = [html.Div([dbc.Label(f.label, html_for=str(field_id(f.name, scenario)), className="small mb-0"),
                      _input(f, scenario)], id=row_id(f.name, scenario), className="mb-2")
            for f in FIELDS]
    return dbc.Col(
        dbc.Card(
            [
                dbc.CardHeader(
                    dbc.InputGroup([dbc.InputGroupText(html.Strong(letter)),
                                    dbc.Input(id=field_id("name", scenario), placeholder=f"Scenario {letter}",
                                              maxLength=40, size="sm")], size="sm"),
                    className="bg-white", style={"borderTop": f"4px solid {COLOURS[scenario]}"}),
                dbc.CardBody(rows),
            ],
            className="shadow-sm h-100",
        ),
        id={"type": ids.WHATIF_COLUMN, "scenario": scenario},
        xs=12, sm=6, xl=3, className="mb-3",
        style={} if scenario < SHOWN else {"display": "none"},
    )


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.WHATIF_JOB),
            dcc.Store(id=ids.WHATIF_RESULT),
            dcc.Interval(id=ids.WHATIF_POLL, interval=1000, disabled=True),
            html.H1("What-if scenarios", className="h3"),
            html.P("Try an asset under other conditions on its simulator and compare the outcomes. "
                   "Scenarios are simulations only: they never change the asset's recorded history.",
                   className="text-muted"),
            dbc.Row(
                [
                    dbc.Col([dbc.Label("Asset", html_for=ids.WHATIF_ASSET, className="small mb-0"),
                             dcc.Dropdown(id=ids.WHATIF_ASSET, placeholder="Choose a dispenser or boiler",
                                          clearable=False)], md=6),
                    dbc.Col([dbc.Label("Scenarios to compare", html_for=ids.WHATIF_COUNT, className="small mb-0"),
                             dbc.Select(id=ids.WHATIF_COUNT, value=str(SHOWN),
                                        options=[{"label": str(n), "value": str(n)}
                                                 for n in range(1, MAX_SCENARIOS + 1)])], xs=6, md=2),
                    dbc.Col(dbc.Button("Run scenarios", id=ids.WHATIF_RUN, color="primary", className="w-100"),
                            xs=6, md=2, className="align-self-end"),
                ],
                className="g-2 mb-2",
            ),
            html.Div(id=ids.WHATIF_ASSET_NOTE, className="small text-muted mb-3"),
            dbc.Row([column(n) for n in range(MAX_SCENARIOS)], className="g-3"),
            dbc.Progress(id=ids.WHATIF_PROGRESS, value=0, className="mb-1", style={"height": "1.25rem"}),
            html.Div(id=ids.WHATIF_PROGRESS_TEXT, className="small text-muted mb-3"),
            dbc.Card([dbc.CardHeader(html.Strong("Results side by side"), className="bg-white"),
                      dbc.CardBody(html.Div("Set the scenarios above and press Run scenarios.",
                                            id=ids.WHATIF_KPIS, className="text-muted"))],
                     className="shadow-sm mb-3"),
            dbc.Row(
                [
                    dbc.Col(dbc.Card(dbc.CardBody(dcc.Graph(id=ids.WHATIF_TEMPERATURE, config=CONFIG, style=GRAPH_STYLE,
                                                            figure=empty("Temperature over time"))),
                                     className="shadow-sm mb-3"), lg=8),
                    dbc.Col(dbc.Card(dbc.CardBody(dcc.Graph(id=ids.WHATIF_ENERGY, config=CONFIG, style=GRAPH_STYLE,
                                                            figure=empty("Energy and cost"))),
                                     className="shadow-sm mb-3"), lg=4),
                ]
            ),
        ]
    )


def empty(title: str, text: str = "Run the scenarios to see this plot.") -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=title, template="plotly_white", height=HEIGHT,
                         xaxis={"visible": False}, yaxis={"visible": False},
                         margin={"l": 40, "r": 20, "t": 50, "b": 40})
    figure.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return figure


def significant(value: float, digits: int = 3) -> str:
    """``value`` to about ``digits`` significant figures, never in exponent form: 0.376, 12.4,
    1,234."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    places = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{places}f}"


#: A cell of the results table: its text, and a note under it (a difference from the first
#: scenario) or, for a setting, whether it differs from the first scenario's.
Cell = tuple[str, str | bool | None]


def kpi_table(names: list[str], colours: list[str], kpis: list[tuple[str, list[Cell]]],
              settings: list[tuple[str, list[Cell]]]) -> dbc.Table:
    """KPIs down, scenarios across (each column marked with its plot colour), then the settings
    each scenario ran with, those that differ from the first scenario's highlighted."""
    head = html.Tr([html.Th("")] + [html.Th(name, style={"borderBottom": f"4px solid {colour}"})
                                    for name, colour in zip(names, colours, strict=True)])

    def kpi_cell(cell: Cell) -> html.Td:
        text, under = cell
        return html.Td([html.Span(text, className="fw-semibold"),
                        *([html.Span(f" {under}", className="small text-muted")] if under else [])])

    def setting_cell(cell: Cell) -> html.Td:
        text, changed = cell
        return html.Td(text, className="fw-semibold text-primary" if changed else "text-muted")

    body = [html.Tr([html.Th(label, className="fw-normal")] + [kpi_cell(c) for c in cells]) for label, cells in kpis]
    body.append(html.Tr(html.Th("Scenario settings (changes from the first in blue)", colSpan=len(names) + 1,
                                className="small text-muted fw-normal pt-3")))
    body += [html.Tr([html.Th(label, className="fw-normal text-muted")] + [setting_cell(c) for c in cells])
             for label, cells in settings]
    return dbc.Table([html.Thead(head), html.Tbody(body)], size="sm", hover=True, responsive=True,
                     className="mb-0", id=f"{ids.WHATIF_KPIS}-table")


def note(text: str) -> html.Div:
    return html.Div(text, className="small text-muted mt-2")


def temperature_figure(curves: list[tuple[str, list[float], list[float]]], label: str) -> go.Figure:
    """Each scenario's temperature against hours from the start (midnight on a Monday)."""
    figure = go.Figure()
    for index, (name, hours, values) in enumerate(curves):
        figure.add_trace(go.Scatter(x=hours, y=values, mode="lines", name=name,
                                    line={"color": COLOURS[index], "width": 2},
                                    hovertemplate=f"{name}<br>hour %{{x:.1f}}<br>%{{y:.1f}} °C<extra></extra>"))
    longest = max((h[-1] for _, h, _ in curves if h), default=24.0)
    figure.update_layout(title=f"{label} over time", template="plotly_white", height=HEIGHT,
                         margin={"l": 60, "r": 20, "t": 50, "b": 50}, hovermode="x unified",
                         legend={"orientation": "h", "y": -0.25})
    values, text = time_ticks(longest)
    figure.update_xaxes(title_text="Time into the scenario (each starts at midnight on a Monday)",
                        range=[0, longest], tickvals=values, ticktext=text)
    figure.update_yaxes(title_text=f"{label} (°C)")
    return figure


def wrap(text: str, width: int = 12) -> str:
    """``text`` over lines of about ``width`` characters (``<br>`` between), for an axis label."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return "<br>".join(lines)


DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def time_ticks(hours: float) -> tuple[list[float], list[str]]:
    """Ticks for hours from a Monday midnight: every 6 hours for up to two days, every day for
    up to eight, every week beyond."""
    if hours <= 48:
        ticks = [h for h in range(0, int(hours) + 1, 6)]
        return [float(h) for h in ticks], [DAYS[h // 24 % 7] if h % 24 == 0 else f"{h % 24:02d}:00" for h in ticks]
    if hours <= 8 * 24:
        ticks = list(range(0, int(hours) + 1, 24))
        return [float(h) for h in ticks], [DAYS[h // 24 % 7] for h in ticks]
    ticks = list(range(0, int(hours) + 1, 168))
    return [float(h) for h in ticks], [f"Week {h // 168 + 1}" for h in ticks]


def energy_figure(names: list[str], kwh: list[float], costs: list[str], fuel: str) -> go.Figure:
    """Energy of each scenario as a bar, its cost written above it."""
    figure = go.Figure(go.Bar(x=names, y=kwh, marker={"color": list(COLOURS[:len(names)])},
                              text=costs, textposition="outside", textangle=0, cliponaxis=False,
                              customdata=costs,
                              hovertemplate="%{x}<br>%{y:,.3g} kWh, %{customdata}<extra></extra>"))
    figure.update_layout(title="Energy and cost", template="plotly_white", height=HEIGHT,
                         margin={"l": 60, "r": 20, "t": 60, "b": 60}, showlegend=False)
    figure.update_xaxes(tickvals=names, ticktext=[wrap(n) for n in names], tickangle=0)
    figure.update_yaxes(title_text=f"{fuel.capitalize()} (kWh)", rangemode="tozero",
                        range=[0, 1.15 * max(kwh, default=1.0) or 1.0])
    return figure
