"""The cost model: what a period of supply costs under a supplier's dated tariffs.

cost = advance (kWh) x unit rate + days x standing charge, then VAT. A period spanning a tariff
change is split at the change, the advance apportioned to each part by its share of the days
(the way suppliers bill a price change without a read on the day). Money is ``Decimal`` pence,
kept exact throughout and rounded once, at the end (:meth:`Cost.rounded`).

Rates may be quoted gross (including VAT, as Ofgem quotes the price cap) or net; either way the
breakdown shows net energy, net standing charge and the VAT on them.

Pure functions, no database: the callers load the tariff rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
ZERO = Decimal(0)
PENNY = Decimal(1)


class TariffError(ValueError):
    """No tariff covers the period, or tariffs overlap; ``str()`` says which dates."""


@dataclass(frozen=True)
class Rate:
    """One dated price of a tariff: valid from ``valid_from`` up to, not including, ``valid_to``."""

    unit_rate_p_per_kwh: Decimal
    standing_charge_p_per_day: Decimal
    vat_rate: Decimal
    prices_include_vat: bool
    valid_from: date
    valid_to: date | None = None

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    @classmethod
    def of(cls, row: object) -> Rate:
        """From a ``Tariff`` row (or anything with the same attributes)."""
        return cls(
            Decimal(row.unit_rate_p_per_kwh),  # type: ignore[attr-defined]
            Decimal(row.standing_charge_p_per_day),  # type: ignore[attr-defined]
            Decimal(row.vat_rate),  # type: ignore[attr-defined]
            bool(row.prices_include_vat),  # type: ignore[attr-defined]
            row.valid_from,  # type: ignore[attr-defined]
            row.valid_to,  # type: ignore[attr-defined]
        )


@dataclass(frozen=True)
class Cost:
    """Exact pence. ``total = energy + standing + vat``."""

    kwh: Decimal = ZERO
    days: int = 0
    energy: Decimal = ZERO
    standing: Decimal = ZERO
    vat: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.energy + self.standing + self.vat

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.kwh + other.kwh, self.days + other.days, self.energy + other.energy,
                    self.standing + other.standing, self.vat + other.vat)

    def rounded(self) -> RoundedCost:
        """Whole pence, rounded once: the total is the exact total rounded half-up; energy and
        standing are rounded half-up, and VAT is what makes the lines add up to the total."""
        total = to_pence(self.total)
        energy = to_pence(self.energy)
        standing = to_pence(self.standing)
        return RoundedCost(energy, standing, total - energy - standing, total)


@dataclass(frozen=True)
class RoundedCost:
    energy: int
    standing: int
    vat: int
    total: int


def to_pence(amount: Decimal) -> int:
    return int(amount.quantize(PENNY, rounding=ROUND_HALF_UP))


def format_pounds(pence: int | Decimal) -> str:
    """``12345`` -> ``£123.45``; negative amounts (credits) as ``-£1.20``."""
    whole = to_pence(Decimal(pence))
    sign = "-" if whole < 0 else ""
    return f"{sign}£{abs(whole) // 100:,}.{abs(whole) % 100:02d}"


def gas_kwh(cubic_metres: Decimal, calorific_value_mj_per_m3: Decimal,
            volume_correction: Decimal) -> Decimal:
    """Gas volume to energy: m3 x volume correction x calorific value (MJ/m3) / 3.6 MJ per kWh."""
    return cubic_metres * volume_correction * calorific_value_mj_per_m3 / Decimal("3.6")


def billing_days(start: datetime, end: datetime) -> int:
    """Days of supply between two reads: the difference of their UK calendar dates."""
    return (end.astimezone(LONDON).date() - start.astimezone(LONDON).date()).days


def _part(rate: Rate, kwh: Decimal, days: int) -> Cost:
    energy = kwh * rate.unit_rate_p_per_kwh
    standing = days * rate.standing_charge_p_per_day
    if rate.prices_include_vat:
        divisor = 1 + rate.vat_rate
        net_energy, net_standing = energy / divisor, standing / divisor
        return Cost(kwh, days, net_energy, net_standing, energy + standing - net_energy - net_standing)
    return Cost(kwh, days, energy, standing, (energy + standing) * rate.vat_rate)


def rate_on(rates: Sequence[Rate], day: date) -> Rate:
    matches = [rate for rate in rates if rate.covers(day)]
    if not matches:
        raise TariffError(f"no tariff covers {day.isoformat()}")
    if len(matches) > 1:
        raise TariffError(f"{len(matches)} tariffs overlap on {day.isoformat()}")
    return matches[0]


def period_cost(rates: Sequence[Rate], start: datetime, end: datetime, kwh: Decimal) -> Cost:
    """The cost of ``kwh`` supplied between two reads at ``start`` and ``end``.

    Each UK calendar day from the first read's date up to (not including) the second read's date
    is charged at the rate in force that day; the kWh are shared out in proportion to days.
    Reads on the same day (no whole day between them) are charged no standing charge and the
    energy at the rate in force on that day.
    """
    if end < start:
        raise ValueError("a period cannot end before it starts")
    days = billing_days(start, end)
    first_day = start.astimezone(LONDON).date()
    if days == 0:
        return _part(rate_on(rates, first_day), kwh, 0)
    # Walk the period in runs of days under the same rate.
    runs: list[tuple[Rate, int]] = []
    day = first_day
    last_day = first_day + timedelta(days=days)
    while day < last_day:
        rate = rate_on(rates, day)
        run_end = min(last_day, rate.valid_to) if rate.valid_to else last_day
        # End the run where any other tariff starts, so rate_on sees (and refuses) an overlap
        # that begins part-way through the period.
        run_end = min([run_end, *(r.valid_from for r in rates if day < r.valid_from < run_end)])
        runs.append((rate, (run_end - day).days))
        day = run_end
    total = Cost()
    allotted = ZERO
    for index, (rate, run_days) in enumerate(runs):
        # The last run takes the remainder, so the parts' kWh add up exactly to the advance.
        share = kwh - allotted if index == len(runs) - 1 else kwh * run_days / days
        allotted += share
        total = total + _part(rate, share, run_days)
    return total
