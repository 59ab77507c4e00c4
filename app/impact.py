"""What a concern about an asset costs, whether it is getting better, and who looks after it,
in words a board member reads without help.

Impact. Only a leak or overuse alert can cost energy, and only on an asset type whose twin
measures its energy (:data:`ENERGY`): the excess is the asset's mean power since the alert
began (at most the last 7 days) less its mean power over the 7 days before it began, times
24 hours. Priced at the supplier's tariff for the asset's fuel in force today (the unit rate
including VAT; the standing charge is paid whatever the asset does, so it is left out).
Everything else either has no direct energy cost (a faulty sensor, late data, a forecast
being retrained, wear: the text names the risk instead) or says "impact not estimated" and why.

Trend: this week (the 7 days to now) against the 7 days before, in counts of alerts or failed
forecast checks, or the growth of wear.

Owner: the site's maintenance contacts (``Site.maintenance_emails``), the people alert emails
go to.

The functions on numbers are pure (tested on hand-made figures); :func:`mean_kw` and
:func:`current_rates` read the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.db.models import Calculation, Sensor, SensorReading, Tariff
from app.mail.requests import addresses
from app.tariffs import LONDON, format_pounds

Fuel = Literal["electricity", "gas"]
Direction = Literal["worse", "better", "same", "new"]

WEEK = timedelta(days=7)
#: Less than this of an alert's time to average over, and the excess is mostly noise.
MIN_WINDOW = timedelta(hours=1)
#: The classifications that can cost energy (water lost is heat and pumping lost; overuse is
#: more of what the asset uses).
ENERGY_CLASSES = ("leakage", "overuse")
WHERE_CONTACTS_ARE_SET = "an administrator sets it under Plant catalogue › the site › Maintenance emails"


@dataclass(frozen=True)
class EnergyUse:
    """Where an asset type's energy use shows in its twin: a sensor or a calculation in kW,
    the fuel it is paid in, and what a reader calls it."""

    source: Literal["sensor", "calculation"]
    name: str
    fuel: Fuel
    what: str


#: Asset types whose twin measures the energy they use, in kW.
ENERGY: dict[str, EnergyUse] = {
    # the heater's own power meter
    "water_dispenser": EnergyUse("sensor", "power", "electricity", "heater electricity"),
    # fuel input = fuel flow x 10.55 kWh/m3 of natural gas (app/twins/boiler.py)
    "boiler": EnergyUse("calculation", "heat_input_kw", "gas", "gas burnt"),
    # the heat it passes on comes from the site's gas-fired boilers: priced as gas, one kWh of
    # heat for one kWh of gas (the boilers' losses left out, so if anything an underestimate)
    "heat_exchanger": EnergyUse("calculation", "duty_kw", "gas", "heat from the network (priced as gas)"),
}

#: Why the twin cannot put a leak or overuse of these types into kWh.
NOT_ESTIMATED: dict[str, str] = {
    "pressure_tank": "the tank measures water flow and level, not the heat in the water it loses",
    "pipeline": "the pipeline measures flow, not the temperature of the water it loses",
    "generic": "the twin has no energy figure for a generic asset",
}

#: The risk of a concern with no direct energy cost, by kind.
RISKS: dict[str, str] = {
    "sensor_error": "a sensor reading wrong can hide a real fault from the twin; a technician "
                    "should check or replace it",
    "data": "the twin cannot see a leak or a fault on this asset until its data comes back",
    "forecast": "until the retrained model is in place its forecasts are less reliable; no action needed",
    "no_forecast": "the twin cannot warn ahead of time about this asset",
    "no_sensors": "the twin cannot watch this asset at all",
    "damage": "a part worn past its design limit may fail; plan an inspection",
    "overload": "an overloaded gearbox wears faster and may fail early",
}


@dataclass(frozen=True)
class Impact:
    """A concern's estimated cost per day, in words; the figures when there are some.
    ``headline`` is the gist in a few words ("About 9p a day"), ``text`` the whole story."""

    text: str
    kwh_per_day: float | None = None
    pence_per_day: Decimal | None = None
    headline: str = ""

    @property
    def gist(self) -> str:
        if self.headline:
            return self.headline
        if self.text.startswith("Impact not estimated"):
            return "Not estimated"
        return "No direct energy cost" if self.text.startswith("No direct energy cost") else ""


@dataclass(frozen=True)
class Trend:
    """This week against the week before: the direction and the words."""

    direction: Direction
    text: str


@dataclass(frozen=True)
class UnitRate:
    """The price of a kWh of a fuel today, including VAT, and the tariff it comes from."""

    fuel: Fuel
    pence_per_kwh: Decimal
    tariff: str


def excess_kwh_per_day(measured_kw: float, expected_kw: float) -> float:
    """How much more energy a day the asset uses than expected (never negative)."""
    return max(measured_kw - expected_kw, 0.0) * 24.0


def pence_per_day(kwh_per_day: float, rate: UnitRate) -> Decimal:
    """The cost of ``kwh_per_day`` at ``rate``, in exact pence."""
    return Decimal(str(kwh_per_day)) * rate.pence_per_kwh


def money(pence: Decimal) -> str:
    """``Decimal("23.4")`` -> ``23p``; 100 pence or more in pounds, ``£1.23``."""
    whole = int(pence.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if whole < 100:
        return f"{whole}p" if whole >= 1 else "under 1p"
    return format_pounds(whole)


def kwh(value: float) -> str:
    """Energy as people write it: 3 significant figures, no exponent."""
    if value >= 100:
        return f"{value:,.0f} kWh"
    return f"{float(f'{value:.2g}'):g} kWh"


def energy_impact(measured_kw: float | None, expected_kw: float | None, use: EnergyUse,
                  rate: UnitRate | None) -> Impact:
    """The impact of a leak or overuse from the asset's mean power during it and before it."""
    if measured_kw is None:
        return Impact("Impact not estimated: no readings since the alert began.")
    if expected_kw is None:
        return Impact("Impact not estimated: no readings from the week before the alert to compare with.")
    extra = excess_kwh_per_day(measured_kw, expected_kw)
    if extra <= 0:
        return Impact(f"No extra energy measured: {use.what} is no higher than in the week before "
                      f"the alert (about {kwh(expected_kw * 24)} a day).", 0.0, Decimal(0),
                      "No extra energy measured")
    words = f"About {kwh(extra)} a day more {use.what} than in the week before the alert"
    if rate is None:
        return Impact(f"{words}; cost not estimated: no {use.fuel} tariff in force today in your "
                      f"tariff book.", extra, headline=f"About {kwh(extra)} a day")
    cost = pence_per_day(extra, rate)
    return Impact(f"{words}: about {money(cost)} a day at your {use.fuel} tariff "
                  f"'{rate.tariff}' ({rate.pence_per_kwh.normalize():f} p/kWh including VAT).", extra, cost,
                  f"About {money(cost)} a day ({kwh(extra)})")


