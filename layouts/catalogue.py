"""The plant catalogue page (admins): the supplier's sites, their assets and the assets' sensors
as a tree, and one editor beside it to add or change a site, an asset (with its type's
parameters, formulas and forecast targets) or a sensor.

Components only; ``callbacks.catalogue`` fills them, for admins only, from
:mod:`app.plant.catalogue`, whose refusals it shows as they are worded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.twins import ASSET_TYPES
from layouts import ids

PATH = "/admin/catalogue"
TITLE = "Plant catalogue · Energy Twin"
HIDDEN = {"display": "none"}
SHOWN: dict[str, str] = {}
FORMULA_HELP = ("A formula is arithmetic over the asset's sensors, the calculations above it and "
                "its parameters: + − * / ** %, and abs, sqrt, exp, log, log10, sin, cos, min(a, b), "
                "max(a, b), clip(x, lo, hi), where(condition, a, b) and integrate(x), the running "
                "integral of x over time in seconds: integrate(power_kw) / 3600 is energy in kWh.")


# -- what the callbacks hand over ---------------------------------------------------------------


@dataclass(frozen=True)
class SensorRow:
    id: int
    name: str
    unit: str
    interval_s: int | None
    normal_min: float | None
    normal_max: float | None
    retired: bool


@dataclass(frozen=True)
class AssetRow:
    id: int
    name: str
    type_label: str
    retired: bool
    sensors: tuple[SensorRow, ...]
    formulas: int


@dataclass(frozen=True)
class SiteRow:
    id: int
    name: str
    location: str | None
    maintenance_emails: str | None
    retired: bool
    assets: tuple[AssetRow, ...] = field(default_factory=tuple)


# -- the page -------------------------------------------------------------------------------------


def layout(asset: str = "", **_query: str) -> html.Div:
    """``?asset=ID`` opens that asset in the editor (the asset page links here so)."""
    editing = {"kind": "asset", "id": int(asset), "parent": None} if asset.isdigit() else None
    return html.Div(
        [
            dcc.Store(id=ids.CAT_CHANGED, data=0),
            dcc.Store(id=ids.CAT_EDITING, data=editing),
            dcc.Store(id=ids.CAT_ASSET_STORED),
            html.Div(dcc.Link("← Administration", href="/admin"), className="small mb-1"),
            html.H1("Plant catalogue", className="h3"),
            html.P("Your sites, their assets and the assets' sensors: what the twin reads, "
                   "calculates and forecasts. Something with history cannot be deleted: retire it, "
                   "and it leaves the pipeline and the lists but keeps its data.",
                   className="text-muted"),
            html.Div(id=ids.CAT_BODY, children=sections()),
        ]
    )


def sections() -> list[Any]:
    return [dbc.Row([dbc.Col(estate_card(), lg=7), dbc.Col(editor_card(), lg=5)], className="g-3")]


def estate_card() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(
                dbc.Row(
                    [
                        dbc.Col(html.Strong("Estate")),
                        dbc.Col(dbc.Switch(id=ids.CAT_SHOW_RETIRED, label="Show retired", value=False,
                                           className="mb-0"), width="auto"),
                        dbc.Col(dbc.Button("Add a site", id=ids.CAT_ADD_SITE, color="primary", size="sm"),
                                width="auto"),
                    ],
                    className="g-3 align-items-center",
                ),
                className="bg-white",
            ),
            dbc.CardBody([html.Div(id=ids.CAT_NOTICE), html.Div(id=ids.CAT_TREE)]),
        ],
        className="shadow-sm mb-3",
    )


def editor_card() -> dbc.Card:
    # On a wide screen the editor stays in view beside a long tree, scrolling within itself
    # when it is taller than the window (else its Save button could not be reached).
    return html.Div(
        dbc.Card(
            dbc.CardBody(
                [
                    html.Div("Choose Edit on a site, an asset or a sensor, or add one.",
                             id=ids.CAT_EDITOR_HINT, className="text-muted"),
                    site_form(),
                    asset_form(),
                    sensor_form(),
                ]
            ),
            className="shadow-sm",
        ),
        className="sticky-lg-top catalogue-editor mb-3",
        style={"top": "1rem", "zIndex": 1, "maxHeight": "calc(100vh - 2rem)", "overflowY": "auto"},
    )


def _field(label: str, control: Any, help_text: str | None = None, html_for: str | None = None) -> html.Div:
    parts: list[Any] = [dbc.Label(label, html_for=html_for, className="small fw-semibold mb-1"), control]
    if help_text:
        parts.append(dbc.FormText(help_text))
    return html.Div(parts, className="mb-3")


def site_form() -> html.Div:
    return html.Div(
        [
            html.H2(id=ids.CAT_SITE_TITLE, className="h5 mb-3"),
            _field("Name", dbc.Input(id=ids.CAT_SITE_NAME, maxLength=200), html_for=ids.CAT_SITE_NAME),
            _field("Location", dbc.Input(id=ids.CAT_SITE_LOCATION, maxLength=200,
                                         placeholder="e.g. Derby, DE1 1AA"), html_for=ids.CAT_SITE_LOCATION),
            _field("Maintenance emails", dbc.Input(id=ids.CAT_SITE_EMAILS, maxLength=1000,
                                                   placeholder="ops@example.com, fitter@example.com"),
                   "Alerts of this site's assets go to these addresses, separated by commas.",
                   html_for=ids.CAT_SITE_EMAILS),
            dbc.Button("Save site", id=ids.CAT_SITE_SAVE, color="primary"),
            html.Div(id=ids.CAT_SITE_RESULT, className="mt-3"),
        ],
        id=ids.CAT_SITE_FORM, style=HIDDEN,
    )


def asset_form() -> html.Div:
    return html.Div(
        [
            html.H2(id=ids.CAT_ASSET_TITLE, className="h5 mb-3"),
            dbc.Row(
                [
                    dbc.Col(_field("Site", dbc.Select(id=ids.CAT_ASSET_SITE), html_for=ids.CAT_ASSET_SITE), md=6),
                    dbc.Col(_field("Name", dbc.Input(id=ids.CAT_ASSET_NAME, maxLength=200),
                                   html_for=ids.CAT_ASSET_NAME), md=6),
                ],
                className="g-2",
            ),
            _field("Type", dcc.Dropdown(id=ids.CAT_ASSET_TYPE, options=type_options(), clearable=False,
                                        searchable=False, optionHeight=52, maxHeight=330)),
            html.Div(id=ids.CAT_ASSET_TYPE_HELP, className="small text-muted mb-3", style={"marginTop": "-0.5rem"}),
            html.Div([dbc.Label("Parameters", className="small fw-semibold mb-1"),
                      html.Div(id=ids.CAT_ASSET_PARAMS)], className="mb-3"),
            _field("Upstream asset", dcc.Dropdown(id=ids.CAT_ASSET_UPSTREAM, clearable=True,
                                                  placeholder="None: nothing feeds it"),
                   "The asset that feeds this one (a boiler feeding a tank)."),
            html.Div(
                [
                    dbc.Label("Formulas", className="small fw-semibold mb-1"),
                    html.Div(id=ids.CAT_FORMULAS),
                    dbc.Button("Add a formula", id=ids.CAT_FORMULA_ADD, color="secondary", outline=True,
                               size="sm", className="mt-1"),
                    dbc.FormText(FORMULA_HELP, className="d-block mt-1"),
                ],
                className="mb-3",
            ),
            _field("Forecast targets", dcc.Dropdown(id=ids.CAT_ASSET_TARGETS, multi=True),
                   "The sensors or calculations to forecast. Left empty, a built-in type follows the "
                   "forecast schedule and a generic asset forecasts nothing."),
            dbc.Button("Save asset", id=ids.CAT_ASSET_SAVE, color="primary"),
            html.Div(id=ids.CAT_ASSET_RESULT, className="mt-3"),
        ],
        id=ids.CAT_ASSET_FORM, style=HIDDEN,
    )


def sensor_form() -> html.Div:
    return html.Div(
        [
            html.H2(id=ids.CAT_SENSOR_TITLE, className="h5 mb-3"),
            dbc.Row(
                [
                    dbc.Col(_field("Name", dbc.Input(id=ids.CAT_SENSOR_NAME, maxLength=64,
                                                     placeholder="e.g. flow_m3h"),
                                   "Lower-case letters, digits and _: formulas use it.",
                                   html_for=ids.CAT_SENSOR_NAME), md=7),
                    dbc.Col(_field("Unit", dbc.Input(id=ids.CAT_SENSOR_UNIT, maxLength=16,
                                                     placeholder="e.g. m³/h, °C, bar, kW, 1"),
                                   html_for=ids.CAT_SENSOR_UNIT), md=5),
                ],
                className="g-2",
            ),
            _field("Reporting interval",
                   dbc.InputGroup([dbc.Input(id=ids.CAT_SENSOR_INTERVAL, type="number", min=1, step=1,
                                             placeholder="learned from the data"),
                                   dbc.InputGroupText("seconds"),
                                   dbc.InputGroupText(id=ids.CAT_SENSOR_INTERVAL_TEXT, className="bg-white")]),
                   "How often it sends a reading. Left empty, it is learned from the first import.",
                   html_for=ids.CAT_SENSOR_INTERVAL),
            dbc.Row(
                [
                    dbc.Col(_field("Normal minimum", dbc.Input(id=ids.CAT_SENSOR_MIN, type="number"),
                                   html_for=ids.CAT_SENSOR_MIN), md=6),
                    dbc.Col(_field("Normal maximum", dbc.Input(id=ids.CAT_SENSOR_MAX, type="number"),
                                   html_for=ids.CAT_SENSOR_MAX), md=6),
                ],
                className="g-2",
            ),
            dbc.FormText("A reading outside the normal range raises an alert.", className="d-block mb-3",
                         style={"marginTop": "-0.75rem"}),
            dbc.Button("Save sensor", id=ids.CAT_SENSOR_SAVE, color="primary"),
            html.Div(id=ids.CAT_SENSOR_RESULT, className="mt-3"),
        ],
        id=ids.CAT_SENSOR_FORM, style=HIDDEN,
    )


# -- the asset form's parts ---------------------------------------------------------------------


def type_options() -> list[dict[str, Any]]:
    """Each asset type with its label and, under it, what it is; the generic type last."""
    kinds = sorted(ASSET_TYPES.values(), key=lambda k: (k.name == "generic", k.label))
    return [{"label": html.Div([html.Div(k.label),
                                html.Div(k.description, className="small text-muted text-truncate")],
                               style={"lineHeight": "1.2"}, title=k.description),
             "value": k.name, "search": k.label} for k in kinds]


def type_help(kind_name: str | None) -> list[Any]:
    kind = ASSET_TYPES.get(kind_name or "")
    if kind is None:
        return []
    if not kind.sensors:
        return ["Add its sensors once it is saved; its formulas are its calculations."]
    parts: list[Any] = ["Comes with the sensors ",
                        html.Span(", ".join(s.name for s in kind.sensors), className="font-monospace"), "."]
    if kind.calculations:
        parts += [" Calculates ", html.Span(", ".join(kind.calculations), className="font-monospace"), "."]
    return parts


def parameter_inputs(kind_name: str, values: Mapping[str, Any]) -> html.Div:
    """One input per parameter of the type, showing ``values`` (the defaults for a new asset,
    the stored ones for an existing one); an emptied input means the type's default."""
    defaults = ASSET_TYPES[kind_name].default_parameters
    cols = []
    for name, default in defaults.items():
        words = isinstance(default, str)
        value = values.get(name, default)
        ident = {"type": ids.CAT_PARAM, "name": name}
        cols.append(dbc.Col(
            [dbc.Label(name, className="small font-monospace text-muted mb-0 text-truncate d-block"),
             dbc.Input(id=ident, value=value, type="text" if words else "number", step="any", size="sm",
                       placeholder=str(default))],
            xs=6, className="mb-1"))
    return html.Div([dbc.Row(cols, className="g-2"),
                     dbc.FormText("An emptied parameter takes the type's default (shown greyed).")])


