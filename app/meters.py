"""The meters grid: one page of a supplier's meters, sorted and filtered in SQL.

Sorting, filtering and paging happen in the database (so 10,000 meters stay fast): the grid
sends AG Grid's sort and filter models, which are translated here against a fixed allowlist of
columns, never into SQL text. This billing period's consumption and cost come from one grouped
query over the period's readings; the last reading and the cost to date from the meter's
running summary (see ``app.readings.refresh_meter_summary``).

One meter's page is served the same way, however long its history: its readings a page at a
time (:func:`readings_page`), and its chart as sums per UK calendar bucket, grouped in SQL
(:func:`chart_buckets`), so a year of daily reads is a dozen monthly bars, not 366.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from app.db.models import Customer, Meter, MeterReading
from app.readings import MeterNotFound, open_period_start
from app.tariffs import LONDON

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


def _filter(
    columns: dict[str, ColumnElement[Any]],
    filter_model: dict[str, Any],
    *,
    text: Collection[str] = TEXT_COLUMNS,
    number: Collection[str] = NUMBER_COLUMNS,
    pence: Collection[str] = PENCE_COLUMNS,
) -> list[ColumnElement[bool]]:
    """AG Grid's filter model as SQL conditions on ``columns``: ``text`` columns take text
    filters, ``number`` ones number filters (in pounds for the ``pence`` among them)."""
    conditions = []
    for col_id, spec in (filter_model or {}).items():
        if col_id not in columns or not isinstance(spec, dict):
            raise GridRequestError(f"cannot filter on {col_id!r}")
        specs = spec.get("conditions") if "operator" in spec else [spec]
        parts = []
        for one in specs or []:
            if col_id in text:
                parts.append(_text_condition(columns[col_id], one))
            elif col_id in number:
                parts.append(_number_condition(columns[col_id], one, 100 if col_id in pence else 1))
            else:
                raise GridRequestError(f"cannot filter on {col_id!r}")
        if parts:
            conditions.append(or_(*parts) if spec.get("operator") == "OR" else and_(*parts))
    return conditions


def _order(columns: dict[str, ColumnElement[Any]], sort_model: list[dict[str, Any]] | None) -> list[Any]:
    """AG Grid's sort model as ORDER BY terms on ``columns`` (the caller adds a tie-breaker)."""
    order = []
    for item in sort_model or []:
        col_id = item.get("colId")
        if col_id not in columns:
            raise GridRequestError(f"cannot sort on {col_id!r}")
        order.append(columns[col_id].desc() if item.get("sort") == "desc" else columns[col_id].asc())
    return order


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
    order = _order(columns, sort_model)
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


# -- one meter's page ----------------------------------------------------------------------

UNITS = {"electricity": "kWh", "gas": "m³"}

# How the chart can group a meter's periods, finest first: each reading's own period, or the
# periods closed in each UK calendar day, week (from Monday), month (the billing period),
# quarter or year. A period counts in the bucket of the reading that closes it, as the meters
# grid counts "this billing period".
RESOLUTIONS = {
    "reading": "Each reading",
    "day": "Day",
    "week": "Week",
    "month": "Month",
    "quarter": "Quarter",
    "year": "Year",
}
DEFAULT_BARS = 40  # the default resolution is the finest that draws at most this many bars
MAX_BARS = 400  # a finer choice is not offered: a barcode, and one SQL parameter per bucket


@dataclass(frozen=True)
class MeterOverview:
    """A meter's facts and the totals of its whole history (one aggregate query)."""

    id: int
    supplier_id: int
    serial: str
    customer: str
    address: str
    fuel: str
    readings: int
    priced: int  # readings that close a period (all but the opening one)
    first_priced_at: datetime | None
    last_priced_at: datetime | None
    cost_p: Decimal  # exact pence, the cost to date

    @property
    def unit(self) -> str:
        return UNITS.get(self.fuel, "")