def water_impact(measured_m3h: float | None, expected_m3h: float | None, why: str) -> Impact:
    """A pipeline's leak: the water it loses a day (inlet less outlet flow, less what the
    meters disagreed by before the alert), and why it is not priced."""
    if measured_m3h is None or expected_m3h is None:
        return Impact(f"Impact not estimated: {why}, and there are too few readings to measure the water lost.")
    lost = f"{float(f'{max(measured_m3h - expected_m3h, 0.0) * 24.0:.2g}'):g} m³"
    return Impact(f"About {lost} of water lost a day. Energy impact not estimated: {why}.",
                  headline=f"About {lost} of water a day")


def no_cost(risk: str) -> Impact:
    """A concern with no direct energy cost, and what it risks instead."""
    return Impact(f"No direct energy cost. Risk: {RISKS[risk]}.", 0.0, Decimal(0))


def alert_impact(asset_type: str, classifications: list[str]) -> Impact | None:
    """The impact of alerts that need no measurement (no energy to price), or None when the
    asset's energy has to be measured (:func:`energy_impact`, :func:`water_impact`)."""
    costly = [c for c in classifications if c in ENERGY_CLASSES]
    if not costly:
        if "sensor_error" in classifications:
            return no_cost("sensor_error")
        return Impact("Impact not estimated: a reading outside its normal range has no energy "
                      "figure of its own.")
    if asset_type in ENERGY or asset_type == "pipeline" and "leakage" in costly:
        return None
    if asset_type == "drivetrain":
        return no_cost("overload")
    return Impact(f"Impact not estimated: {NOT_ESTIMATED.get(asset_type, 'the twin has no energy figure for this asset')}.")


def counts_trend(this_week: int, last_week: int, noun: str) -> Trend:
    """E.g. "Worse than last week: 3 alerts, 1 the week before"."""
    def n(count: int) -> str:
        return f"{count} {noun}{'' if count == 1 else 's'}"

    if this_week > last_week:
        return Trend("worse", f"Worse than last week: {n(this_week)}, {last_week} the week before.")
    if this_week < last_week:
        return Trend("better", f"Better than last week: {n(this_week)}, {last_week} the week before.")
    return Trend("same", f"Same as last week: {n(this_week)} each week.")


