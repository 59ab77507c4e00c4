"""Meter readings: the checks UK suppliers make, the price of the period a reading closes, the
live preview of the reading modal, and saving.

One function, :func:`assess`, holds the rules, whether a reading comes from the modal, the API
or a file. Refusals (nothing is saved): empty, not a number, NaN or infinity, negative, more
digits than the register has, in the future, not after the previous reading, or (for staff)
outside the open billing period. Warnings (saved only once the user confirms with a reason,
then flagged and audit-logged): lower than the previous reading (a register rollover, or the
previous reading was an estimate), no advance, or an advance over twice the expected
consumption for the period (never judged over less than a day: see :func:`usual_use`).

A warned reading is explained in words that fit its direction (:data:`LOWER_EXPLANATIONS`,
:data:`HIGH_EXPLANATIONS`): a lower reading is a credit or a rollover, a high one an estimate
catching up or genuine high use. The portal must pick one; :func:`still_missing` says what a
warned reading lacks before it can be saved, for the modal's Save button and for
:func:`save_reading` alike, so the server refuses exactly what the modal refuses.
:func:`still_typing` tells a reading half typed from a real lower one, so the modal never
prices a partial number.

Every function that takes a ``meter_id`` scopes it to the caller's supplier: an id from the
browser is never trusted on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal, get_args

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
# A reading taken minutes after the last is judged against at least a day's usual use: over a
# few minutes "usual use" is a fraction of a kWh, and a kettle would look like a fault.
MIN_USUAL_USE_DAYS = 1
HISTORY_PERIODS = 12  # recent periods the expected daily use is averaged over
# ASCII digits only: ``\d`` would also take Arabic-Indic or full-width digits, which a register
# does not show and which read as another number than the one on screen to a reviewer.
_NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_TYPING = re.compile(r"^([0-9]+)(\.[0-9]*)?$")  # a number as it is being typed ("12", "12.")


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
class Explanation:
    """A cause a user may give for a warned reading; ``refusal`` set when it cannot be saved as
    a reading of this meter at all (it says what to do instead)."""

    code: str
    label: str
    refusal: str | None = None


# A lower reading: the first two decide how it is priced (``LowerMeans``).
LOWER_EXPLANATIONS = (
    Explanation("correction", "The previous reading was too high (an estimate or a misread): "
                              "record a credit"),
    Explanation("rollover", "The register rolled over past zero"),
)
# A reading far above usual. A slip of one digit is the commonest cause: the warning asks to
# check the digits first, rather than offering "typo" as a reason to save.
HIGH_EXPLANATIONS = (
    Explanation("estimate_caught_up", "The previous reading was an estimate that was too low: "
                                      "this one catches up"),
    Explanation("high_use", "Genuine high use (checked with the customer or a photo of the meter)"),
    Explanation("meter_exchange", "The meter was exchanged",
                refusal="A meter exchange is not a reading of this meter: record the new meter "
                        "and its opening reading instead."),
)
_LOWER_FLAGS = {"lower_than_previous", "rollover"}


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

    @property
    def lower(self) -> bool:
        """Lower than the previous reading (whether a credit or a rollover)."""
        return bool(_LOWER_FLAGS.intersection(self.flags))

    @property
    def explanations(self) -> tuple[Explanation, ...]:
        """The causes that fit this reading's direction; none when it needs no explaining, or
        only a reason (no advance)."""
        if self.lower:
            return LOWER_EXPLANATIONS
        if "high_advance" in self.flags:
            return HIGH_EXPLANATIONS
        return ()


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
    usual = usual_use(context, read_at - previous.read_at)
    if usual is not None and kwh > 0 and kwh > HIGH_ADVANCE_FACTOR * usual[0]:
        expected, over = usual
        result.warnings.append(Problem(
            "high_advance", f"{kwh:,.1f} kWh is more than twice the {expected:,.1f} kWh this "
            f"meter usually uses {over}. Check each digit against the meter first: one digit "
            "too many makes a reading ten times too high."))
    result.advance, result.kwh = advance, kwh
    try:
        result.cost = period_cost(context.rates, previous.read_at, read_at, kwh)
    except TariffError as exc:
        result.errors.append(Problem("no_tariff", f"Cannot price this period: {exc}."))
    return result


def usual_use(context: MeterContext, elapsed: timedelta) -> tuple[Decimal, str] | None:
    """What the meter usually uses over ``elapsed`` (kWh), and the words for that span; None
    without a priced history.

    The meter's average daily use scaled by the time since the previous reading, but never by
    less than :data:`MIN_USUAL_USE_DAYS`: use is lumpy within a day (a shower, an oven), so a
    reading taken minutes or hours after the last is compared with a whole day's use. Without
    that floor, 9 kWh read ten minutes after the last reading would look like fifty times the
    usual and ask for a reason.
    """
    if not context.expected_kwh_per_day:
        return None
    days = Decimal(str(elapsed / timedelta(days=1)))
    if days < MIN_USUAL_USE_DAYS:
        return context.expected_kwh_per_day * MIN_USUAL_USE_DAYS, "in a day"
    return context.expected_kwh_per_day * days, "over such a period"


def still_typing(context: MeterContext, value_text: object) -> Problem | None:
    """Why ``value_text`` looks like a reading half typed, not yet one to price; None when it
    is a whole number (or not a number at all, which :func:`parse_value` explains).

    Half typed: it ends in a decimal point, or it is lower than the previous reading with fewer
    digits before the point than the previous reading has (typing 1, 12, 123 on the way to
    1234 after 1200). A real lower reading is typed with as many digits (registers show their
    leading zeros: 0990 after 1000), or confirmed by leaving the field (the caller's call).
    A value the meter's register cannot show is never "still typing": it is refused.
    """
    previous = context.previous
    if previous is None or not isinstance(value_text, str):
        return None
    match = _TYPING.match(value_text.strip())
    if match is None:
        return None
    whole, point = match.groups()
    last = f"{previous.value.normalize():f}"
    if point == ".":
        return Problem("keep_typing", f"Keep typing: add the decimals after the point (the last "
                                      f"reading was {last}).")
    needed = len(str(int(previous.value)))
    if len(whole) < needed and Decimal(match.group(0)) < previous.value:
        return Problem("keep_typing", f"Keep typing: the last reading was {last}, {needed} digits "
                                      "before the point. A lower reading? Type it with its leading "
                                      f"zeros (e.g. {'0' * (needed - len(whole))}{whole}) or leave "
                                      "the field.")
    return None


def still_missing(verdict: Assessment, explanation: object, reason: object, *,
                  require_explanation: bool = True) -> list[Problem]:
    """What a warned reading still lacks before it can be saved: a cause that fits it (one of
    ``verdict.explanations``, and one that can be saved) and a reason in words. Empty when the
    reading raises no warning or has both.

    ``require_explanation`` is off for devices and files, which give a reason only; an
    explanation they do give must still fit.
    """
    if not verdict.warnings:
        return []
    problems: list[Problem] = []
    offered = {e.code: e for e in verdict.explanations}
    chosen = offered.get(explanation) if isinstance(explanation, str) else None
    if offered and chosen is None and (require_explanation or explanation is not None):
        direction = "lower than the previous one" if verdict.lower else "far above the usual use"
        problems.append(Problem(
            "explanation_required",
            f"Choose what explains a reading {direction}: "
            + "; ".join(e.label for e in verdict.explanations) + "."))
    elif chosen is not None and chosen.refusal:
        problems.append(Problem(chosen.code, chosen.refusal))
    if not (isinstance(reason, str) and reason.strip()):
        problems.append(Problem("reason_required", "Confirm with a reason to save: "
                                + " ".join(w.message for w in verdict.warnings)))
    return problems


# -- saving -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    reading_id: int
    duplicate: bool  # the same reading was already saved (a double click, a retried request)
    # What was stored, for the confirmation: the register, and the period it closes (None for a
    # meter's first reading, which opens its history unpriced).
    value: Decimal | None = field(default=None, compare=False)
    kwh: Decimal | None = field(default=None, compare=False)
    total_p: Decimal | None = field(default=None, compare=False)


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
    explanation: str | None = None,
    now: datetime | None = None,
    ip: str | None = None,
) -> Saved:
    """Check and store a reading with its priced period and an audit row, in the caller's
    transaction, and bring the meter's summary up to date.

    ``explanation`` is the cause chosen for a warned reading (a code of
    ``Assessment.explanations``; for a lower reading it also sets ``lower_means``). The portal
    must give one whenever a cause is offered, as its modal asks; devices and files give a
    reason only.

    Raises :class:`ReadingRefused` (refusals, or warnings without a reason or with a cause that
    does not fit), :class:`MeterNotFound`, or :class:`PermissionError` for a viewer.
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
            return Saved(existing.id, duplicate=True, value=existing.value, kwh=existing.kwh,
                         total_p=existing.total_p)
        raise ReadingRefused([Problem("duplicate_time", "A reading already exists at that time.")])
    if not isinstance(explanation, str):  # a forged request: a number, a list...
        explanation = None if explanation is None else repr(explanation)
    if explanation in get_args(LowerMeans):
        lower_means = explanation  # type: ignore[assignment]
    verdict = assess(context, value_text, read_at, now=now, tariff_settings=tariff_settings,
                     lower_means=lower_means, staff=source == "portal")
    if not verdict.ok:
        raise ReadingRefused(verdict.errors)
    reason = (reason.strip()[:500] if isinstance(reason, str) else "") or None
    if reason is not None and not is_plain_text(reason):
        raise ReadingRefused([Problem("reason_not_text", "The reason must be plain text, without "
                                      "control characters.")])
    missing = still_missing(verdict, explanation, reason, require_explanation=source == "portal")
    if missing:
        raise ReadingRefused(missing)
    explained = explanation if explanation in {e.code for e in verdict.explanations} else None
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
             "total_p": str(cost.total) if cost else None,
             **({"explanation": explained} if explained else {})},
    )
    refresh_meter_summary(session, meter_id)
    return Saved(reading.id, duplicate=False, value=reading.value, kwh=reading.kwh,
                 total_p=reading.total_p)


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
