"""Cost summaries: a meter's, an account's or a supplier's readings over a period, priced.

Every figure comes from what each reading stored when it was saved (its advance, kWh and exact
pence), summed exactly and rounded once (:meth:`app.tariffs.Cost.rounded`), the same way the
portal's meters grid and TOTAL are computed: the email and the portal agree to the penny.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Customer, Meter, MeterReading, Supplier
from app.readings import open_period_start
from app.tariffs import LONDON, Cost, RoundedCost

SCOPES = ("meter", "account", "supplier")
PERIODS = {"month_to_date": "This month so far", "last_month": "Last month"}
UNITS = {"electricity": "kWh", "gas": "m³"}


class SummaryNotFound(LookupError):
    """No such meter or account for this supplier."""


@dataclass(frozen=True)
class Period:
    """``start`` inclusive, ``end`` exclusive, both UTC; ``key`` names it in idempotency keys."""

    start: datetime
    end: datetime
    label: str
    key: str


def _month_label(start: datetime) -> str:
    return start.astimezone(LONDON).strftime("%B %Y")


def month_to_date(now: datetime) -> Period:
    """The open billing period (the UK calendar month) up to ``now``."""
    start = open_period_start(now)
    local_now = now.astimezone(LONDON)
    return Period(start, now, f"1–{local_now.day} {_month_label(start)} (so far)",
                  start.astimezone(LONDON).strftime("%Y-%m"))


def last_month(now: datetime) -> Period:
    """The whole UK calendar month before the one ``now`` falls in."""
    end = open_period_start(now)
    local_end = end.astimezone(LONDON)
    start_local = (local_end.replace(year=local_end.year - 1, month=12) if local_end.month == 1
                   else local_end.replace(month=local_end.month - 1))
    start = start_local.astimezone(end.tzinfo)
    return Period(start, end, _month_label(start), start_local.strftime("%Y-%m"))


def period_named(name: str, now: datetime) -> Period:
    if name == "month_to_date":
        return month_to_date(now)
    if name == "last_month":
        return last_month(now)
    raise ValueError(f"unknown summary period {name!r}; expected one of {', '.join(PERIODS)}")


@dataclass(frozen=True)
class SummaryLine:
    """One reading. The pence are exact (unrounded); ``advance`` is None for a meter's opening
    reading, which closes no period and costs nothing."""

    meter_serial: str
    fuel: str
    read_at: datetime
    kind: str
    value: Decimal
    advance: Decimal | None
    kwh: Decimal | None
    days: int | None
    energy_p: Decimal
    standing_p: Decimal
    vat_p: Decimal
    total_p: Decimal

    @property
    def unit(self) -> str:
        return UNITS.get(self.fuel, "")


@dataclass(frozen=True)
class CostSummary:
    scope: str
    supplier_id: int
    supplier_name: str
    title: str
    customer_name: str | None
    address: str | None
    period: Period
    lines: tuple[SummaryLine, ...]
    meters: int

    @property
    def exact(self) -> Cost:
        return Cost(
            kwh=sum((line.kwh or Decimal(0) for line in self.lines), Decimal(0)),
            days=0,
            energy=sum((line.energy_p for line in self.lines), Decimal(0)),
            standing=sum((line.standing_p for line in self.lines), Decimal(0)),
            vat=sum((line.vat_p for line in self.lines), Decimal(0)),
        )

    @property
    def cost(self) -> RoundedCost:
        """Whole pence, rounded once from the exact sums."""
        return self.exact.rounded()

    @property
    def kwh(self) -> Decimal:
        return self.exact.kwh

    @property
    def through(self) -> datetime | None:
        """The newest reading included: a summary with nothing newer is the same summary."""
        return max((line.read_at for line in self.lines), default=None)

    @property
    def actual_count(self) -> int:
        return sum(1 for line in self.lines if line.kind == "actual")


def build_summary(session: Session, supplier_id: int, scope: str, target_id: int | None,
                  period: Period) -> CostSummary:
    """The summary of one meter, one customer account or (``scope="supplier"``) all of the
    supplier's meters, over ``period``. Scoped to ``supplier_id``: another supplier's meter or
    account raises :class:`SummaryNotFound`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown summary scope {scope!r}")
    supplier_name = session.scalar(select(Supplier.name).where(Supplier.id == supplier_id))
    if supplier_name is None:
        raise SummaryNotFound("no such supplier")
    meters = select(Meter.id).where(Meter.supplier_id == supplier_id)
    customer_name = address = None
    if scope == "meter":
        row = session.execute(
            select(Meter.serial, Meter.supply_address, Customer.name, Customer.account_number)
            .join(Customer, Customer.id == Meter.customer_id)
            .where(Meter.id == target_id, Meter.supplier_id == supplier_id)
        ).one_or_none()
        if row is None:
            raise SummaryNotFound("no such meter")
        title = f"meter {row.serial}"
        customer_name, address = row.name, row.supply_address
        meters = meters.where(Meter.id == target_id)
    elif scope == "account":
        row = session.execute(
            select(Customer.name, Customer.account_number, Customer.address)
            .where(Customer.id == target_id, Customer.supplier_id == supplier_id)
        ).one_or_none()
        if row is None:
            raise SummaryNotFound("no such customer account")
        title = f"account {row.account_number}"
        customer_name, address = row.name, row.address
        meters = meters.where(Meter.customer_id == target_id)
    else:
        title = f"all accounts of {supplier_name}"
    meter_count = len(session.scalars(meters).all())
    rows = session.execute(
        select(Meter.serial, Meter.fuel, MeterReading)
        .join(Meter, Meter.id == MeterReading.meter_id)
        .where(MeterReading.supplier_id == supplier_id, MeterReading.meter_id.in_(meters),
               MeterReading.read_at >= period.start, MeterReading.read_at < period.end)
        .order_by(MeterReading.read_at, Meter.serial)
    ).all()
    zero = Decimal(0)
    lines = tuple(
        SummaryLine(
            meter_serial=serial, fuel=fuel, read_at=r.read_at, kind=r.kind, value=r.value,
            advance=r.advance, kwh=r.kwh, days=r.days, energy_p=r.energy_p or zero,
            standing_p=r.standing_p or zero, vat_p=r.vat_p or zero, total_p=r.total_p or zero,
        )
        for serial, fuel, r in rows
    )
    return CostSummary(scope, supplier_id, supplier_name, title, customer_name, address, period,
                       lines, meter_count)