def meter_overview(session: Session, supplier_id: int, meter_id: int) -> MeterOverview:
    """One of the supplier's meters and its history's totals; :class:`MeterNotFound` for a
    meter of another supplier, or none."""
    meter = session.execute(
        select(Meter.id, Meter.serial, Meter.fuel, Meter.supply_address, Customer.name)
        .join(Customer, Customer.id == Meter.customer_id)
        .where(Meter.id == meter_id, Meter.supplier_id == supplier_id)
    ).one_or_none()
    if meter is None:
        raise MeterNotFound(meter_id)
    priced = MeterReading.advance.is_not(None)
    totals = session.execute(
        select(
            func.count(MeterReading.id),
            func.count(MeterReading.advance),
            func.min(case((priced, MeterReading.read_at))),
            func.max(case((priced, MeterReading.read_at))),
            func.coalesce(func.sum(MeterReading.total_p), 0),
        ).where(MeterReading.supplier_id == supplier_id, MeterReading.meter_id == meter_id)
    ).one()
    count, priced_count, first, last, cost = totals
    return MeterOverview(
        id=meter.id, supplier_id=supplier_id, serial=meter.serial, customer=meter.name,
        address=meter.supply_address, fuel=meter.fuel, readings=int(count), priced=int(priced_count),
        first_priced_at=_aware(first), last_priced_at=_aware(last), cost_p=Decimal(cost or 0),
    )


def _aware(value: Any) -> datetime | None:
    """A time from an aggregate, which some drivers hand back naive (UTC) or as SQLite text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _local_start(moment: datetime, resolution: str) -> date:
    """The UK date on which the bucket holding ``moment`` starts."""
    day = moment.astimezone(LONDON).date()
    if resolution == "day":
        return day
    if resolution == "week":
        return day - timedelta(days=day.weekday())
    if resolution == "month":
        return day.replace(day=1)
    if resolution == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if resolution == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"unknown resolution {resolution!r}")


def _next_start(day: date, resolution: str) -> date:
    if resolution == "day":
        return day + timedelta(days=1)
    if resolution == "week":
        return day + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[resolution]
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1)


def bucket_bounds(first: datetime, last: datetime, resolution: str) -> list[datetime]:
    """The UTC instants at which the UK calendar buckets from the one holding ``first`` to the
    one holding ``last`` start, and the end of the last: bucket ``i`` is
    ``[bounds[i], bounds[i + 1])``. UK midnight is never skipped or repeated by a clock change,
    so each bound is one exact instant."""
    day = _local_start(first, resolution)
    bounds = []
    while True:
        bound = datetime(day.year, day.month, day.day, tzinfo=LONDON).astimezone(timezone.utc)
        bounds.append(bound)
        if bound > last:
            return bounds
        day = _next_start(day, resolution)


def bar_counts(overview: MeterOverview) -> dict[str, int]:
    """How many bars each resolution would draw at most for the meter's priced history."""
    first, last = overview.first_priced_at, overview.last_priced_at
    if first is None or last is None:
        return {name: 0 for name in RESOLUTIONS}
    return {name: overview.priced if name == "reading" else len(bucket_bounds(first, last, name)) - 1
            for name in RESOLUTIONS}


def default_resolution(counts: dict[str, int]) -> str:
    """The finest resolution that draws at most :data:`DEFAULT_BARS` bars: each reading for a
    few monthly reads, months for a year of daily reads."""
    return next((name for name, bars in counts.items() if bars <= DEFAULT_BARS), "year")


@dataclass(frozen=True)
class Bucket:
    """The periods closed in ``[start, end)`` (one reading's: ``start == end``, its read time):
    how many, their energy and exact cost, and the meter's exact cost to date at its end."""

    start: datetime
    end: datetime
    periods: int
    kwh: Decimal
    cost_p: Decimal
    cumulative_p: Decimal


