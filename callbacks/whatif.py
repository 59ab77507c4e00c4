"""The what-if page. Assets come from the user's supplier only; runs go through
``app.whatif.submit`` (short ones come back at once, long ones are watched through their job)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, no_update
from flask_login import current_user

from app.model_registry import AssetNotFound
from app.queue import QueueUnavailable
from app.tariffs import format_pounds
from app.twins import ASSET_TYPES
from app.web.context import db_session, twin
from app.whatif import FIELD, MAX_SCENARIOS, ScenarioError, fields_of, job_state, presets, submit, whatif_assets
from layouts import ids
from layouts import whatif as page
from layouts.figures import COLOURS

log = logging.getLogger(__name__)

FIELDS_ALL = {"type": ids.WHATIF_FIELD, "field": ALL, "scenario": ALL}
ROWS_ALL = {"type": ids.WHATIF_ROW, "field": ALL, "scenario": ALL}
COLUMNS_ALL = {"type": ids.WHATIF_COLUMN, "scenario": ALL}
HIDDEN = {"display": "none"}


def shown_count(count: str | None) -> int:
    """How many scenarios the user compares: the page's choice, or the first shown."""
    try:
        return min(MAX_SCENARIOS, max(1, int(count or page.SHOWN)))
    except ValueError:
        return page.SHOWN


def column_styles(scenarios: list[int], count: str | None) -> list[dict[str, str]]:
    """Each scenario column's style: shown for the first ``count``, hidden after."""
    shown = shown_count(count)
    return [{} if scenario < shown else HIDDEN for scenario in scenarios]


