"""The meters grid: one page of a supplier's meters, sorted and filtered in SQL.

Sorting, filtering and paging happen in the database (so 10,000 meters stay fast): the grid
sends AG Grid's sort and filter models, which are translated here against a fixed allowlist of
columns, never into SQL text. This billing period's consumption and cost come from one grouped
query over the period's readings; the last reading and the cost to date from the meter's
running summary (see ``app.readings.refresh_meter_summary``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from app.db.models import Customer, Meter, MeterReading
from app.readings import open_period_start

log = logging.getLogger(__name__)

MAX_PAGE = 500


def _period_totals(supplier_id: int, period_start: datetime):  # type: ignore[no-untyped-def]
    return (
        select(
            MeterReading.meter_id.label("meter_id"),
            func.sum(MeterReading.kwh).label("period_kwh"),
            func.sum(MeterReading.total_p).label("period_cost_p"),
        )
        .where(MeterReading.supplier_id == supplier_id, MeterReading.read_at >= period_start)
        .group_by(MeterReading.meter_id)
        .subquery("period")
    )


def _columns(period: Any) -> dict[str, ColumnElement[Any]]:
    """Grid column id -> SQL expression: the only columns that can be sorted or filtered."""
    return {
        "serial": Meter.serial,
        "customer": Customer.name,
        "account": Customer.account_number,
        "address": Meter.supply_address,
        "fuel": Meter.fuel,
        "tariff": Meter.tariff_code,
        "last_value": Meter.last_value,
        "last_read_at": Meter.last_read_at,
        "last_kind": Meter.last_kind,
        "period_kwh": func.coalesce(period.c.period_kwh, 0),
        "period_cost": func.coalesce(period.c.period_cost_p, 0),
        "cost_to_date": Meter.cost_to_date_p,
    }


TEXT_COLUMNS = {"serial", "customer", "account", "address", "fuel", "tariff", "last_kind"}
NUMBER_COLUMNS = {"last_value", "period_kwh", "period_cost", "cost_to_date"}
PENCE_COLUMNS = {"period_cost", "cost_to_date"}  # shown in pounds, filtered in pounds


class GridRequestError(ValueError):
    """A sort or filter the grid may not ask for."""


def _text_condition(column: ColumnElement[Any], spec: dict[str, Any]) -> ColumnElement[bool]:
    kind = spec.get("type", "contains")
    text = str(spec.get("filter", ""))[:200]
    lowered = func.lower(column)
    needle = text.lower()
    if kind == "contains":
        return lowered.contains(needle, autoescape=True)
    if kind == "notContains":
        return ~lowered.contains(needle, autoescape=True)
    if kind == "equals":
        return lowered == needle
    if kind == "notEqual":
        return lowered != needle
    if kind == "startsWith":
        return lowered.startswith(needle, autoescape=True)
    if kind == "endsWith":
        return lowered.endswith(needle, autoescape=True)
    raise GridRequestError(f"unsupported text filter {kind!r}")


def _number_condition(column: ColumnElement[Any], spec: dict[str, Any], scale: int) -> ColumnElement[bool]:
    kind = spec.get("type", "equals")

    def number(key: str) -> Decimal:
        try:
            return Decimal(str(spec.get(key))) * scale
        except Exception:  # noqa: BLE001 - any unparseable number is the user's to fix
            raise GridRequestError(f"{spec.get(key)!r} is not a number") from None

    if kind == "equals":
        return column == number("filter")
    if kind == "notEqual":
        return column != number("filter")
    if kind == "greaterThan":
        return column > number("filter")
    if kind == "greaterThanOrEqual":
        return column >= number("filter")
    if kind == "lessThan":
        return column < number("filter")
    if kind == "lessThanOrEqual":
        return column <= number("filter")
    if kind == "inRange":
        return and_(column >= number("filter"), column <= number("filterTo"))
    raise GridRequestError(f"unsupported number filter {kind!r}")


def _filter(columns: dict[str, ColumnElement[Any]], filter_model: dict[str, Any]) -> list[ColumnElement[bool]]:
    conditions = []
    for col_id, spec in (filter_model or {}).items():
        if col_id not in columns or not isinstance(spec, dict):
            raise GridRequestError(f"cannot filter on {col_id!r}")
        specs = spec.get("conditions") if "operator" in spec else [spec]
        parts = []
        for one in specs or []:
            if col_id in TEXT_COLUMNS:
                parts.append(_text_condition(columns[col_id], one))
            elif col_id in NUMBER_COLUMNS:
                parts.append(_number_condition(columns[col_id], one, 100 if col_id in PENCE_COLUMNS else 1))
            else:
                raise GridRequestError(f"cannot filter on {col_id!r}")
        if parts:
            conditions.append(or_(*parts) if spec.get("operator") == "OR" else and_(*parts))
    return conditions


@dataclass(frozen=True)
class MeterRow:
    id: int
    serial: str
    customer: str
    account: str
    address: str
    fuel: str
    tariff: str
    last_value: Decimal | None
    last_read_at: datetime | None
    last_kind: str | None
    period_kwh: Decimal
    period_cost_p: Decimal
    cost_to_date_p: Decimal


def _query(supplier_id: int, period: Any) -> Select[Any]:
    cols = _columns(period)
    return (
        select(Meter.id, *(expr.label(name) for name, expr in cols.items()))
        .join(Customer, Customer.id == Meter.customer_id)
        .outerjoin(period, period.c.meter_id == Meter.id)
        .where(Meter.supplier_id == supplier_id)
    )


def meters_page(
    session: Session,
    supplier_id: int,
    *,
    start: int,
    end: int,
    sort_model: list[dict[str, Any]] | None = None,
    filter_model: dict[str, Any] | None = None,
    now: datetime,
) -> tuple[list[MeterRow], int]:
    """Rows ``start`` to ``end`` (exclusive) of the supplier's meters, and how many match."""
    start = max(0, int(start))
    end = min(int(end), start + MAX_PAGE)
    period = _period_totals(supplier_id, open_period_start(now))
    columns = _columns(period)
    conditions = _filter(columns, filter_model or {})
    order = []
    for item in sort_model or []:
        col_id = item.get("colId")
        if col_id not in columns:
            raise GridRequestError(f"cannot sort on {col_id!r}")
        order.append(columns[col_id].desc() if item.get("sort") == "desc" else columns[col_id].asc())
    order.append(Meter.id.asc())  # a stable order: pages never repeat or skip a meter

    query = _query(supplier_id, period).where(*conditions)
    count = session.scalar(
        select(func.count()).select_from(Meter).join(Customer, Customer.id == Meter.customer_id)
        .outerjoin(period, period.c.meter_id == Meter.id)
        .where(Meter.supplier_id == supplier_id, *conditions)
    ) or 0
    rows = session.execute(query.order_by(*order).offset(start).limit(max(0, end - start))).all()
    return [
        MeterRow(
            id=r.id, serial=r.serial, customer=r.customer, account=r.account, address=r.address,
            fuel=r.fuel, tariff=r.tariff, last_value=r.last_value, last_read_at=r.last_read_at,
            last_kind=r.last_kind, period_kwh=Decimal(r.period_kwh or 0),
            period_cost_p=Decimal(r.period_cost or 0), cost_to_date_p=Decimal(r.cost_to_date or 0),
        )
        for r in rows
    ], count


@dataclass(frozen=True)
class SupplierTotals:
    meters: int
    total_p: Decimal  # cost to date of all the supplier's meters, exact pence
    period_p: Decimal  # cost of the readings in the open billing period


def supplier_totals(session: Session, supplier_id: int, now: datetime) -> SupplierTotals:
    """The TOTAL above the grid: two aggregates, over meters' summaries and this period's reads."""
    meters, total = session.execute(
        select(func.count(Meter.id), func.coalesce(func.sum(Meter.cost_to_date_p), 0))
        .where(Meter.supplier_id == supplier_id)
    ).one()
    period = session.scalar(
        select(func.coalesce(func.sum(MeterReading.total_p), 0)).where(
            MeterReading.supplier_id == supplier_id,
            MeterReading.read_at >= open_period_start(now),
        )
    )
    return SupplierTotals(int(meters), Decimal(total or 0), Decimal(period or 0))
