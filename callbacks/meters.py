"""The meters page: grid rows, the TOTAL, the reading modal's live preview and save.

Every callback takes the supplier from the logged-in user, never from the browser; a meter id
that arrives from the browser is checked against that supplier by the service it is given to.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, ctx, html, no_update
from flask import request
from flask_login import current_user

from app.db.base import utcnow
from app.meters import GridRequestError, meters_page, supplier_totals
from app.readings import (
    Assessment,
    MeterContext,
    MeterNotFound,
    Problem,
    ReadingRefused,
    Saved,
    assess,
    load_context,
    open_period_start,
    save_reading,
    still_missing,
    still_typing,
    supplier_total,
)
from app.tariffs import LONDON
from app.web.context import db_session, twin
from callbacks.formatting import pounds, quantity, when
from layouts import ids
from layouts import meters as page
from layouts.email_form import key

log = logging.getLogger(__name__)


def _grid_row(row: Any) -> dict[str, Any]:
    unit = "kWh" if row.fuel == "electricity" else "m³"
    return {
        "id": str(row.id),
        "serial": row.serial,
        "customer": row.customer,
        "address": row.address,
        "fuel": row.fuel.title(),
        "tariff": row.tariff,
        "last_value": f"{row.last_value:,.3f} {unit}" if row.last_value is not None else "—",
        "last_read_at": when(row.last_read_at, "—"),
        "last_kind": (row.last_kind or "—").title(),
        "period_kwh": quantity(row.period_kwh, "kWh"),
        "period_cost": pounds(row.period_cost_p),
        "cost_to_date": pounds(row.cost_to_date_p),
    }


def _parse_local(value: str | None) -> datetime | None:
    """A datetime-local input (UK wall time, no zone) as an aware UTC time."""
    if not value:
        return None
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        return None
    return local.replace(tzinfo=LONDON).astimezone(timezone.utc)


def _read_at(store: dict[str, Any], backdate_open: bool, backdated: str | None) -> datetime:
    chosen = _parse_local(backdated) if backdate_open else None
    return chosen or datetime.fromisoformat(store["opened_at"])


def _context(store: dict[str, Any] | None):  # type: ignore[no-untyped-def]
    if not store or "meter_id" not in store:
        raise MeterNotFound(None)
    return load_context(db_session(), current_user.supplier_id, int(store["meter_id"]))


def _unit(meter: MeterContext) -> str:
    return "kWh" if meter.fuel == "electricity" else "m³"


# What Save waits for, in the words of the hint next to it (the problems' own messages, above
# the cost table, say more).
_TO_SAVE = {"explanation_required": "choose what explains this reading",
            "reason_required": "give a reason"}


def save_hint(verdict: Assessment, missing: list[Problem], *, can_enter: bool) -> str:
    """Next to a disabled Save: what is missing; empty when the reading can be saved."""
    if verdict.errors:
        return f"Cannot save: {verdict.errors[0].message}"
    if not can_enter:
        return "Viewers cannot save readings."
    refused = [p.message for p in missing if p.code not in _TO_SAVE]
    if refused:
        return f"Cannot save: {refused[0]}"
    steps = [_TO_SAVE[p.code] for p in missing]
    return f"To save, {' and '.join(steps)}." if steps else ""


def _cost_lines(meter: MeterContext, verdict: Assessment) -> list[tuple[str, str, str]]:
    if verdict.cost is None:
        return [("meter-total", "Meter TOTAL to date", pounds(meter.cost_to_date))]
    cost, rounded = verdict.cost, verdict.cost.rounded()
    new_meter_total = meter.cost_to_date + cost.total
    new_supplier_total = supplier_total(db_session(), current_user.supplier_id) + cost.total
    return [
        ("advance", "Advance since previous reading", quantity(verdict.advance, _unit(meter), 3)),
        ("kwh", "Energy used", quantity(verdict.kwh, "kWh")),
        ("energy", "Energy cost (excl. VAT)", pounds(rounded.energy)),
        ("standing", f"Standing charge for {cost.days} day{'s' if cost.days != 1 else ''}",
         pounds(rounded.standing)),
        ("vat", "VAT", pounds(rounded.vat)),
        ("period-total", "Period total", pounds(rounded.total)),
        ("meter-total", "Meter TOTAL to date", pounds(new_meter_total)),
        ("supplier-total", "Supplier TOTAL to date", pounds(new_supplier_total)),
    ]


def _toast(meter: MeterContext, saved: Saved, read_at: datetime) -> list[Any]:
    unit = _unit(meter)
    reading = f"{saved.value:,.3f} {unit}" if saved.value is not None else "the reading"
    period = (f"Since the previous reading: {quantity(saved.kwh, 'kWh')}, costing "
              f"{pounds(saved.total_p)}."
              if saved.kwh is not None and saved.total_p is not None else None)
    return page.saved_message(meter.serial, reading, when(read_at), period)


def register(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.METERS_GRID, "getRowsResponse"),
        Input(ids.METERS_GRID, "getRowsRequest"),
    )
    def grid_rows(request_: dict[str, Any] | None):  # type: ignore[no-untyped-def]
        if not request_:
            return no_update
        try:
            rows, count = meters_page(
                db_session(), current_user.supplier_id,
                start=request_.get("startRow", 0), end=request_.get("endRow", page.PAGE_SIZE),
                sort_model=request_.get("sortModel"), filter_model=request_.get("filterModel"),
                now=utcnow(),
            )
        except GridRequestError as exc:
            log.info("grid request refused: %s", exc)
            return {"rowData": [], "rowCount": 0}
        return {"rowData": [_grid_row(r) for r in rows], "rowCount": count}

    @app.callback(
        Output(ids.METERS_TOTAL, "children"),
        Input(ids.URL, "pathname"),
        Input(ids.METERS_SAVED, "data"),
    )
    def totals(_pathname: str, _saved: int):  # type: ignore[no-untyped-def]
        now = utcnow()
        summary = supplier_totals(db_session(), current_user.supplier_id, now)
        return page.total_card(
            pounds(summary.total_p), pounds(summary.period_p), summary.meters,
            f"from {open_period_start(now).astimezone(LONDON):%d %b}",
        )

    app.clientside_callback(
        ClientsideFunction(namespace="twin", function_name="refreshGrid"),
        Output(ids.METERS_GRID, "className"),
        Input(ids.METERS_SAVED, "data"),
        State(ids.METERS_GRID, "id"),
    )

    @app.callback(
        Output(ids.METERS_ENTER, "disabled"),
        Output(ids.METERS_NOTICE, "children"),
        Output(ids.METERS_OPEN, "disabled"),
        Output(ids.METERS_OPEN, "href"),
        Input(ids.METERS_GRID, "selectedRows"),
    )
    def select_meter(selected: list[dict[str, Any]] | None):  # type: ignore[no-untyped-def]
        if not selected:
            return True, "Select a meter in the grid first.", True, None
        row = selected[0]
        return (False, f"Meter {row.get('serial', '')} ({row.get('customer', '')}) selected.", False,
                f"/meters/{int(row.get('id', 0))}")

    @app.callback(
        Output(ids.READING_MODAL, "is_open"),
        Output(ids.READING_STORE, "data"),
        Output(ids.READING_DETAILS, "children"),
        Output(ids.READING_VALUE, "value"),
        Output(ids.READING_REASON, "value"),
        Output(f"{ids.READING_AT}-collapse", "is_open"),
        Output(ids.READING_AT, "value"),
        Output(ids.READING_AT, "min"),
        Output(ids.READING_AT, "max"),
        Output(key(ids.EMAIL_FORM, "modal"), "is_open"),
        Output(key(ids.EMAIL_RESULT, "modal"), "children"),
        Output(ids.READING_LOWER_MEANS, "value"),
        Output(ids.READING_SETTLED, "data"),
        Input(ids.METERS_ENTER, "n_clicks"),
        Input(ids.READING_CANCEL, "n_clicks"),
        Input(ids.METERS_SAVED, "data"),
        State(ids.METERS_GRID, "selectedRows"),
        prevent_initial_call=True,
    )
    def open_or_close(_enter, _cancel, _saved, selected):  # type: ignore[no-untyped-def]
        closed = (False, None, None, "", "", False, None, None, None, False, None, None, None)
        if ctx.triggered_id != ids.METERS_ENTER or not selected:
            return closed
        try:
            meter = load_context(db_session(), current_user.supplier_id, int(selected[0]["id"]))
        except (MeterNotFound, KeyError, TypeError, ValueError):
            return closed
        now = utcnow().replace(second=0, microsecond=0)
        rate = meter.current_rate(now)
        unit = "kWh" if meter.fuel == "electricity" else "m³"
        previous = meter.previous
        facts = [
            ("Meter", f"{meter.serial} ({meter.register_digits}-digit register, {unit})"),
            ("Customer", f"{meter.customer_name} · account {meter.account_number}"),
            ("Address", meter.address),
            ("Fuel", meter.fuel.title()),
            ("Tariff", f"{meter.tariff_name or meter.tariff_code} ({meter.tariff_code})"),
        ]
        if rate is not None:
            vat = f"{rate.vat_rate * 100:.0f} % VAT {'included' if rate.prices_include_vat else 'added'}"
            facts += [
                ("Unit rate", f"{rate.unit_rate_p_per_kwh:.2f} p/kWh"),
                ("Standing charge", f"{rate.standing_charge_p_per_day:.2f} p/day"),
                ("VAT", vat),
            ]
        facts.append(("Previous reading", f"{previous.value:,.3f} {unit} on {when(previous.read_at)} "
                      f"({previous.kind})" if previous else "none yet: this will be the first"))
        store = {"meter_id": meter.meter_id, "opened_at": now.isoformat()}
        local_now = now.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")
        earliest = max(open_period_start(now), previous.read_at) if previous else open_period_start(now)
        return (True, store, page.details(facts), "", "", False, local_now,
                earliest.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M"), local_now, False, None,
                None, None)

    @app.callback(
        Output(f"{ids.READING_AT}-collapse", "is_open", allow_duplicate=True),
        Input(ids.READING_BACKDATE, "n_clicks"),
        State(f"{ids.READING_AT}-collapse", "is_open"),
        prevent_initial_call=True,
    )
    def toggle_backdate(_clicks, is_open):  # type: ignore[no-untyped-def]
        return not is_open

    @app.callback(
        Output(ids.READING_SETTLED, "data", allow_duplicate=True),
        Input(ids.READING_VALUE, "n_blur"),
        Input(ids.READING_VALUE, "n_submit"),
        State(ids.READING_VALUE, "value"),
        prevent_initial_call=True,
    )
    def settle(_blur, _submit, value):  # type: ignore[no-untyped-def]
        """Leaving the field (or Enter) says the value is the whole reading, even a short one."""
        return value

    @app.callback(
        Output(ids.READING_PREVIEW, "children"),
        Output(ids.READING_CONFIRM, "is_open"),
        Output(ids.READING_WARNINGS, "children"),
        Output(page.EXPLANATIONS_BLOCK, "hidden"),
        Output(ids.READING_LOWER_MEANS, "options"),
        Output(ids.READING_SAVE, "disabled"),
        Output(ids.READING_SAVE_HINT, "children"),
        Output(ids.READING_AT_TEXT, "children"),
        Input(ids.READING_VALUE, "value"),
        Input(ids.READING_AT, "value"),
        Input(f"{ids.READING_AT}-collapse", "is_open"),
        Input(ids.READING_LOWER_MEANS, "value"),
        Input(ids.READING_REASON, "value"),
        Input(ids.READING_SETTLED, "data"),
        State(ids.READING_STORE, "data"),
        prevent_initial_call=True,
    )
    def live_preview(value, backdated, backdate_open, explanation, reason, settled, store):  # type: ignore[no-untyped-def]
        """Price the reading as it is typed; never a half-typed one, nor a lower one before the
        user says whether it is a credit or a rollover (the TOTAL moves only on a real reading)."""
        blank = (False, None, True, [], True)  # confirm closed, no warnings, no causes, Save off
        if not store:
            return None, *blank, "", ""
        try:
            meter = _context(store)
        except MeterNotFound:
            return (page.preview([], errors=["This meter is not available."], warnings=[]), *blank,
                    "This meter is not available.", "")
        read_at = _read_at(store, backdate_open, backdated)
        at_text = when(read_at) + ("" if backdate_open else " (now)")
        if not value or not str(value).strip():
            return None, *blank, "Enter the reading shown on the meter.", at_text
        typing = None if value == settled else still_typing(meter, value)
        if typing is not None:
            return (page.preview([], errors=[], warnings=[], notes=[typing.message]), *blank,
                    "Keep typing the reading.", at_text)
        explanation = explanation if isinstance(explanation, str) else None
        verdict = assess(meter, value, read_at, now=utcnow(), tariff_settings=twin().settings.tariffs,
                         lower_means="rollover" if explanation == "rollover" else "correction")
        offered = verdict.explanations
        chosen = explanation in {e.code for e in offered}
        notes: list[str] = []
        lines: list[tuple[str, str, str]] = []
        if verdict.ok and verdict.lower and not chosen:
            notes.append("Choose whether the lower reading is a credit or a rollover to see its cost.")
        elif verdict.ok:
            lines = _cost_lines(meter, verdict)
        can_enter = current_user.can("operator")
        missing = still_missing(verdict, explanation if chosen else None, reason) if verdict.ok else []
        viewer_note = [] if can_enter else ["Viewers can see the cost of a reading but not save it."]
        body = page.preview(lines, errors=[p.message for p in verdict.errors], warnings=viewer_note,
                            notes=notes)
        hint = save_hint(verdict, missing, can_enter=can_enter)
        options = [{"label": e.label, "value": e.code} for e in offered]
        return (body, bool(verdict.warnings), page.warning_alerts(p.message for p in verdict.warnings),
                not offered, options, bool(hint), hint, at_text)

    @app.callback(
        Output(ids.READING_RESULT, "children"),
        Output(ids.METERS_SAVED, "data"),
        Output(ids.READING_TOAST, "is_open"),
        Output(ids.READING_TOAST, "header"),
        Output(ids.READING_TOAST, "children"),
        Input(ids.READING_SAVE, "n_clicks"),
        State(ids.READING_VALUE, "value"),
        State(ids.READING_AT, "value"),
        State(f"{ids.READING_AT}-collapse", "is_open"),
        State(ids.READING_LOWER_MEANS, "value"),
        State(ids.READING_REASON, "value"),
        State(ids.READING_STORE, "data"),
        State(ids.METERS_SAVED, "data"),
        prevent_initial_call=True,
        running=[(Output(ids.READING_SAVE, "disabled"), True, False)],
    )
    def save(_clicks, value, backdated, backdate_open, explanation, reason, store, saved):  # type: ignore[no-untyped-def]
        unchanged = (no_update, no_update, no_update)
        if not store:
            return no_update, no_update, *unchanged
        session = db_session()
        read_at = _read_at(store, backdate_open, backdated)
        try:
            result = save_reading(
                session, supplier_id=current_user.supplier_id, user_id=current_user.id,
                role=current_user.role, meter_id=int(store["meter_id"]), value_text=value,
                read_at=read_at, tariff_settings=twin().settings.tariffs, reason=reason,
                explanation=explanation, ip=request.remote_addr,
            )
            session.commit()
        except PermissionError:
            session.rollback()
            return (dbc.Alert("Your role can view readings but not enter them.", color="danger"),
                    no_update, *unchanged)
        except (ReadingRefused, MeterNotFound) as exc:
            session.rollback()
            message = str(exc) if isinstance(exc, ReadingRefused) else "This meter is not available."
            return dbc.Alert(message, color="danger", className="reading-error"), no_update, *unchanged
        log.info("reading %s saved for meter %s by user %s%s", result.reading_id, store["meter_id"],
                 current_user.id, " (duplicate request)" if result.duplicate else "")
        meter = _context(store)
        header = "Reading already saved" if result.duplicate else "Reading saved"
        return (html.Div("Saved.", className="text-success"), (saved or 0) + 1, True, header,
                _toast(meter, result, read_at))
