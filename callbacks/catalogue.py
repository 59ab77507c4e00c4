"""The plant catalogue page. Every callback checks, on the server, that the user is an admin;
every change goes through :mod:`app.plant.catalogue` in the request's session, which is
committed when the change is accepted and rolled back when it is refused, so a refusal stores
nothing. Refusals are shown as the service words them: the field first, then what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from flask import request
from flask_login import current_user
from sqlalchemy.orm import Session

from app.plant.catalogue import (
    Actor,
    CatalogueError,
    NotInCatalogue,
    create_asset,
    create_sensor,
    create_site,
    delete_asset,
    delete_sensor,
    delete_site,
    get_asset,
    get_sensor,
    get_site,
    list_assets,
    list_sensors,
    list_sites,
    retire_asset,
    retire_sensor,
    retire_site,
    update_asset,
    update_sensor,
    update_site,
)
from app.twins import ASSET_TYPES
from app.web.context import db_session, twin
from layouts import catalogue as page
from layouts import ids
from layouts.admin import admins_only

SITE_FIELDS = ("name", "location", "maintenance_emails")
SENSOR_FIELDS = ("name", "unit", "interval_s", "normal_min", "normal_max")
NEW_TYPE = "generic"  # what a new asset starts as: anything that is not a built-in type


def _is_admin() -> bool:
    return current_user.is_authenticated and current_user.role == "admin"


def _refused() -> dbc.Alert:
    return dbc.Alert("Only administrators can do that.", color="danger", className="mb-0 py-2")


def _actor() -> Actor:
    return Actor(current_user.supplier_id, current_user.id, request.remote_addr, via="portal")


def _clicked() -> bool:
    """Whether a button really was clicked: pattern-matching inputs also fire when the buttons
    are drawn again (with no clicks), which must do nothing."""
    return any(t.get("value") for t in ctx.triggered)


def _label(kind_name: str) -> str:
    kind = ASSET_TYPES.get(kind_name)
    return kind.label if kind else kind_name


def _invalid(exc: Exception, fields: Sequence[str]) -> list[bool]:
    """Which of the form's inputs the refusal is about (``formulas[1].unit`` is about formulas)."""
    named = getattr(exc, "field", None) or ""
    return [named == f for f in fields]


def _editing(value: Any, kind: str) -> dict[str, Any] | None:
    return value if isinstance(value, dict) and value.get("kind") == kind else None


def _number_or_text(value: Any) -> Any:
    return None if value == "" else value


# -- reading the estate -------------------------------------------------------------------------


def estate_rows(session: Session, supplier_id: int, retired: bool) -> list[page.SiteRow]:
    """The supplier's sites, each with its assets and their sensors, for the tree."""
    by_site: dict[int, list[page.AssetRow]] = {}
    for asset in list_assets(session, supplier_id, retired=retired):
        sensors = tuple(page.SensorRow(s.id, s.name, s.unit, s.interval_s, s.normal_min, s.normal_max,
                                       s.retired_at is not None)
                        for s in list_sensors(session, supplier_id, asset.id, retired=retired))
        by_site.setdefault(asset.site_id, []).append(page.AssetRow(
            asset.id, asset.name, _label(asset.asset_type), asset.retired_at is not None, sensors,
            len(asset.formulas or ())))
    return [page.SiteRow(site.id, site.name, site.location, site.maintenance_emails,
                         site.retired_at is not None, tuple(by_site.get(site.id, ())))
            for site in list_sites(session, supplier_id, retired=retired)]


def _site_options(session: Session) -> list[dict[str, Any]]:
    return [{"label": s.name, "value": s.id} for s in list_sites(session, current_user.supplier_id)]


def _upstream_options(session: Session, own_id: int | None) -> list[dict[str, Any]]:
    return [{"label": f"{a.name} ({a.site.name}, {_label(a.asset_type).lower()})", "value": a.id}
            for a in list_assets(session, current_user.supplier_id) if a.id != own_id]


