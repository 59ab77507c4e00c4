"""The asset page's Performance card: a tile per metric with its value, unit, a band badge in
words and colour, and its formula on hover. Components only; ``callbacks.metrics`` fills it."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from app.metrics import NOT_APPLICABLE, Metric
from layouts import ids

#: band -> (words on the badge, Bootstrap colour)
BADGES = {"good": ("Good", "success"), "warning": ("Warning", "warning"), "bad": ("Bad", "danger"),
          None: ("No value", "secondary")}


def card(tiles_: object = None, note: object = None) -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(html.Strong("Performance"), className="bg-white"),
            dbc.CardBody([
                html.Div(note, id=ids.ASSET_METRICS_NOTE, className="small text-muted mb-2"),
                html.Div(tiles_, id=ids.ASSET_METRICS),
            ]),
        ],
        className="shadow-sm mb-4",
    )


def value_text(metric: Metric) -> str:
    """The value in its unit, or what stands in for one."""
    if metric.value is None:
        return "—"
    if metric.unit == "%":
        return f"{metric.value:.1f} %"
    if metric.unit == "×":
        return f"{metric.value:.2f}×"
    return f"{metric.value:.3g} {metric.unit}"


def tile(metric: Metric) -> dbc.Col:
    words, colour = BADGES[metric.band]
    target = f"{ids.ASSET_METRIC}-{metric.key}"
    return dbc.Col(
        html.Div(
            [
                html.Div([html.Span(metric.name, className="small text-muted me-2"),
                          dbc.Badge(words, color=colour, className="ms-auto",
                                    text_color="dark" if colour == "warning" else None)],
                         className="d-flex align-items-start"),
                html.Div(value_text(metric), className="fs-5 fw-semibold"),
                html.Div(metric.detail, className="small text-muted text-truncate"),
                dbc.Tooltip([html.Strong(f"{metric.name} ({metric.unit})"), html.Br(), metric.formula],
                            target=target, placement="top"),
            ],
            id=target,
            className="border rounded p-2 h-100",
        ),
        xs=6, md=4, xl=3, className="mb-2",
    )


def tiles(metrics: list[Metric]) -> html.Div:
    """A tile per metric that applies to the asset, then one line naming those that do not."""
    if not metrics:
        return html.Div("No metrics for this asset type.", className="text-muted")
    apply = [m for m in metrics if not m.detail.startswith(NOT_APPLICABLE)]
    others = [m for m in metrics if m.detail.startswith(NOT_APPLICABLE)]
    return html.Div([
        dbc.Row([tile(m) for m in apply], className="g-2"),
        *([html.Div(f"{others[0].detail.capitalize()}: {', '.join(m.name.lower() for m in others)}.".replace(
            "oee", "OEE"), className="small text-muted mt-1")] if others else []),
    ])