def constant_rows(rows: Sequence[tuple[str, Any]]) -> html.Div:
    """A generic asset's parameters: named constants its formulas may read."""
    lines = [dbc.Row(
        [
            dbc.Col(dbc.Input(id={"type": ids.CAT_CONST_NAME, "row": n}, value=name, size="sm",
                              placeholder="name, e.g. efficiency"), width=6),
            dbc.Col(dbc.Input(id={"type": ids.CAT_CONST_VALUE, "row": n}, value=value, type="number",
                              step="any", size="sm", placeholder="value"), width=4),
            dbc.Col(dbc.Button("×", id={"type": ids.CAT_CONST_REMOVE, "row": n}, color="link", size="sm",
                               className="text-danger p-0", title="Remove"), width=2),
        ],
        className="g-1 mb-1 align-items-center") for n, (name, value) in enumerate(rows)]
    return html.Div([
        html.Div("A generic asset has no built-in parameters: add constants its formulas can read.",
                 className="small text-muted mb-1"),
        *lines,
        dbc.Button("Add a constant", id=ids.CAT_CONST_ADD, color="secondary", outline=True, size="sm"),
    ])


def formula_rows(rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    if not rows:
        return [html.Div("No formulas.", className="small text-muted")]
    # Name and unit on one line, the formula under them at full width: formulas run long.
    return [html.Div(
        [
            dbc.Row(
                [
                    dbc.Col(dbc.Input(id={"type": ids.CAT_FORMULA_NAME, "row": n}, value=row.get("name"),
                                      size="sm", placeholder="name, e.g. power_kw", maxLength=64), width=7),
                    dbc.Col(dbc.Input(id={"type": ids.CAT_FORMULA_UNIT, "row": n}, value=row.get("unit"),
                                      size="sm", placeholder="unit, e.g. kW", maxLength=16), width=4),
                    dbc.Col(dbc.Button("×", id={"type": ids.CAT_FORMULA_REMOVE, "row": n}, color="link",
                                       size="sm", className="text-danger p-0", title="Remove this formula"),
                            width=1),
                ],
                className="g-1 mb-1 align-items-center",
            ),
            dbc.Input(id={"type": ids.CAT_FORMULA_TEXT, "row": n}, value=row.get("formula"), size="sm",
                      placeholder="= formula, e.g. flow_m3h * dp_bar * 100 / 3.6 / efficiency",
                      maxLength=500, className="font-monospace"),
        ],
        className="border rounded p-2 mb-2 bg-light") for n, row in enumerate(rows)]


# -- the tree -----------------------------------------------------------------------------------


def interval_text(seconds: int | None) -> str:
    """A reporting interval in words: 30 s, 15 min, 1 h, 1 d, 90 s."""
    if not seconds:
        return ""
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def range_text(low: float | None, high: float | None) -> str:
    if low is None and high is None:
        return "—"
    if low is None:
        return f"≤ {_number(high)}"
    if high is None:
        return f"≥ {_number(low)}"
    return f"{_number(low)} – {_number(high)}"


def retired_badge(retired: bool) -> Any:
    return dbc.Badge("Retired", color="secondary", className="ms-2") if retired else None


def _button(label: str, ident: dict[str, Any] | None, colour: str = "", **kwargs: Any) -> dbc.Button:
    if ident is not None:
        kwargs["id"] = ident
    return dbc.Button(label, color="link", size="sm",
                      className=f"p-0 px-1 text-decoration-none text-nowrap {colour}".strip(), **kwargs)


def actions(kind: str, ident: int, name: str, retired: bool, add: str | None = None) -> html.Div:
    """Edit, [add a child], retire or restore, delete (with a confirm) for one row."""
    buttons: list[Any] = [_button("Edit", {"type": ids.CAT_EDIT, "kind": kind, "id": ident})]
    if add and not retired:
        buttons.append(_button(f"+ {add.title()}", {"type": ids.CAT_ADD, "kind": add, "parent": ident},
                               title=f"Add a {add} to it"))
    buttons.append(_button("Restore" if retired else "Retire",
                           {"type": ids.CAT_RETIRE, "kind": kind, "id": ident, "restore": retired},
                           title=("Bring it back into the pipeline and the lists" if retired else
                                  "Take it out of the pipeline and the lists, keeping its history")))
    buttons.append(dcc.ConfirmDialogProvider(
        _button("Delete", None, "text-danger"),
        id={"type": ids.CAT_DELETE, "kind": kind, "id": ident},
        message=(f"Delete the {kind} “{name}”? Only something without history can be deleted; "
                 "anything with readings is kept (retire it instead)."),
    ))
    return html.Div(buttons, className="d-flex justify-content-end flex-nowrap")


def _asset_rows(asset: AssetRow) -> list[html.Tr]:
    muted = " opacity-75" if asset.retired else ""
    count = len([s for s in asset.sensors if not s.retired])
    sensors = f"{count} sensor{'s' * (count != 1)}"
    if asset.formulas:
        sensors += f", {asset.formulas} formula{'s' * (asset.formulas != 1)}"
    rows = [html.Tr(
        [
            html.Td([dcc.Link(asset.name, href=f"/assets/{asset.id}", className="fw-semibold"),
                     retired_badge(asset.retired)]),
            html.Td(asset.type_label),
            html.Td(sensors, colSpan=2, className="text-muted text-nowrap"),
            html.Td(actions("asset", asset.id, asset.name, asset.retired, add="sensor"), className="text-end"),
        ],
        className="table-light" + muted,
    )]
    for sensor in asset.sensors:
        rows.append(html.Tr(
            [
                html.Td([html.Span("└ ", className="text-muted ms-2"),
                         html.Span(sensor.name, className="font-monospace"), retired_badge(sensor.retired)],
                        className="text-nowrap"),
                html.Td(sensor.unit),
                html.Td(interval_text(sensor.interval_s) or "—", className="text-nowrap",
                        title=f"{sensor.interval_s} s" if sensor.interval_s else "not known yet"),
                html.Td(range_text(sensor.normal_min, sensor.normal_max), className="text-nowrap"),
                html.Td(actions("sensor", sensor.id, sensor.name, sensor.retired), className="text-end"),
            ],
            className="opacity-75" if sensor.retired else "",
        ))
    if not asset.sensors:
        rows.append(html.Tr(html.Td("No sensors yet: add the ones it reports.", colSpan=5,
                                    className="small text-muted ps-4")))
    return rows


def site_block(site: SiteRow) -> dbc.Card:
    where = " · ".join(x for x in (site.location, site.maintenance_emails) if x)
    head = dbc.Row(
        [
            dbc.Col([html.Span(site.name, className="fw-semibold"), retired_badge(site.retired),
                     html.Div(where, className="small text-muted")]),
            dbc.Col(actions("site", site.id, site.name, site.retired, add="asset"), width="auto"),
        ],
        className="g-2 align-items-center",
    )
    if site.assets:
        table = dbc.Table(
            [html.Thead(html.Tr([html.Th("Asset / sensor"), html.Th("Type / unit"), html.Th("Every"),
                                 html.Th("Normal range", className="text-nowrap"), html.Th("")]),
                        className="text-muted"),
             html.Tbody([row for asset in site.assets for row in _asset_rows(asset)])],
            size="sm", responsive=True, className="mb-0 align-middle small")
    else:
        table = html.Div("No assets yet.", className="small text-muted px-3 py-2")
    return dbc.Card([dbc.CardHeader(head, className="bg-white" if not site.retired else ""),
                     dbc.CardBody(table, className="p-0")],
                    className="mb-3" + (" opacity-75" if site.retired else ""))


def tree(sites: Sequence[SiteRow]) -> Any:
    if not sites:
        return html.Div([html.P("No sites yet.", className="mb-1"),
                         html.P("Add a site, then its assets, then the sensors each asset reports.",
                                className="small text-muted mb-0")])
    return html.Div([site_block(site) for site in sites])


# -- messages -----------------------------------------------------------------------------------


def refused(text: str) -> dbc.Alert:
    return dbc.Alert(["Not saved: ", text], color="danger", className="mb-0 py-2")


def done(children: Any) -> dbc.Alert:
    return dbc.Alert(children, color="success", className="mb-0 py-2", dismissable=True)
