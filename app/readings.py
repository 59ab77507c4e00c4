"""Meter readings: the checks UK suppliers make, the price of the period a reading closes, the
live preview of the reading modal, and saving.

One function, :func:`assess`, holds the rules, whether a reading comes from the modal, the API
or a file. Refusals (nothing is saved): empty, not a number, NaN or infinity, negative, more
digits than the register has, in the future, not after the previous reading, or (for staff)
outside the open billing period. Warnings (saved only once the user confirms with a reason,
then flagged and audit-logged): lower than the previous reading (a register rollover, or the
previous reading was an estimate), no advance, or an advance over twice the expected
consumption for the period.

Every function that takes a ``meter_id`` scopes it to the caller's supplier: an id from the
browser is never trusted on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit import record
from app.db.base import utcnow
from app.db.models import Customer, Meter, MeterReading, Tariff
from app.plain_text import is_plain_text
from app.tariffs import LONDON, Cost, Rate, TariffError, gas_kwh, period_cost
from settings import TariffSettings

MAX_DECIMALS = 3
HIGH_ADVANCE_FACTOR = 2
HISTORY_PERIODS = 12  # recent periods the expected daily use is averaged over
# ASCII digits only: ``\d`` would also take Arabic-Indic or full-width digits, which a register
# does not show and which read as another number than the one on screen to a reviewer.
_NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")


LowerMeans = Literal["correction", "rollover"]


class MeterNotFound(LookupError):
    """No such meter for this supplier (it may exist for another: we do not say)."""


class ReadingRefused(ValueError):
    """A save that cannot go ahead; ``problems`` say why, in words for the user."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Problem:
    code: str
    message: str


@dataclass(frozen=True)
class PreviousReading:
    value: Decimal
    read_at: datetime
    kind: str


@dataclass(frozen=True)
class MeterContext:
    """What the rules and the modal need to know about one meter, loaded once."""

    meter_id: int
    supplier_id: int
    serial: str
    fuel: str
    register_digits: int
    tariff_code: str
    tariff_name: str | None
    customer_name: str
    account_number: str
    address: str
    previous: PreviousReading | None
    rates: tuple[Rate, ...]
    expected_kwh_per_day: Decimal | None
    cost_to_date: Decimal

    def current_rate(self, at: datetime) -> Rate | None:
        day = at.astimezone(LONDON).date()
        return next((rate for rate in self.rates if rate.covers(day)), None)


@dataclass
class Assessment:
    """The verdict on a proposed reading, and what it would cost."""

    value: Decimal | None = None
    read_at: datetime | None = None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    advance: Decimal | None = None  # register units (kWh or m3)
    kwh: Decimal | None = None
    cost: Cost | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def flags(self) -> list[str]:
        return [w.code for w in self.warnings]


# -- billing periods ----------------------------------------------------------------------


def open_period_start(now: datetime) -> datetime:
    """Start of the open billing period (the calendar month, UK time) as UTC."""
    local = now.astimezone(LONDON)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(now.tzinfo)


# -- loading ------------------------------------------------------------------------------


def load_context(session: Session, supplier_id: int, meter_id: int) -> MeterContext:
    """The meter, scoped to ``supplier_id``; :class:`MeterNotFound` otherwise."""
    row = session.execute(
        select(Meter, Customer)
        .join(Customer, Customer.id == Meter.customer_id)
        .where(Meter.id == meter_id, Meter.supplier_id == supplier_id)
    ).first()
    if row is None:
        raise MeterNotFound(meter_id)
    meter, customer = row
    tariffs = session.scalars(
        select(Tariff)
        .where(Tariff.supplier_id == supplier_id, Tariff.code == meter.tariff_code)
        .order_by(Tariff.valid_from)
    ).all()
    recent = session.execute(
        select(MeterReading.read_at, MeterReading.value, MeterReading.kind, MeterReading.kwh,
               MeterReading.days, MeterReading.flags)
        .where(MeterReading.meter_id == meter.id)
        .order_by(MeterReading.read_at.desc())
        .limit(HISTORY_PERIODS + 1)
    ).all()
    previous = PreviousReading(recent[0].value, recent[0].read_at, recent[0].kind) if recent else None
    return MeterContext(
        meter_id=meter.id,
        supplier_id=supplier_id,
        serial=meter.serial,
        fuel=meter.fuel,
        register_digits=meter.register_digits,
        tariff_code=meter.tariff_code,
        tariff_name=tariffs[-1].name if tariffs else None,
        customer_name=customer.name,
        account_number=customer.account_number,
        address=meter.supply_address,
        previous=previous,
        rates=tuple(Rate.of(t) for t in tariffs),
        expected_kwh_per_day=_expected_daily_kwh(recent),
        cost_to_date=Decimal(meter.cost_to_date_p or 0),
    )


def _expected_daily_kwh(recent: list) -> Decimal | None:  # type: ignore[type-arg]
    # Average daily use over recent priced, unflagged periods: flagged ones (rollovers,
    # corrections) would skew what counts as normal.
    periods = [(r.kwh, r.days) for r in recent
               if r.kwh is not None and r.days and not r.flags and r.kwh >= 0]
    days = sum(d for _, d in periods)
    if not days:
        return None
    return sum((k for k, _ in periods), Decimal(0)) / days