def growth_trend(this_week: float | None, last_week: float | None, unit: str) -> Trend:
    """How much wear (or time above rating) accrued this week against the week before; within
    10 % of each other is the same."""
    if this_week is None or last_week is None:
        return Trend("new", "No weekly comparison yet: less than two weeks of figures.")
    figures = f"{this_week:.3g}{unit} this week, {last_week:.3g}{unit} the week before"
    if this_week > last_week * 1.1:
        return Trend("worse", f"Worse than last week: {figures}.")
    if this_week < last_week * 0.9:
        return Trend("better", f"Better than last week: {figures}.")
    return Trend("same", f"About the same as last week: {figures}.")


def silence_trend(latest: datetime | None, now: datetime) -> Trend:
    """Late data: new this week if the asset still reported a week ago."""
    if latest is not None and latest > now - WEEK:
        return Trend("worse", "Worse than last week: data was still arriving a week ago.")
    return Trend("same", "Same as last week: no data then either.")


def since_trend(added: datetime | None, now: datetime, missing: str) -> Trend:
    """A standing condition of an asset (no forecast, no sensors): new if the asset was
    added this week, else the same as last week."""
    if added is not None and added > now - WEEK:
        return Trend("new", f"New this week: the asset was added on {added.astimezone(LONDON):%d %b}.")
    return Trend("same", f"Same as last week: {missing} then either.")


def contacts(maintenance_emails: str | None) -> list[str]:
    """The valid addresses of a site's maintenance contacts (those alert emails go to)."""
    return addresses(maintenance_emails)


def owner_text(maintenance_emails: str | None) -> str:
    """Who looks after a site: its maintenance contacts, or where to set them."""
    found = contacts(maintenance_emails)
    if not found:
        return f"No maintenance contact set ({WHERE_CONTACTS_ARE_SET})."
    return ", ".join(found)


# -- reading the database ------------------------------------------------------------------


def mean_kw(session: Session, sensors_engine: Engine, asset_id: int, use: EnergyUse,
            start: datetime, end: datetime) -> float | None:
    """The mean of the asset's energy sensor or calculation over [start, end) (None without
    a value there). Readings are evenly spaced, so their mean is the mean power."""
    if use.source == "calculation":
        return session.scalar(select(func.avg(Calculation.value)).where(
            Calculation.asset_id == asset_id, Calculation.name == use.name,
            Calculation.ts >= start, Calculation.ts < end))
    sensor_id = session.scalar(select(Sensor.id).where(Sensor.asset_id == asset_id, Sensor.name == use.name,
                                                       Sensor.retired_at.is_(None)))
    if sensor_id is None:
        return None
    with sensors_engine.connect() as conn:
        return conn.scalar(select(func.avg(SensorReading.value)).where(
            SensorReading.sensor_id == sensor_id, SensorReading.ts >= start, SensorReading.ts < end))


def windows(started_at: datetime, now: datetime) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]] | None:
    """(during, before): since the alert began (at most the last week), and the week before
    it began. None when it began less than :data:`MIN_WINDOW` ago."""
    start = max(started_at, now - WEEK)
    if now - start < MIN_WINDOW:
        return None
    return (start, now), (started_at - WEEK, started_at)


def current_rates(session: Session, supplier_id: int, now: datetime) -> dict[str, UnitRate]:
    """Each fuel's unit rate in force today (UK date), including VAT, from the supplier's
    tariff book; of several tariffs for a fuel, the first by code."""
    today = now.astimezone(LONDON).date()
    rows = session.scalars(
        select(Tariff).where(Tariff.supplier_id == supplier_id, Tariff.valid_from <= today,
                             (Tariff.valid_to.is_(None)) | (Tariff.valid_to > today))
        .order_by(Tariff.code)
    ).all()
    rates: dict[str, UnitRate] = {}
    for row in rows:
        if row.fuel in rates:
            continue
        unit = Decimal(row.unit_rate_p_per_kwh)
        gross = unit if row.prices_include_vat else unit * (1 + Decimal(row.vat_rate))
        rates[row.fuel] = UnitRate(row.fuel, gross.quantize(Decimal("0.01")), row.name)  # type: ignore[arg-type]
    return rates
