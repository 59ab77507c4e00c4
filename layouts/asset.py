"""The asset page: its sensors and calculations over a chosen time range, in several views.

Components only; ``callbacks.asset`` fills them for the logged-in user's supplier.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids
from layouts.figures import CONFIG

PATH = "/assets/<asset_id>"
TITLE = "Asset · Energy Twin"
LIVE_MS = 5_000
DEFAULT_RANGE = "1d"
RANGES = [
    {"label": "Last hour", "value": "1h"},
    {"label": "Last day", "value": "1d"},
    {"label": "Last week", "value": "7d"},
    {"label": "Last 30 days", "value": "30d"},
    {"label": "Last year", "value": "1y"},
    {"label": "Custom…", "value": "custom"},
]


def graph(graph_id: str, name: str, figure: object = None, height: int = 360) -> dcc.Loading:
    config = {**CONFIG, "toImageButtonOptions": {**CONFIG["toImageButtonOptions"], "filename": name}}
    drawn = {} if figure is None else {"figure": figure}
    return dcc.Loading(dcc.Graph(id=graph_id, config=config, style={"minHeight": f"{height}px"}, **drawn),
                       type="dot", delay_show=400)


def card(title: str, body: list[object], controls: list[object] | None = None) -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(dbc.Row([dbc.Col(html.Strong(title), className="py-1"),
                                    *([dbc.Col(controls, md=8)] if controls else [])],
                                   className="g-2 align-items-center"), className="bg-white"),
            dbc.CardBody(body),
        ],
        className="shadow-sm mb-4",
    )


def picker(picker_id: str, placeholder: str, options: list[dict[str, object]] | None = None,
           value: object = None, **kwargs: object) -> dcc.Dropdown:
    return dcc.Dropdown(id=picker_id, placeholder=placeholder, options=options or [], value=value,
                        **{"clearable": False, **kwargs})


def layout(asset_id: str = "", range: str = "", **_query: str) -> html.Div:  # noqa: A002 (the URL's word)
    """The page's frame: ``callbacks.asset`` draws its body (header, controls and every plot)
    in one request, so a visit costs one round trip after the page itself. ``?range=7d``
    opens it on that preset (a link from an alert, a bookmark)."""
    try:
        asset = int(asset_id)
    except ValueError:
        asset = -1
    presets = {r["value"] for r in RANGES} - {"custom"}
    return html.Div(
        [
            dcc.Store(id=ids.ASSET_ID, data=asset),
            dcc.Store(id=ids.ASSET_FIRST_RANGE, data=range if range in presets else DEFAULT_RANGE),
            dcc.Loading(html.Div(html.Div("Loading the asset…", className="text-muted py-5"), id=ids.ASSET_BODY),
                        type="dot", delay_show=300),
        ]
    )


#: the body's parts that a range change redraws: graph id -> (file name, height)
GRAPHS = {
    ids.ASSET_STACKED: ("asset-sensors", 680), ids.ASSET_SINGLE: ("asset-single", 360),
    ids.ASSET_CALCS: ("asset-calculations", 360), ids.ASSET_PAIR: ("asset-pair", 360),
    ids.ASSET_DUAL: ("asset-dual-axis", 360), ids.ASSET_FORECAST: ("asset-forecast", 520),
    ids.ASSET_RESIDUALS: ("asset-expectation", 680), ids.ASSET_BATCH_GRAPH: ("asset-batch", 360),
}


def body(header: object, drawn: dict[str, object], pickers: dict[str, tuple[list[dict[str, object]], object]],
         notes: dict[str, object], performance: object, view: dict[str, object] | None,
         preset: str = DEFAULT_RANGE) -> list[object]:
    """The page once the asset is known: ``drawn`` maps each graph id of :data:`GRAPHS` to its
    figure, ``pickers`` each picker id to (options, value), ``notes`` the ids of the texts
    beside the plots to their children, ``performance`` the Performance card, ``view`` what the
    main plot shows (for live updates and the CSV).

    Everything a control's callback writes is in here too (the view store, the download):
    Dash runs a callback whose input arrives in a new piece of layout, even with
    ``prevent_initial_call``, when its outputs were on the page already."""

    def plot(graph_id: str) -> dcc.Loading:
        name, height = GRAPHS[graph_id]
        return graph(graph_id, name, drawn.get(graph_id), height)

    def choose(picker_id: str, placeholder: str, **kwargs: object) -> dcc.Dropdown:
        choices, value = pickers.get(picker_id, ([], None))
        return picker(picker_id, placeholder, choices, value, **kwargs)

    return [
        dcc.Store(id=ids.ASSET_VIEW, data=view),
        dcc.Interval(id=ids.ASSET_LIVE, interval=LIVE_MS),
        dcc.Download(id=ids.ASSET_DOWNLOAD),
        html.Div(header, id=ids.ASSET_HEADER, className="mb-3"),
        dbc.Row(
            [
                dbc.Col(dbc.Select(id=ids.ASSET_RANGE, options=RANGES, value=preset), xs=12, md=3),
                dbc.Col(
                    dbc.Collapse(dcc.DatePickerRange(id=ids.ASSET_CUSTOM, display_format="D MMM YYYY",
                                                     first_day_of_week=1),
                                 id=ids.ASSET_CUSTOM_COLLAPSE, is_open=False),
                    xs=12, md="auto",
                ),
                dbc.Col(html.Span(id=ids.ASSET_LIVE_NOTE, className="small text-muted"),
                        className="ms-md-auto", xs=12, md="auto"),
            ],
            className="g-2 align-items-center mb-3",
        ),
        card("Sensors on one time axis",
             [plot(ids.ASSET_STACKED),
              html.Div("Drag to zoom: detail is fetched again for the range you choose; "
                       "double-click to zoom out. New readings appear every few seconds.",
                       className="small text-muted")],
             [dbc.Row([dbc.Col(choose(ids.ASSET_SENSORS, "Sensors (up to 3)", multi=True, clearable=True),
                               xs=12, md=9),
                       dbc.Col(dbc.Button("Download CSV", id=ids.ASSET_CSV, color="secondary", outline=True,
                                          size="sm"), xs=12, md=3, className="text-md-end")],
                      className="g-2 align-items-center")]),
        performance,
        dbc.Row(
            [
                dbc.Col(card("One sensor or calculation", [plot(ids.ASSET_SINGLE)],
                             [choose(ids.ASSET_SINGLE_CHANNEL, "Sensor or calculation")]), lg=6),
                dbc.Col(card("Calculation results over time", [plot(ids.ASSET_CALCS)]), lg=6),
            ]
        ),
        card("Two plots on one canvas, and two curves on two axes",
             [plot(ids.ASSET_PAIR), plot(ids.ASSET_DUAL)],
             # Stacked on a phone: side by side, each would be narrower than the dropdown's
             # hidden focus input (208 px), which then pushes the page wider than the screen.
             [dbc.Row([dbc.Col(choose(ids.ASSET_PAIR_A, "First"), xs=12, sm=6),
                       dbc.Col(choose(ids.ASSET_PAIR_B, "Second"), xs=12, sm=6)], className="g-2")]),
        card("Predictions against actual values",
             [plot(ids.ASSET_FORECAST), html.Div(notes.get(ids.ASSET_FORECAST_METRICS), id=ids.ASSET_FORECAST_METRICS)],
             [choose(ids.ASSET_TARGET, "Model (target and mode)")]),
        card("Sensor against expectation",
             [plot(ids.ASSET_RESIDUALS),
              html.Div(notes.get(ids.ASSET_RESIDUAL_NOTE), id=ids.ASSET_RESIDUAL_NOTE, className="small text-muted")],
             [choose(ids.ASSET_RESIDUAL_SENSOR, "Sensor")]),
        card("Input data of a pipeline batch", [plot(ids.ASSET_BATCH_GRAPH)],
             [choose(ids.ASSET_BATCH, "Choose a batch")]),
    ]


#: a pipeline status level (app.plant.status.LEVELS) -> its colour
STATUS_COLOURS = {"ok": "success", "attention": "warning", "failed": "danger", "never": "light"}


def status_line(level: str, text: str, when: str | None = None) -> html.Div:
    """The asset's pipeline status in one line, coloured by its level (also in ``data-level``)."""
    tail = [html.Span(f" · {when}", className="opacity-75")] if when else []
    return html.Div(dbc.Alert([html.Span(text), *tail], color=STATUS_COLOURS.get(level, "light"),
                              className="small py-1 px-2 mb-0 d-inline-block border"),
                    id=ids.ASSET_STATUS, className="mt-2 mb-1", **{"data-level": level})