def _rows(names: Sequence[Any], *others: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The form's rows (name, value...) that hold anything."""
    rows = list(zip(names, *others, strict=False))
    return [row for row in rows if any(v not in (None, "") for v in row)]


def _removed(trigger: Any) -> int | None:
    return trigger["row"] if isinstance(trigger, dict) and "row" in trigger else None


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.CAT_BODY, "children"),
        Input(ids.URL, "pathname"),
    )
    def guard(_pathname: str):  # type: ignore[no-untyped-def]
        return no_update if _is_admin() else admins_only()

    @app.callback(
        Output(ids.CAT_TREE, "children"),
        Input(ids.URL, "pathname"),
        Input(ids.CAT_CHANGED, "data"),
        Input(ids.CAT_SHOW_RETIRED, "value"),
    )
    def draw_tree(_pathname, _changed, retired):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return None
        return page.tree(estate_rows(db_session(), current_user.supplier_id, bool(retired)))

    # -- choosing what the editor shows -----------------------------------------------------------

    @app.callback(
        Output(ids.CAT_EDITING, "data"),
        Output(ids.CAT_SITE_RESULT, "children", allow_duplicate=True),
        Output(ids.CAT_ASSET_RESULT, "children", allow_duplicate=True),
        Output(ids.CAT_SENSOR_RESULT, "children", allow_duplicate=True),
        Input(ids.CAT_ADD_SITE, "n_clicks"),
        Input({"type": ids.CAT_EDIT, "kind": ALL, "id": ALL}, "n_clicks"),
        Input({"type": ids.CAT_ADD, "kind": ALL, "parent": ALL}, "n_clicks"),
        Input({"type": ids.CAT_ADD_NEXT, "kind": ALL, "parent": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def choose(_site, _edits, _adds, _next):  # type: ignore[no-untyped-def]
        if not _is_admin() or not _clicked():
            return no_update, no_update, no_update, no_update
        trigger = ctx.triggered_id
        if trigger == ids.CAT_ADD_SITE:
            editing = {"kind": "site", "id": None, "parent": None}
        elif isinstance(trigger, dict) and trigger.get("type") == ids.CAT_EDIT:
            editing = {"kind": trigger["kind"], "id": trigger["id"], "parent": None}
        elif isinstance(trigger, dict):
            editing = {"kind": trigger["kind"], "id": None, "parent": trigger["parent"]}
        else:
            return no_update, no_update, no_update, no_update
        return editing, None, None, None

    @app.callback(
        Output(ids.CAT_EDITOR_HINT, "style"),
        Output(ids.CAT_SITE_FORM, "style"),
        Output(ids.CAT_SITE_TITLE, "children"),
        Output(ids.CAT_SITE_NAME, "value"),
        Output(ids.CAT_SITE_LOCATION, "value"),
        Output(ids.CAT_SITE_EMAILS, "value"),
        Input(ids.CAT_EDITING, "data"),
    )
    def fill_site(editing):  # type: ignore[no-untyped-def]
        hint = page.HIDDEN if editing and _is_admin() else page.SHOWN
        editing = _editing(editing, "site")
        if editing is None or not _is_admin():
            return hint, page.HIDDEN, None, None, None, None
        if editing.get("id") is None:
            return hint, page.SHOWN, "New site", "", "", ""
        try:
            site = get_site(db_session(), current_user.supplier_id, int(editing["id"]))
        except (NotInCatalogue, TypeError, ValueError):
            return hint, page.SHOWN, "This site is not in your catalogue.", None, None, None
        return (hint, page.SHOWN, f"Site “{site.name}”", site.name, site.location or "",
                site.maintenance_emails or "")

    @app.callback(
        Output(ids.CAT_ASSET_FORM, "style"),
        Output(ids.CAT_ASSET_TITLE, "children"),
        Output(ids.CAT_ASSET_SITE, "options"),
        Output(ids.CAT_ASSET_SITE, "value"),
        Output(ids.CAT_ASSET_NAME, "value"),
        Output(ids.CAT_ASSET_TYPE, "value"),
        Output(ids.CAT_ASSET_TYPE, "disabled"),
        Output(ids.CAT_ASSET_UPSTREAM, "options"),
        Output(ids.CAT_ASSET_UPSTREAM, "value"),
        Output(ids.CAT_FORMULAS, "children"),
        Output(ids.CAT_ASSET_STORED, "data"),
        Input(ids.CAT_EDITING, "data"),
    )
    def fill_asset(editing):  # type: ignore[no-untyped-def]
        editing = _editing(editing, "asset")
        nothing = (page.HIDDEN, None, [], None, None, None, True, [], None, [], None)
        if editing is None or not _is_admin():
            return nothing
        session = db_session()
        sites = _site_options(session)
        if editing.get("id") is None:
            site_id = editing.get("parent")
            site = next((o["label"] for o in sites if o["value"] == site_id), None)
            return (page.SHOWN, f"New asset at {site}" if site else "New asset", sites,
                    str(site_id) if site_id is not None else None, "", NEW_TYPE, False,
                    _upstream_options(session, None), None, page.formula_rows([]),
                    {"id": None, "kind": None, "parameters": {}, "sensors": [], "targets": []})
        try:
            asset = get_asset(session, current_user.supplier_id, int(editing["id"]))
        except (NotInCatalogue, TypeError, ValueError):
            return (page.SHOWN, "This asset is not in your catalogue.", *nothing[2:])
        if all(o["value"] != asset.site_id for o in sites):  # a retired site: still show it
            sites.append({"label": f"{asset.site.name} (retired)", "value": asset.site_id})
        sensors = [s.name for s in list_sensors(session, current_user.supplier_id, asset.id)]
        return (page.SHOWN, [f"Asset “{asset.name}” ",
                             dcc.Link("Open asset page", href=f"/assets/{asset.id}", className="small fw-normal ms-2")],
                sites, str(asset.site_id), asset.name, asset.asset_type, True,
                _upstream_options(session, asset.id), asset.upstream_id,
                page.formula_rows(list(asset.formulas or [])),
                {"id": asset.id, "kind": asset.asset_type, "parameters": dict(asset.parameters or {}),
                 "sensors": sensors, "targets": list(asset.forecast_targets or [])})

    @app.callback(
        Output(ids.CAT_ASSET_PARAMS, "children"),
        Input(ids.CAT_ASSET_TYPE, "value"),
        Input(ids.CAT_ASSET_STORED, "data"),
    )
    def parameters(kind_name, stored):  # type: ignore[no-untyped-def]
        if not _is_admin() or kind_name not in ASSET_TYPES:
            return html.Div("Choose a type to see its parameters.", className="small text-muted")
        stored = stored or {}
        # The stored values of the asset opened; a new asset (or another type) shows the defaults.
        values = (stored.get("parameters") or {}) if stored.get("kind") == kind_name else {}
        if ASSET_TYPES[kind_name].default_parameters:
            return page.parameter_inputs(kind_name, values)
        return page.constant_rows(list(values.items()) or [("", None)])

    @app.callback(
        Output(ids.CAT_ASSET_PARAMS, "children", allow_duplicate=True),
        Input(ids.CAT_CONST_ADD, "n_clicks"),
        Input({"type": ids.CAT_CONST_REMOVE, "row": ALL}, "n_clicks"),
        State({"type": ids.CAT_CONST_NAME, "row": ALL}, "value"),
        State({"type": ids.CAT_CONST_VALUE, "row": ALL}, "value"),
        prevent_initial_call=True,
    )
    def constants(_add, _remove, names, values):  # type: ignore[no-untyped-def]
        if not _is_admin() or not _clicked():
            return no_update
        rows = list(zip(names, values, strict=False))
        gone = _removed(ctx.triggered_id)
        if gone is not None:
            rows = [row for n, row in enumerate(rows) if n != gone]
        else:
            rows.append(("", None))
        return page.constant_rows(rows)

    @app.callback(
        Output(ids.CAT_FORMULAS, "children", allow_duplicate=True),
        Input(ids.CAT_FORMULA_ADD, "n_clicks"),
        Input({"type": ids.CAT_FORMULA_REMOVE, "row": ALL}, "n_clicks"),
        State({"type": ids.CAT_FORMULA_NAME, "row": ALL}, "value"),
        State({"type": ids.CAT_FORMULA_UNIT, "row": ALL}, "value"),
        State({"type": ids.CAT_FORMULA_TEXT, "row": ALL}, "value"),
        prevent_initial_call=True,
    )
    def formulas(_add, _remove, names, units, texts):  # type: ignore[no-untyped-def]
        if not _is_admin() or not _clicked():
            return no_update
        rows = [{"name": n, "unit": u, "formula": f} for n, u, f in zip(names, units, texts, strict=False)]
        gone = _removed(ctx.triggered_id)
        if gone is not None:
            rows = [row for n, row in enumerate(rows) if n != gone]
        else:
            rows.append({"name": "", "unit": "", "formula": ""})
        return page.formula_rows(rows)

    @app.callback(
        Output(ids.CAT_ASSET_TARGETS, "options"),
        Output(ids.CAT_ASSET_TARGETS, "value"),
        Output(ids.CAT_ASSET_TARGETS, "placeholder"),
        Output(ids.CAT_ASSET_TYPE_HELP, "children"),
        Input(ids.CAT_ASSET_TYPE, "value"),
        Input(ids.CAT_ASSET_STORED, "data"),
        Input({"type": ids.CAT_FORMULA_NAME, "row": ALL}, "value"),
        State(ids.CAT_ASSET_TARGETS, "value"),
    )
    def targets(kind_name, stored, formula_names, chosen):  # type: ignore[no-untyped-def]
        # The choice is set here with its options: a dropdown drops a value it has no option for.
        kind = ASSET_TYPES.get(kind_name or "")
        if kind is None:
            return [], [], None, []
        # What the asset will have once saved: its sensors (a new asset gets its type's), its
        # type's calculations, and the formulas as they stand in the form.
        stored = stored or {}
        sensors = stored.get("sensors") if stored.get("id") is not None else [s.name for s in kind.sensors]
        calculations = [*kind.calculations, *(n.strip() for n in formula_names if n and n.strip())]
        options = ([{"label": f"{name} (sensor)", "value": name} for name in sensors or []]
                   + [{"label": f"{name} (calculation)", "value": name} for name in dict.fromkeys(calculations)])
        placeholder = "The forecast schedule's targets" if kind.sensors else "None: nothing is forecast"
        if f"{ids.CAT_ASSET_STORED}.data" in ctx.triggered_prop_ids or not ctx.triggered:  # another asset opened
            chosen = stored.get("targets") or []
        return options, chosen or [], placeholder, page.type_help(kind_name)

    @app.callback(
        Output(ids.CAT_SENSOR_FORM, "style"),
        Output(ids.CAT_SENSOR_TITLE, "children"),
        Output(ids.CAT_SENSOR_NAME, "value"),
        Output(ids.CAT_SENSOR_UNIT, "value"),
        Output(ids.CAT_SENSOR_INTERVAL, "value"),
        Output(ids.CAT_SENSOR_MIN, "value"),
        Output(ids.CAT_SENSOR_MAX, "value"),
        Input(ids.CAT_EDITING, "data"),
    )
    def fill_sensor(editing):  # type: ignore[no-untyped-def]
        editing = _editing(editing, "sensor")
        if editing is None or not _is_admin():
            return page.HIDDEN, None, None, None, None, None, None
        session = db_session()
        try:
            if editing.get("id") is None:
                asset = get_asset(session, current_user.supplier_id, int(editing.get("parent")))
                return page.SHOWN, f"New sensor of {asset.name}", "", "", None, None, None
            sensor = get_sensor(session, current_user.supplier_id, int(editing["id"]))
        except (NotInCatalogue, TypeError, ValueError):
            return page.SHOWN, "This sensor is not in your catalogue.", None, None, None, None, None
        return (page.SHOWN, f"Sensor “{sensor.name}” of {sensor.asset.name}", sensor.name, sensor.unit,
                sensor.interval_s, sensor.normal_min, sensor.normal_max)

    @app.callback(
        Output(ids.CAT_SENSOR_INTERVAL_TEXT, "children"),
        Input(ids.CAT_SENSOR_INTERVAL, "value"),
    )
    def interval_words(seconds):  # type: ignore[no-untyped-def]
        if isinstance(seconds, int | float) and seconds >= 1 and seconds == int(seconds):
            return f"= {page.interval_text(int(seconds))}"
        return "—"

    # -- saving -----------------------------------------------------------------------------------

    @app.callback(
        Output(ids.CAT_SITE_RESULT, "children"),
        Output(ids.CAT_CHANGED, "data"),
        Output(ids.CAT_EDITING, "data", allow_duplicate=True),
        Output(ids.CAT_SITE_NAME, "invalid"),
        Output(ids.CAT_SITE_LOCATION, "invalid"),
        Output(ids.CAT_SITE_EMAILS, "invalid"),
        Input(ids.CAT_SITE_SAVE, "n_clicks"),
        State(ids.CAT_EDITING, "data"),
        State(ids.CAT_SITE_NAME, "value"),
        State(ids.CAT_SITE_LOCATION, "value"),
        State(ids.CAT_SITE_EMAILS, "value"),
        State(ids.CAT_CHANGED, "data"),
        prevent_initial_call=True,
    )
    def save_site(_clicks, editing, name, location, emails, changed):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return _refused(), no_update, no_update, False, False, False
        editing = _editing(editing, "site")
        if editing is None:
            return no_update, no_update, no_update, False, False, False
        session = db_session()
        values = {"name": name or "", "location": location, "maintenance_emails": emails}
        try:
            if editing.get("id") is None:
                site = create_site(session, _actor(), **values)
            else:
                site = update_site(session, _actor(), int(editing["id"]), values)
            session.commit()
        except (CatalogueError, NotInCatalogue) as exc:
            session.rollback()
            return page.refused(str(exc)), no_update, no_update, *_invalid(exc, SITE_FIELDS)
        if editing.get("id") is None:
            return (page.done([f"Added the site “{site.name}”. ",
                               html.Button("Add an asset to it", id={"type": ids.CAT_ADD_NEXT, "kind": "asset",
                                                                     "parent": site.id},
                                           className="btn btn-link btn-sm p-0 align-baseline")]),
                    (changed or 0) + 1, {"kind": "site", "id": site.id, "parent": None}, False, False, False)
        return page.done(f"Saved the site “{site.name}”."), (changed or 0) + 1, no_update, False, False, False

    @app.callback(
        Output(ids.CAT_ASSET_RESULT, "children"),
        Output(ids.CAT_CHANGED, "data", allow_duplicate=True),
        Output(ids.CAT_EDITING, "data", allow_duplicate=True),
        Output(ids.CAT_ASSET_NAME, "invalid"),
        Input(ids.CAT_ASSET_SAVE, "n_clicks"),
        State(ids.CAT_EDITING, "data"),
        State(ids.CAT_ASSET_STORED, "data"),
        State(ids.CAT_ASSET_SITE, "value"),
        State(ids.CAT_ASSET_NAME, "value"),
        State(ids.CAT_ASSET_TYPE, "value"),
        State({"type": ids.CAT_PARAM, "name": ALL}, "value"),
        State({"type": ids.CAT_CONST_NAME, "row": ALL}, "value"),
        State({"type": ids.CAT_CONST_VALUE, "row": ALL}, "value"),
        State(ids.CAT_ASSET_UPSTREAM, "value"),
        State({"type": ids.CAT_FORMULA_NAME, "row": ALL}, "value"),
        State({"type": ids.CAT_FORMULA_UNIT, "row": ALL}, "value"),
        State({"type": ids.CAT_FORMULA_TEXT, "row": ALL}, "value"),
        State(ids.CAT_ASSET_TARGETS, "value"),
        State(ids.CAT_CHANGED, "data"),
        prevent_initial_call=True,
    )
    def save_asset(_clicks, editing, stored, site_id, name, kind_name, param_values, const_names,  # type: ignore[no-untyped-def]
                   const_values, upstream, formula_names, formula_units, formula_texts, chosen, changed):
        if not _is_admin():
            return _refused(), no_update, no_update, False
        editing = _editing(editing, "asset")
        if editing is None:
            return no_update, no_update, no_update, False
        new = editing.get("id") is None
        # The built-in type's inputs are named by their ids; a generic asset's constants are rows.
        param_ids = [item["id"]["name"] for item in ctx.states_list[5]]
        params: dict[str, Any] = {key: _number_or_text(value) for key, value in zip(param_ids, param_values,
                                                                                     strict=False)}
        for const_name, const_value in _rows(const_names, const_values):
            params[str(const_name or "").strip()] = const_value
        if new:  # an empty input means the default, which a new asset gets anyway
            params = {k: v for k, v in params.items() if v is not None}
        else:  # a constant no longer in the form is removed
            for gone in set((stored or {}).get("parameters") or {}) - set(params):
                params[gone] = None
        formulas = [{"name": n or "", "unit": u or "", "formula": f or ""}
                    for n, u, f in _rows(formula_names, formula_units, formula_texts)]
        values = {"name": name or "", "parameters": params, "upstream_id": upstream,
                  "formulas": formulas, "forecast_targets": list(chosen or []) or None}
        session = db_session()
        try:
            if new:
                asset = create_asset(session, _actor(), site_id=site_id, asset_type=kind_name or "", **values)
            else:
                asset = update_asset(session, _actor(), int(editing["id"]), {"site_id": site_id, **values})
            session.commit()
        except (CatalogueError, NotInCatalogue) as exc:
            session.rollback()
            return page.refused(str(exc)), no_update, no_update, getattr(exc, "field", None) == "name"
        link = dcc.Link("Open asset page", href=f"/assets/{asset.id}", className="alert-link")
        if not new:
            return page.done([f"Saved the asset “{asset.name}”. ", link]), (changed or 0) + 1, no_update, False
        made = len(ASSET_TYPES[asset.asset_type].sensors)
        with_sensors = f" with its {made} sensors" if made else ""
        next_step = html.Button("Add a sensor", id={"type": ids.CAT_ADD_NEXT, "kind": "sensor", "parent": asset.id},
                                className="btn btn-link btn-sm p-0 align-baseline ms-2")
        return (page.done([f"Added the {_label(asset.asset_type).lower()} “{asset.name}”{with_sensors}. ",
                           link, " ·", next_step]),
                (changed or 0) + 1, {"kind": "asset", "id": asset.id, "parent": None}, False)

    @app.callback(
        Output(ids.CAT_SENSOR_RESULT, "children"),
        Output(ids.CAT_CHANGED, "data", allow_duplicate=True),
        Output(ids.CAT_EDITING, "data", allow_duplicate=True),
        Output(ids.CAT_SENSOR_NAME, "invalid"),
        Output(ids.CAT_SENSOR_UNIT, "invalid"),
        Output(ids.CAT_SENSOR_INTERVAL, "invalid"),
        Output(ids.CAT_SENSOR_MIN, "invalid"),
        Output(ids.CAT_SENSOR_MAX, "invalid"),
        Input(ids.CAT_SENSOR_SAVE, "n_clicks"),
        State(ids.CAT_EDITING, "data"),
        State(ids.CAT_SENSOR_NAME, "value"),
        State(ids.CAT_SENSOR_UNIT, "value"),
        State(ids.CAT_SENSOR_INTERVAL, "value"),
        State(ids.CAT_SENSOR_MIN, "value"),
        State(ids.CAT_SENSOR_MAX, "value"),
        State(ids.CAT_CHANGED, "data"),
        prevent_initial_call=True,
    )
    def save_sensor(_clicks, editing, name, unit, interval_s, low, high, changed):  # type: ignore[no-untyped-def]
        valid = [False] * len(SENSOR_FIELDS)
        if not _is_admin():
            return _refused(), no_update, no_update, *valid
        editing = _editing(editing, "sensor")
        if editing is None:
            return no_update, no_update, no_update, *valid
        values = {"name": name or "", "unit": unit or "", "interval_s": interval_s, "normal_min": low,
                  "normal_max": high}
        session = db_session()
        try:
            if editing.get("id") is None:
                sensor = create_sensor(session, _actor(), asset_id=editing.get("parent"), **values)
            else:
                sensor = update_sensor(session, _actor(), int(editing["id"]), values)
            session.commit()
        except (CatalogueError, NotInCatalogue) as exc:
            session.rollback()
            return page.refused(str(exc)), no_update, no_update, *_invalid(exc, SENSOR_FIELDS)
        if editing.get("id") is None:
            another = html.Button("Add another", id={"type": ids.CAT_ADD_NEXT, "kind": "sensor",
                                                     "parent": sensor.asset_id},
                                  className="btn btn-link btn-sm p-0 align-baseline")
            return (page.done([f"Added the sensor “{sensor.name}”. ", another]), (changed or 0) + 1,
                    {"kind": "sensor", "id": sensor.id, "parent": sensor.asset_id}, *valid)
        return page.done(f"Saved the sensor “{sensor.name}”."), (changed or 0) + 1, no_update, *valid

    # The editor scrolls within itself beside a long tree: a form opened is shown from its top,
    # with the page scrolled so that the whole editor is in the window (in the browser).
    app.clientside_callback(
        """function (editing) {
            if (editing) {
                setTimeout(() => {
                    const box = document.querySelector(".catalogue-editor");
                    if (!box) { return; }
                    box.scrollTop = 0;
                    const top = box.getBoundingClientRect().top;
                    if (top > 16) { window.scrollBy({top: top - 16, behavior: "instant"}); }
                }, 50);
            }
            return window.dash_clientside.no_update;
        }""",
        Output(ids.CAT_EDITOR_HINT, "title"),
        Input(ids.CAT_EDITING, "data"),
    )

    # What a save says appears under its form, which may be taller than the window: it is
    # brought into view (in the browser, no round trip).
    for result in (ids.CAT_SITE_RESULT, ids.CAT_ASSET_RESULT, ids.CAT_SENSOR_RESULT):
        app.clientside_callback(
            """function (children, id) {
                if (children) {
                    setTimeout(() => {
                        const el = document.getElementById(id);
                        if (el) { el.scrollIntoView({block: "nearest", behavior: "instant"}); }
                    }, 50);
                }
                return window.dash_clientside.no_update;
            }""",
            Output(result, "title"),
            Input(result, "children"),
            State(result, "id"),
            prevent_initial_call=True,
        )

    # -- retiring and deleting from the tree ------------------------------------------------------

    @app.callback(
        Output(ids.CAT_NOTICE, "children"),
        Output(ids.CAT_CHANGED, "data", allow_duplicate=True),
        Input({"type": ids.CAT_RETIRE, "kind": ALL, "id": ALL, "restore": ALL}, "n_clicks"),
        State(ids.CAT_CHANGED, "data"),
        prevent_initial_call=True,
    )
    def retire(_clicks, changed):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return _refused(), no_update
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not _clicked():
            return no_update, no_update
        retire_one = {"site": retire_site, "asset": retire_asset, "sensor": retire_sensor}.get(trigger["kind"])
        if retire_one is None:
            return no_update, no_update
        restore = bool(trigger.get("restore"))
        session = db_session()
        try:
            thing = retire_one(session, _actor(), int(trigger["id"]), retired=not restore)
            session.commit()
        except (CatalogueError, NotInCatalogue) as exc:
            session.rollback()
            return page.refused(str(exc)), no_update
        what = f"the {trigger['kind']} “{thing.name}”"
        words = (f"Restored {what}: it is back in the pipeline and the lists." if restore else
                 f"Retired {what}: it has left the pipeline and the lists, and keeps its history. "
                 "“Show retired” lists it, to restore it.")
        return page.done(words), (changed or 0) + 1

    @app.callback(
        Output(ids.CAT_NOTICE, "children", allow_duplicate=True),
        Output(ids.CAT_CHANGED, "data", allow_duplicate=True),
        Output(ids.CAT_EDITING, "data", allow_duplicate=True),
        Input({"type": ids.CAT_DELETE, "kind": ALL, "id": ALL}, "submit_n_clicks"),
        State(ids.CAT_EDITING, "data"),
        State(ids.CAT_CHANGED, "data"),
        prevent_initial_call=True,
    )
    def delete(_clicks, editing, changed):  # type: ignore[no-untyped-def]
        if not _is_admin():
            return _refused(), no_update, no_update
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not _clicked():
            return no_update, no_update, no_update
        kind, ident = trigger["kind"], int(trigger["id"])
        session = db_session()
        try:
            if kind == "site":
                delete_site(session, _actor(), ident)
            elif kind == "asset":
                delete_asset(session, _actor(), ident, readings=twin().db.sensors_engine)
            elif kind == "sensor":
                delete_sensor(session, _actor(), ident, readings=twin().db.sensors_engine)
            else:
                return no_update, no_update, no_update
            session.commit()
        except (CatalogueError, NotInCatalogue) as exc:
            session.rollback()
            return dbc.Alert(["Not deleted: ", str(exc)], color="warning", className="py-2"), no_update, no_update
        # The editor closes if it showed what is gone.
        closed = None if isinstance(editing, dict) and editing.get("kind") == kind and editing.get("id") == ident \
            else no_update
        return page.done(f"Deleted the {kind}."), (changed or 0) + 1, closed