def chart_buckets(session: Session, overview: MeterOverview, resolution: str) -> list[Bucket]:
    """The meter's priced periods summed per ``resolution`` bucket in SQL, oldest first, with
    the cost accumulated from the first period (the last bucket ends at the cost to date).
    Buckets with no period are left out. ``ValueError`` for an unknown resolution or one finer
    than :data:`MAX_BARS` bars allow."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}")
    if bar_counts(overview)[resolution] > MAX_BARS:
        raise ValueError(f"too many {resolution} bars for this meter")
    first, last = overview.first_priced_at, overview.last_priced_at
    if first is None or last is None:
        return []
    scope = (MeterReading.supplier_id == overview.supplier_id, MeterReading.meter_id == overview.id,
             MeterReading.advance.is_not(None))
    if resolution == "reading":
        rows = [(at, at, 1, kwh, cost) for at, kwh, cost in session.execute(
            select(MeterReading.read_at, MeterReading.kwh, MeterReading.total_p)
            .where(*scope).order_by(MeterReading.read_at)
        )]
    else:
        bounds = bucket_bounds(first, last, resolution)
        index = case(*((MeterReading.read_at < bound, number) for number, bound in enumerate(bounds[1:])),
                     else_=len(bounds) - 1)
        # Grouped outside a subquery: SQL Server would not match a GROUP BY expression that
        # repeats the CASE's parameters to the one selected.
        labelled = select(index.label("bucket"), MeterReading.kwh, MeterReading.total_p).where(
            *scope, MeterReading.read_at >= bounds[0]).subquery("labelled")
        grouped = session.execute(
            select(labelled.c.bucket, func.count(), func.sum(labelled.c.kwh), func.sum(labelled.c.total_p))
            .group_by(labelled.c.bucket).order_by(labelled.c.bucket)
        ).all()
        rows = [(bounds[int(b)], bounds[int(b) + 1], n, kwh, cost) for b, n, kwh, cost in grouped]
    buckets, running = [], Decimal(0)
    for start, end, periods, kwh, cost in rows:
        running += Decimal(cost or 0)
        buckets.append(Bucket(_aware(start), _aware(end), int(periods), Decimal(kwh or 0),  # type: ignore[arg-type]
                              Decimal(cost or 0), running))
    return buckets


@dataclass(frozen=True)
class ReadingRow:
    """One reading in the meter page's grid; ``advance`` None for the opening reading."""

    id: int
    read_at: datetime
    value: Decimal
    kind: str
    advance: Decimal | None
    kwh: Decimal | None
    days: int | None
    cost_p: Decimal | None
    cumulative_p: Decimal  # the meter's exact cost to date at this reading


READING_TEXT_COLUMNS = {"kind"}
READING_NUMBER_COLUMNS = {"value", "advance", "kwh", "days", "cost", "cumulative"}
READING_PENCE_COLUMNS = {"cost", "cumulative"}


def _reading_columns(history: Any) -> dict[str, ColumnElement[Any]]:
    """Grid column id -> SQL expression: the only columns of the readings grid that can be
    sorted or filtered."""
    return {
        "read_at": history.c.read_at,
        "value": history.c.value,
        "kind": history.c.kind,
        # The opening reading's blanks count as nothing, so it sorts the same on every database
        # (SQLite puts NULL first, PostgreSQL last).
        "advance": func.coalesce(history.c.advance, 0),
        "kwh": func.coalesce(history.c.kwh, 0),
        "days": func.coalesce(history.c.days, 0),
        "cost": func.coalesce(history.c.total_p, 0),
        "cumulative": history.c.cumulative,
    }


def readings_page(
    session: Session,
    supplier_id: int,
    meter_id: int,
    *,
    start: int,
    end: int,
    sort_model: list[dict[str, Any]] | None = None,
    filter_model: dict[str, Any] | None = None,
) -> tuple[list[ReadingRow], int]:
    """Rows ``start`` to ``end`` (exclusive) of one of the supplier's meter's readings, newest
    first unless ``sort_model`` says otherwise, and how many match. Each row carries the cost
    to date at its reading, summed in SQL over the whole history (a window), so it stays right
    whatever page, order or filter is shown. A meter of another supplier has no readings."""
    start = max(0, int(start))
    end = min(int(end), start + MAX_PAGE)
    history = (
        select(
            MeterReading.id, MeterReading.read_at, MeterReading.value, MeterReading.kind,
            MeterReading.advance, MeterReading.kwh, MeterReading.days, MeterReading.total_p,
            func.sum(func.coalesce(MeterReading.total_p, 0)).over(
                order_by=(MeterReading.read_at, MeterReading.id), rows=(None, 0)).label("cumulative"),
        )
        .where(MeterReading.supplier_id == supplier_id, MeterReading.meter_id == meter_id)
        .subquery("history")
    )
    columns = _reading_columns(history)
    conditions = _filter(columns, filter_model or {}, text=READING_TEXT_COLUMNS,
                         number=READING_NUMBER_COLUMNS, pence=READING_PENCE_COLUMNS)
    order = _order(columns, sort_model) or [history.c.read_at.desc()]
    order.append(history.c.id.desc())  # a stable order: pages never repeat or skip a reading
    count = session.scalar(select(func.count()).select_from(history).where(*conditions)) or 0
    rows = session.execute(
        select(history).where(*conditions).order_by(*order).offset(start).limit(max(0, end - start))
    ).all()
    return [
        ReadingRow(id=r.id, read_at=r.read_at, value=r.value, kind=r.kind, advance=r.advance, kwh=r.kwh,
                   days=r.days, cost_p=None if r.advance is None else Decimal(r.total_p or 0),
                   cumulative_p=Decimal(r.cumulative or 0))
        for r in rows
    ], count
