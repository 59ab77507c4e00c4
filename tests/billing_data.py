"""Billing fixtures shared by the readings and meters tests: suppliers with the Ofgem cap as
their tariffs, and meters with a priced reading history."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from app.db import Database
from app.db.models import Customer, Meter, MeterReading, Supplier, Tariff, User
from app.readings import price_period, refresh_meter_summary
from app.tariffs import Rate
from settings import TariffSettings
from tests.conftest import utc

VAT = Decimal("0.05")
# Ofgem's October-December 2024 caps, including 5 % VAT: electricity 24.50 p/kWh and
# 60.99 p/day; gas 6.24 p/kWh and 31.66 p/day.
CAP = Rate(Decimal("24.50"), Decimal("60.99"), VAT, True, date(2024, 10, 1), date(2025, 1, 1))
PREVIOUS_AT = utc(2024, 11, 10, 9)
TARIFFS = TariffSettings()  # 5 % VAT; gas 39.5 MJ/m3, volume correction 1.02264

CAP_GAS = Rate(Decimal("6.24"), Decimal("31.66"), Decimal("0.05"), True,
               date(2024, 10, 1), date(2025, 1, 1))

# A meter's reads: 900 on 31 Oct, 1000 on 10 Nov: a priced history of 100 kWh over 10 days,
# so 10 kWh a day is what the meter usually uses.
HISTORY: tuple[tuple[datetime, str], ...] = ((utc(2024, 10, 31, 9), "900"), (PREVIOUS_AT, "1000"))
# Its one priced period: 100 x 24.50 + 10 x 60.99 = 2450.00 + 609.90 = 3059.90 (gross cap)
HISTORY_COST = Decimal("3059.90")


_supplier_numbers = itertools.count(1)


@dataclass(frozen=True)
class Staff:
    supplier_id: int
    operator_id: int
    viewer_id: int


def add_supplier(database: Database, *, electricity: Rate = CAP, gas: Rate = CAP_GAS) -> Staff:
    """A new supplier with an operator and a viewer, and one price each of tariffs STD-E and
    STD-G. Users get a placeholder password hash: hashing real passwords would slow every test."""
    number = next(_supplier_numbers)
    name, slug = f"Supplier {number}", f"supplier{number}"
    with database.Session() as session, session.begin():
        supplier = Supplier(name=name)
        session.add(supplier)
        session.flush()
        users = {role: User(supplier_id=supplier.id, email=f"{role}@{slug}.test", name=role,
                            password_hash="!", role=role) for role in ("operator", "viewer")}
        session.add_all(users.values())
        for code, fuel, rate in (("STD-E", "electricity", electricity), ("STD-G", "gas", gas)):
            session.add(Tariff(
                supplier_id=supplier.id, code=code, name=f"Standard {fuel}", fuel=fuel,
                unit_rate_p_per_kwh=rate.unit_rate_p_per_kwh,
                standing_charge_p_per_day=rate.standing_charge_p_per_day, vat_rate=rate.vat_rate,
                prices_include_vat=rate.prices_include_vat, valid_from=rate.valid_from,
                valid_to=rate.valid_to,
            ))
        session.flush()
        return Staff(supplier.id, users["operator"].id, users["viewer"].id)


def add_priced_meter(
    database: Database,
    supplier_id: int,
    *,
    serial: str = "E0001",
    fuel: str = "electricity",
    register_digits: int = 6,
    customer: str = "Ann Example",
    reads: Sequence[tuple[datetime, str]] = HISTORY,
) -> int:
    """A customer with one meter on the supplier's standard tariff for its fuel, and ``reads``
    (time, value) each priced against the one before, as a save would; returns the meter id."""
    code = "STD-E" if fuel == "electricity" else "STD-G"
    with database.Session() as session, session.begin():
        account = Customer(supplier_id=supplier_id, account_number=f"AC-{serial}", name=customer,
                           address="1 High Street, Derby DE1 1AA")
        session.add(account)
        session.flush()
        meter = Meter(supplier_id=supplier_id, customer_id=account.id, serial=serial, fuel=fuel,
                      tariff_code=code, register_digits=register_digits,
                      supply_address=account.address, installed_on=date(2020, 1, 1))
        session.add(meter)
        session.flush()
        rates = [Rate.of(t) for t in session.scalars(
            select(Tariff).where(Tariff.supplier_id == supplier_id, Tariff.code == code))]
        previous: MeterReading | None = None
        for read_at, value in reads:
            reading = MeterReading(supplier_id=supplier_id, meter_id=meter.id, read_at=read_at,
                                   value=Decimal(value), kind="actual", source="seed")
            if previous is not None:
                price_period(reading, previous, fuel, rates, TARIFFS)
            session.add(reading)
            previous = reading
        session.flush()
        refresh_meter_summary(session, meter.id)
        return meter.id