# -- the rules ----------------------------------------------------------------------------


def kwh_for(fuel: str, advance: Decimal, tariff_settings: TariffSettings) -> Decimal:
    """Energy of an advance: electricity registers kWh; gas registers m3, converted."""
    if fuel == "electricity":
        return advance
    return gas_kwh(advance, tariff_settings.gas_calorific_value_mj_per_m3,
                   tariff_settings.gas_volume_correction)


def parse_value(text: str | None, register_digits: int) -> tuple[Decimal | None, Problem | None]:
    """The reading as typed, or the reason it cannot be one."""
    if text is not None and not isinstance(text, str):  # a forged request: a JSON number, list...
        return None, Problem("not_a_number", "The reading must be a number of digits, like 012345.")
    raw = (text or "").strip()
    if not raw:
        return None, Problem("empty", "Enter the reading shown on the meter.")
    lowered = raw.lower()
    if lowered.lstrip("+-") in {"nan", "inf", "infinity"}:
        return None, Problem("not_a_number", "The reading must be a number of digits, like 012345.")
    if raw.startswith("-"):
        return None, Problem("negative", "A meter reading cannot be negative.")
    if not _NUMBER.match(raw):
        return None, Problem(
            "not_a_number",
            "The reading must be digits with at most one decimal point (no commas or spaces).",
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern already admits only decimals
        return None, Problem("not_a_number", "The reading must be a number.")
    decimals = len(raw.split(".")[1]) if "." in raw else 0
    if decimals > MAX_DECIMALS:
        return None, Problem("too_precise", f"Give at most {MAX_DECIMALS} decimal places.")
    if int(value) >= 10**register_digits:
        return None, Problem(
            "too_many_digits",
            f"This meter's register has {register_digits} digits; the reading has more.",
        )
    return value, None


def assess(
    context: MeterContext,
    value_text: str | None,
    read_at: datetime,
    *,
    now: datetime,
    tariff_settings: TariffSettings,
    lower_means: LowerMeans = "correction",
    staff: bool = True,
) -> Assessment:
    """Apply every rule to a proposed reading and price the period it would close.

    ``staff`` readings (the modal) may only be dated within the open billing period; device and
    file readings may carry any past time after the previous reading.
    """
    result = Assessment(read_at=read_at)
    value, problem = parse_value(value_text, context.register_digits)
    if problem:
        result.errors.append(problem)
    result.value = value
    if read_at > now + timedelta(minutes=1):  # a minute's grace for clock skew
        result.errors.append(Problem("future", "The reading's date and time is in the future."))
    previous = context.previous
    if previous is not None and read_at <= previous.read_at:
        result.errors.append(Problem(
            "before_previous",
            "The reading must be dated after the previous reading "
            f"({previous.read_at.astimezone(LONDON):%d %b %Y %H:%M}).",
        ))
    if staff and read_at < open_period_start(now):
        result.errors.append(Problem(
            "outside_open_period",
            "Readings can only be dated within the open billing period "
            f"(from {open_period_start(now).astimezone(LONDON):%d %b %Y}).",
        ))
    if value is None or previous is None or result.errors:
        return result

    advance = value - previous.value
    if advance < 0:
        if lower_means == "rollover":
            advance += Decimal(10) ** context.register_digits
            result.warnings.append(Problem(
                "rollover", "The reading is lower than the previous one: recorded as the register "
                "rolling over past zero."))
        else:
            reason = ("the previous reading was an estimate" if previous.kind == "estimated"
                      else "it corrects the previous reading")
            result.warnings.append(Problem(
                "lower_than_previous", f"The reading is lower than the previous one "
                f"({previous.value}); it will be recorded as a credit because {reason}."))
    elif advance == 0:
        result.warnings.append(Problem("zero_advance", "No energy used since the previous reading."))
    kwh = kwh_for(context.fuel, advance, tariff_settings)
    days = max((read_at - previous.read_at) / timedelta(days=1), 1 / 24)
    if (context.expected_kwh_per_day and kwh > 0
            and kwh > HIGH_ADVANCE_FACTOR * context.expected_kwh_per_day * Decimal(str(days))):
        expected = context.expected_kwh_per_day * Decimal(str(days))
        result.warnings.append(Problem(
            "high_advance", f"{kwh:,.1f} kWh is more than twice the {expected:,.1f} kWh this "
            "meter usually uses over such a period."))
    result.advance, result.kwh = advance, kwh
    try:
        result.cost = period_cost(context.rates, previous.read_at, read_at, kwh)
    except TariffError as exc:
        result.errors.append(Problem("no_tariff", f"Cannot price this period: {exc}."))
    return result


# -- saving -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    reading_id: int
    duplicate: bool  # the same reading was already saved (a double click, a retried request)


def save_reading(
    session: Session,
    *,
    supplier_id: int,
    user_id: int | None,
    role: str,
    meter_id: int,
    value_text: str | None,
    read_at: datetime,
    tariff_settings: TariffSettings,
    kind: str = "actual",
    source: str = "portal",
    reason: str | None = None,
    lower_means: LowerMeans = "correction",
    now: datetime | None = None,
    ip: str | None = None,
) -> Saved:
    """Check and store a reading with its priced period and an audit row, in the caller's
    transaction, and bring the meter's summary up to date.

    Raises :class:`ReadingRefused` (refusals, or warnings without a reason),
    :class:`MeterNotFound`, or :class:`PermissionError` for a viewer.
    """
    if role not in ("operator", "admin"):
        raise PermissionError("viewers cannot enter readings")
    now = now or utcnow()
    # Lock the meter row: two saves for one meter queue here (PostgreSQL, SQL Server; SQLite
    # serialises writers anyway), so "after the previous reading" holds for both.
    session.execute(select(Meter.id).where(Meter.id == meter_id, Meter.supplier_id == supplier_id)
                    .with_for_update())
    context = load_context(session, supplier_id, meter_id)
    existing = session.scalar(select(MeterReading).where(
        MeterReading.meter_id == meter_id, MeterReading.read_at == read_at))
    if existing is not None:
        if existing.value == parse_value(value_text, context.register_digits)[0]:
            return Saved(existing.id, duplicate=True)
        raise ReadingRefused([Problem("duplicate_time", "A reading already exists at that time.")])
    verdict = assess(context, value_text, read_at, now=now, tariff_settings=tariff_settings,
                     lower_means=lower_means, staff=source == "portal")
    if not verdict.ok:
        raise ReadingRefused(verdict.errors)
    reason = (reason.strip()[:500] if isinstance(reason, str) else "") or None
    if reason is not None and not is_plain_text(reason):
        raise ReadingRefused([Problem("reason_not_text", "The reason must be plain text, without "
                                      "control characters.")])
    if verdict.warnings and not reason:
        raise ReadingRefused([Problem("reason_required", "Confirm with a reason to save: "
                                      + " ".join(w.message for w in verdict.warnings))])
    cost = verdict.cost
    reading = MeterReading(
        supplier_id=supplier_id, meter_id=meter_id, read_at=read_at, value=verdict.value,
        kind=kind, source=source, flags=",".join(verdict.flags) or None,
        reason=reason, created_by_id=user_id,
        advance=verdict.advance, kwh=verdict.kwh,
        days=cost.days if cost else None,
        energy_p=cost.energy if cost else None, standing_p=cost.standing if cost else None,
        vat_p=cost.vat if cost else None, total_p=cost.total if cost else None,
    )
    session.add(reading)
    try:
        session.flush()
    except IntegrityError:
        raise ReadingRefused([Problem("duplicate_time", "A reading already exists at that time.")]) from None
    previous = context.previous
    record(
        session, "reading.created", supplier_id=supplier_id, user_id=user_id, entity="meter",
        entity_id=meter_id, ip=ip,
        old={"value": str(previous.value), "read_at": previous.read_at.isoformat(),
             "kind": previous.kind} if previous else None,
        new={"value": str(verdict.value), "read_at": read_at.isoformat(), "kind": kind,
             "source": source, "flags": verdict.flags, "reason": reason,
             "total_p": str(cost.total) if cost else None},
    )
    refresh_meter_summary(session, meter_id)
    return Saved(reading.id, duplicate=False)


def price_period(reading: MeterReading, previous: MeterReading, fuel: str, rates: Sequence[Rate],
                 tariff_settings: TariffSettings) -> None:
    """Fill ``reading``'s priced-period columns for the supply since ``previous`` (a plain
    advance: for seeding and bulk history, which carry no rollovers or corrections)."""
    reading.advance = reading.value - previous.value
    reading.kwh = kwh_for(fuel, reading.advance, tariff_settings)
    cost = period_cost(rates, previous.read_at, reading.read_at, reading.kwh)
    reading.days, reading.energy_p, reading.standing_p = cost.days, cost.energy, cost.standing
    reading.vat_p, reading.total_p = cost.vat, cost.total


def refresh_meter_summary(session: Session, meter_id: int) -> None:
    """Recompute the meter's last reading and cost to date from its readings."""
    last = session.execute(
        select(MeterReading.read_at, MeterReading.value, MeterReading.kind)
        .where(MeterReading.meter_id == meter_id)
        .order_by(MeterReading.read_at.desc()).limit(1)
    ).first()
    total = session.scalar(
        select(func.coalesce(func.sum(MeterReading.total_p), 0)).where(MeterReading.meter_id == meter_id)
    )
    session.execute(
        update(Meter).where(Meter.id == meter_id).values(
            last_read_at=last.read_at if last else None,
            last_value=last.value if last else None,
            last_kind=last.kind if last else None,
            cost_to_date_p=Decimal(total or 0),
        )
    )


def supplier_total(session: Session, supplier_id: int) -> Decimal:
    """What all the supplier's meters have cost to date, exact pence."""
    return Decimal(session.scalar(
        select(func.coalesce(func.sum(Meter.cost_to_date_p), 0)).where(Meter.supplier_id == supplier_id)
    ) or 0)
