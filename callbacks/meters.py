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
    MeterNotFound,
    ReadingRefused,
    assess,
    load_context,
    open_period_start,
    save_reading,
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
        Input(ids.METERS_ENTER, "n_clicks"),
        Input(ids.READING_CANCEL, "n_clicks"),
        Input(ids.METERS_SAVED, "data"),
        State(ids.METERS_GRID, "selectedRows"),
        prevent_initial_call=True,
    )
    def open_or_close(_enter, _cancel, _saved, selected):  # type: ignore[no-untyped-def]
        closed = (False, None, None, "", "", False, None, None, None, False, None)
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
                earliest.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M"), local_now, False, None)

    @app.callback(
        Output(f"{ids.READING_AT}-collapse", "is_open", allow_duplicate=True),
        Input(ids.READING_BACKDATE, "n_clicks"),
        State(f"{ids.READING_AT}-collapse", "is_open"),
        prevent_initial_call=True,
    )
    def toggle_backdate(_clicks, is_open):  # type: ignore[no-untyped-def]
        return not is_open

    @app.callback(
        Output(ids.READING_PREVIEW, "children"),
        Output(ids.READING_CONFIRM, "is_open"),
        Output(ids.READING_SAVE, "disabled"),
        Output(ids.READING_AT_TEXT, "children"),
        Input(ids.READING_VALUE, "value"),
        Input(ids.READING_AT, "value"),
        Input(f"{ids.READING_AT}-collapse", "is_open"),
        Input(ids.READING_LOWER_MEANS, "value"),
        Input(ids.READING_REASON, "value"),
        State(ids.READING_STORE, "data"),
        prevent_initial_call=True,
    )
    def live_preview(value, backdated, backdate_open, lower_means, reason, store):  # type: ignore[no-untyped-def]
        if not store:
            return None, False, True, ""
        try:
            meter = _context(store)
        except MeterNotFound:
            return page.preview([], errors=["This meter is not available."], warnings=[]), False, True, ""
        read_at = _read_at(store, backdate_open, backdated)
        settings = twin().settings
        verdict = assess(meter, value, read_at, now=utcnow(), tariff_settings=settings.tariffs,
                         lower_means=lower_means or "correction")
        at_text = when(read_at) + ("" if backdate_open else " (now)")
        if not value or not str(value).strip():
            return None, False, True, at_text
        lines: list[tuple[str, str, str]] = []
        if verdict.ok and verdict.cost is not None:
            cost, rounded = verdict.cost, verdict.cost.rounded()
            unit = "kWh" if meter.fuel == "electricity" else "m³"
            new_meter_total = meter.cost_to_date + cost.total
            new_supplier_total = supplier_total(db_session(), current_user.supplier_id) + cost.total
            lines = [
                ("advance", "Advance since previous reading", quantity(verdict.advance, unit, 3)),
                ("kwh", "Energy used", quantity(verdict.kwh, "kWh")),
                ("energy", "Energy cost (excl. VAT)", pounds(rounded.energy)),
                ("standing", f"Standing charge for {cost.days} day{'s' if cost.days != 1 else ''}",
                 pounds(rounded.standing)),
                ("vat", "VAT", pounds(rounded.vat)),
                ("period-total", "Period total", pounds(rounded.total)),
                ("meter-total", "Meter TOTAL to date", pounds(new_meter_total)),
                ("supplier-total", "Supplier TOTAL to date", pounds(new_supplier_total)),
            ]
        elif verdict.ok:
            lines = [("meter-total", "Meter TOTAL to date", pounds(meter.cost_to_date))]
        errors = [p.message for p in verdict.errors]
        warnings = [p.message for p in verdict.warnings]
        needs_reason = bool(verdict.warnings)
        can_save = (verdict.ok and current_user.can("operator")
                    and (not needs_reason or (isinstance(reason, str) and bool(reason.strip()))))
        if not current_user.can("operator"):
            warnings.append("Viewers can see the cost of a reading but not save it.")
        body = page.preview(lines, errors=errors, warnings=warnings)
        return body, needs_reason, not can_save, at_text

    @app.callback(
        Output(ids.READING_RESULT, "children"),
        Output(ids.METERS_SAVED, "data"),
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
    def save(_clicks, value, backdated, backdate_open, lower_means, reason, store, saved):  # type: ignore[no-untyped-def]
        if not store:
            return no_update, no_update
        session = db_session()
        try:
            result = save_reading(
                session, supplier_id=current_user.supplier_id, user_id=current_user.id,
                role=current_user.role, meter_id=int(store["meter_id"]), value_text=value,
                read_at=_read_at(store, backdate_open, backdated),
                tariff_settings=twin().settings.tariffs, reason=reason,
                lower_means=lower_means or "correction", ip=request.remote_addr,
            )
            session.commit()
        except PermissionError:
            session.rollback()
            return dbc.Alert("Your role can view readings but not enter them.", color="danger"), no_update
        except (ReadingRefused, MeterNotFound) as exc:
            session.rollback()
            message = str(exc) if isinstance(exc, ReadingRefused) else "This meter is not available."
            return dbc.Alert(message, color="danger", className="reading-error"), no_update
        log.info("reading %s saved for meter %s by user %s%s", result.reading_id, store["meter_id"],
                 current_user.id, " (duplicate request)" if result.duplicate else "")
        return html.Div("Saved.", className="text-success"), (saved or 0) + 1