def header(name: str, site: str, type_label: str, description: str, extent: str,
           status: html.Div | None = None, edit_href: str | None = None) -> html.Div:
    """The title, what and where the asset is, its pipeline status and the extent of its data;
    ``edit_href`` (admins) links to the asset in the plant catalogue."""
    edit = [html.Span(" · ", className="text-muted"), dcc.Link("Edit in the catalogue", href=edit_href)] \
        if edit_href else []
    return html.Div(
        [
            html.Div([dcc.Link("← Overview", href="/"), *edit], className="small mb-1"),
            html.H1(name, className="h3 mb-0"),
            html.Div(f"{type_label} at {site}. {description}", className="text-muted"),
            *([status] if status is not None else []),
            html.Div(extent, className="small text-muted"),
        ]
    )


def expectation_note(inputs: tuple[str, ...], block_minutes: float, shown_days: int | None = None) -> html.Div:
    """Under the expectation plot: what the twin's expectation went by, and how to read the
    CUSUM; ``shown_days`` when the plot shows only the last days of a longer range."""
    sources = [name.replace("_", " ") for name in inputs if name != "physics"]
    if "physics" in inputs:
        sources.append("the type's physics")
    by = ", ".join(["the time of day and week", *sources[:-1]]) + (f" and {sources[-1]}" if sources else "")
    parts = [f"Expected from {by}, learnt from the asset's own history. The residual is averaged "
             f"over {block_minutes:g} minutes; the CUSUM adds up how far those averages stray, in "
             "standard deviations, and the drift check raises an alert once it passes the "
             "threshold."]
    if shown_days is not None:
        parts.append(f" Shown for the last {shown_days} days of the range: choose a custom range "
                     "for earlier days.")
    return html.Div(parts)


def metrics_table(rows: list[tuple[str, str]]) -> dbc.Table:
    return dbc.Table(html.Tbody([html.Tr([html.Td(k, className="text-muted"), html.Td(v, className="fw-semibold")])
                                 for k, v in rows]), size="sm", className="mb-0 small", style={"maxWidth": "640px"})


def forecast_details(rows: list[tuple[str, str]], models: list[list[str]]) -> html.Div:
    """Beside the forecast plot: the chosen model's facts and scores, then every model of the
    asset with its mode and the method that serves it."""
    parts: list[object] = [metrics_table(rows)] if rows else []
    if models:
        parts += [html.Div("Models of this asset", className="small fw-semibold mt-3 mb-1"),
                  dbc.Table([html.Thead(html.Tr([html.Th(h) for h in ("Target · mode", "Serves", "Horizon",
                                                                         "Status")])),
                             html.Tbody([html.Tr([html.Td(c) for c in row]) for row in models])],
                            size="sm", className="mb-0 small", responsive=True)]
    return html.Div(parts)