def _forms(entries: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The first ``count`` scenarios' values, from the pattern-matching fields' states."""
    forms: list[dict[str, Any]] = [{} for _ in range(count)]
    for entry in entries:
        scenario = entry["id"]["scenario"]
        if scenario < count:
            forms[scenario][entry["id"]["field"]] = entry.get("value")
    return forms


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.WHATIF_ASSET, "options"),
        Output(ids.WHATIF_ASSET, "value"),
        Input(ids.URL, "pathname"),
        State(ids.WHATIF_ASSET, "value"),
    )
    def assets(_pathname, chosen):  # type: ignore[no-untyped-def]
        options = [{"label": a.label, "value": a.id} for a in whatif_assets(db_session(), current_user.supplier_id)]
        valid = {o["value"] for o in options}
        return options, chosen if chosen in valid else (options[0]["value"] if options else None)

    @app.callback(
        Output(ROWS_ALL, "style"),
        Output(FIELDS_ALL, "value"),
        Output(ids.WHATIF_ASSET_NOTE, "children"),
        Input(ids.WHATIF_ASSET, "value"),
    )
    def setup(asset_id):  # type: ignore[no-untyped-def]
        rows, fields = ctx.outputs_list[0], ctx.outputs_list[1]
        try:
            asset_type, scenarios = presets(db_session(), current_user.supplier_id, int(asset_id))
        except (AssetNotFound, ScenarioError, TypeError, ValueError):
            note = ("Your organisation has no dispenser or boiler to simulate." if asset_id is None
                    else "This asset is not available.")
            return [HIDDEN] * len(rows), [None] * len(fields), note
        mine = {f.name for f in fields_of(asset_type)}
        styles = [{} if r["id"]["field"] in mine else HIDDEN for r in rows]
        values = [scenarios[f["id"]["scenario"]]["values"].get(f["id"]["field"])
                  if f["id"]["field"] != "name" else scenarios[f["id"]["scenario"]]["name"] for f in fields]
        note = (f"{ASSET_TYPES[asset_type].label}: each scenario starts from its current parameters with "
                "one change. Runs of up to a day are simulated at once; longer ones on the workers.")
        return styles, values, note

    @app.callback(
        Output(COLUMNS_ALL, "style"),
        Input(ids.WHATIF_COUNT, "value"),
    )
    def columns(count):  # type: ignore[no-untyped-def]
        return column_styles([c["id"]["scenario"] for c in ctx.outputs_list], count)

    @app.callback(
        Output(ids.WHATIF_RESULT, "data"),
        Output(ids.WHATIF_JOB, "data"),
        Output(ids.WHATIF_POLL, "disabled"),
        Output(ids.WHATIF_PROGRESS, "value"),
        Output(ids.WHATIF_PROGRESS, "label"),
        Output(ids.WHATIF_PROGRESS, "color"),
        Output(ids.WHATIF_PROGRESS_TEXT, "children"),
        Input(ids.WHATIF_RUN, "n_clicks"),
        Input(ids.WHATIF_POLL, "n_intervals"),
        State(ids.WHATIF_ASSET, "value"),
        State(ids.WHATIF_COUNT, "value"),
        State(FIELDS_ALL, "value"),
        State(ids.WHATIF_JOB, "data"),
        prevent_initial_call=True,
        running=[(Output(ids.WHATIF_RUN, "disabled"), True, False)],
    )
    def run(_clicks, _tick, asset_id, count, _values, job_id):  # type: ignore[no-untyped-def]
        if ctx.triggered_id == ids.WHATIF_RUN:
            if asset_id is None:
                return no_update, None, True, 0, "", "secondary", "Choose an asset first."
            try:
                done = submit(twin().db, twin().settings, twin().queue, supplier_id=current_user.supplier_id,
                              user_id=current_user.id, asset_id=int(asset_id),
                              forms=_forms(ctx.states_list[2], shown_count(count)))
            except ScenarioError as exc:
                return no_update, None, True, 0, "", "danger", str(exc)
            except AssetNotFound:
                return no_update, None, True, 0, "", "danger", "This asset is not available."
            except QueueUnavailable as exc:
                return no_update, None, True, 0, "", "danger", str(exc)
            if done.result is not None:
                return done.result, None, True, 100, "100 %", "success", "Simulated. Results below."
            return no_update, done.job_id, False, 0, "0 %", "primary", "Waiting for a worker…"
        if job_id is None:
            return no_update, None, True, no_update, no_update, no_update, no_update
        state = job_state(twin().db, twin().settings, current_user.supplier_id, int(job_id))
        if state is None:
            return no_update, None, True, 0, "", "secondary", "This run is not available."
        if state.running:
            return no_update, job_id, False, state.progress, f"{state.progress} %", "primary", state.message
        if state.status == "failed":
            return no_update, None, True, 100, "failed", "danger", state.message
        return state.result, None, True, 100, "100 %", "success", "Simulated on the workers. Results below."

    @app.callback(
        Output(ids.WHATIF_KPIS, "children"),
        Output(ids.WHATIF_TEMPERATURE, "figure"),
        Output(ids.WHATIF_ENERGY, "figure"),
        Input(ids.WHATIF_RESULT, "data"),
        prevent_initial_call=True,
    )
    def show(result):  # type: ignore[no-untyped-def]
        if not result or not result.get("scenarios"):
            return no_update, no_update, no_update
        scenarios = result["scenarios"]
        names = [s["name"] for s in scenarios]
        k = [s["kpis"] for s in scenarios]
        costs = [format_pounds(x["cost_pence"]) for x in k]
        dispenser = result["asset_type"] == "water_dispenser"
        kpis = [
            ("Energy", _row(k, "energy_kwh", "3", " kWh", relative=True)),
            (f"Cost at {Decimal(result['unit_rate_p']):.2f} p/kWh",
             [(c, d) for c, (_, d) in zip(costs, _row(k, "cost_pence", "", "", relative=True), strict=True)]),
            ("Average temperature", _row(k, "avg_temperature_c", ".1f", " °C")),
        ]
        if dispenser:
            kpis += [("OEE", _row(k, "oee_pct", ".1f", " %")),
                     ("Water served", _row(k, "litres", ",.1f", " L", relative=True)),
                     ("Energy per litre", _row(k, "kwh_per_litre", ".3f", " kWh/L", relative=True))]
        settings = [(_label(f.name), [(_setting(f.name, s["values"].get(f.name)),
                                       s["values"].get(f.name) != scenarios[0]["values"].get(f.name))
                                      for s in scenarios])
                    for f in fields_of(result["asset_type"])]
        table = [page.kpi_table(names, list(COLOURS[:len(names)]), kpis, settings),
                 page.note(f"{result['asset']} ({result['type_label'].lower()}) on its own parameters, from "
                           "midnight on a Monday, with the same random draws in every scenario. Cost: "
                           f"{result['rate_source']}; energy only, no standing charge.")]
        curves = [(s["name"], s["temperature"]["hours"], s["temperature"]["values"]) for s in scenarios]
        label = "Tank temperature" if dispenser else "Water temperature"
        return (table, page.temperature_figure(curves, label),
                page.energy_figure(names, [x["energy_kwh"] for x in k], costs, result["fuel"]))


def _row(kpis: list[dict[str, Any]], key: str, form: str, unit: str,
         relative: bool = False) -> list[page.Cell]:
    """A KPI of each scenario (``form``: a format spec, or a number of significant figures), and
    from the second on its difference from the first: in per cent for quantities (energy,
    cost), in the KPI's unit for levels (a temperature, OEE)."""
    first = kpis[0][key]
    cells: list[page.Cell] = []
    for index, one in enumerate(kpis):
        value = one[key]
        if value is None:
            text = "—"
        elif form.isdigit():  # significant figures
            text = f"{page.significant(value, int(form))}{unit}"
        else:
            text = f"{value:{form}}{unit}" if form else ""
        under = None
        if index and value is not None and first is not None:
            if relative and first:
                change = f"{100 * (value - first) / first:+.0f}"
                under = "(same)" if change in ("+0", "-0") else f"({change} %)"
            elif not relative:  # a difference of percentages is in points
                change = f"{value - first:+.1f}"
                under = "(same)" if change in ("+0.0", "-0.0") else f"({change}{' points' if unit == ' %' else unit})"
        cells.append((text, under))
    return cells


def _label(name: str) -> str:
    field = FIELD[name]
    return f"{field.label} ({field.unit})" if field.unit else field.label


def _setting(name: str, value: Any) -> str:
    field = FIELD[name]
    if field.options:
        return dict(field.options).get(str(value), str(value))
    return "—" if value is None else f"{value:g}"
