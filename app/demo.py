"""Demo data: two suppliers with staff, customers, 50 meters with a year of readings, and plant
sites whose assets carry a month of 1-minute sensor history.

Everything is drawn from a seeded generator, so two seeds of the same settings and ``now`` give
the same estate. Sensor history comes from each asset type's simulator (app/simulation.py),
with a few faults of :data:`DEMO_FAULTS` in it, so the twin's anomaly detection has something
real to find. Demo passwords are random, kept in ``demo_logins.json`` under the data home
(mode 0600) and printed by ``twin run``: no credential is written in the repository.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import forecasting, pipeline, schedule
from app.accounts import create_user
from app.db import Database
from app.db.models import Asset, Customer, Meter, MeterReading, Sensor, Site, Supplier, Tariff
from app.generator import count_points
from app.readings import price_period, refresh_meter_summary
from app.simulation import Fault, simulate, write
from app.tariffs import Rate
from app.twins import asset_type
from settings import Settings, TariffSettings

log = logging.getLogger(__name__)

LOGINS_FILE = "demo_logins.json"

SUPPLIERS = (
    # name, billing contact, share of the 50 meters
    ("Northwind Energy", "billing@northwind-energy.example", 0.6),
    ("Southbank Power", "accounts@southbank-power.example", 0.4),
)
ROLES = ("admin", "operator", "viewer")

# Demo tariffs, quoted including 5 % VAT the way Ofgem quotes the price cap, one pair a quarter.
# They are of the cap's order (the first electricity pair is the October-December 2024 cap,
# 24.50 p/kWh and 60.99 p/day) but illustrative: not the published figures for the quarters
# the demo gives them to.
ELECTRICITY_PRICES = (
    ("24.50", "60.99"), ("24.86", "60.97"), ("27.03", "53.80"), ("25.73", "51.37"),
    ("26.35", "53.68"), ("27.69", "54.75"), ("26.10", "52.90"), ("25.40", "51.80"),
)
GAS_PRICES = (
    ("6.24", "31.66"), ("6.34", "31.65"), ("6.99", "32.67"), ("6.33", "29.82"),
    ("6.29", "34.03"), ("5.93", "35.09"), ("6.10", "33.20"), ("6.05", "32.80"),
)

# (site, location, [(asset name, type, upstream asset name)])
SITES = {
    "Northwind Energy": (
        ("Riverside Heat Plant", "Nottingham", (
            ("Boiler B1", "boiler", None),
            ("Tank T1", "pressure_tank", "Boiler B1"),
            ("Tank T2", "pressure_tank", "Boiler B1"),
            ("Pipeline P1", "pipeline", "Tank T1"),
            ("Heat exchanger HX1", "heat_exchanger", "Pipeline P1"),
        )),
        ("Hilltop Wind & Water", "Derbyshire Dales", (
            ("Turbine WT1 drivetrain", "drivetrain", None),
            ("Dispenser D1", "water_dispenser", None),
            ("Dispenser D2", "water_dispenser", None),
        )),
    ),
    "Southbank Power": (
        ("Harbour Energy Centre", "Bristol", (
            ("Boiler H1", "boiler", None),
            ("Tank H2", "pressure_tank", "Boiler H1"),
            ("Pipeline H3", "pipeline", "Tank H2"),
        )),
    ),
}

# Faults in the demo's sensor history, by asset type: (kind, days before now it starts, hours it
# lasts, sensor, magnitude). Each asset of the type gets them, so the Alerts page has a leak,
# a stuck sensor, a spike, heavy use and a drifting sensor to show. A history shorter than a
# fault's start has none.
DEMO_FAULTS: dict[str, tuple[tuple[str, float, float, str | None, float], ...]] = {
    "pipeline": (("leak", 3.2, 2.0, None, 0.15),),
    "water_dispenser": (("leak", 2.1, 2.0, None, 0.1),),
    "pressure_tank": (("stuck_sensor", 1.3, 1.5, "pressure", 1.0),),
    "boiler": (("spike", 4.6, 0.5, "flue_temperature", 1.0),),
    "drivetrain": (("overuse", 5.4, 2.0, None, 1.6),),
    # a hot outlet thermometer drifting 1.5 C an hour for six hours (the drift check's to find)
    "heat_exchanger": (("drift", 1.8, 6.0, "hot_outlet_temperature", 1.5),),
}

FIRST_NAMES = ("Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Grace",
               "Leo", "Freya", "Oscar", "Lily", "Harry", "Ella", "Jack", "Evie", "Alfie")
SURNAMES = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
            "Patel", "Wright", "Robinson", "Walker", "Thompson", "Evans", "Khan", "Hughes")
STREETS = ("High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue",
           "Victoria Road", "Green Lane", "Manor Way", "Kings Road", "Queensway")
TOWNS = (("Nottingham", "NG"), ("Derby", "DE"), ("Bristol", "BS"), ("Leicester", "LE"),
         ("Sheffield", "S"), ("Bath", "BA"))


class DemoError(RuntimeError):
    """Seeding cannot proceed; ``str()`` says why."""


@dataclass(frozen=True)
class DemoLogin:
    supplier: str
    role: str
    email: str
    password: str


def is_seeded(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Supplier)))


def read_logins(settings: Settings) -> list[DemoLogin]:
    path = settings.home_dir / LOGINS_FILE
    if not path.exists():
        return []
    return [DemoLogin(**row) for row in json.loads(path.read_text())]


def _write_logins(settings: Settings, logins: list[DemoLogin]) -> Path:
    path = settings.home_dir / LOGINS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump([login.__dict__ for login in logins], handle, indent=2)
    tmp.replace(path)
    return path


def _slug(name: str) -> str:
    return name.lower().split()[0]


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _next_quarter(day: date) -> date:
    month = day.month + 3
    return date(day.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _tariffs(supplier_id: int, first_day: date, today: date, vat: Decimal) -> list[Tariff]:
    rows = []
    for code, name, fuel, prices in (
        ("STD-E", "Standard variable electricity", "electricity", ELECTRICITY_PRICES),
        ("STD-G", "Standard variable gas", "gas", GAS_PRICES),
    ):
        start = _quarter_start(first_day)
        index = 0
        while start <= today:
            end = _next_quarter(start)
            unit, standing = prices[index % len(prices)]
            rows.append(
                Tariff(
                    supplier_id=supplier_id, code=code, name=name, fuel=fuel,
                    unit_rate_p_per_kwh=Decimal(unit), standing_charge_p_per_day=Decimal(standing),
                    vat_rate=vat, prices_include_vat=True, valid_from=start,
                    valid_to=end if end <= today else None,
                )
            )
            start, index = end, index + 1
    return rows


def _daily_use(fuel: str, day: date, base: float) -> float:
    """Typical daily use: kWh for electricity, m3 for gas, higher in winter."""
    winter = 0.5 * (1 + math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25))
    if fuel == "electricity":
        return base * (0.8 + 0.45 * winter)
    return base * (0.25 + 1.6 * winter)


def _seed_meters(
    session: Session, rng: np.random.Generator, supplier: Supplier, count: int,
    now: datetime, history_days: int, rates: dict[str, list[Rate]], tariff_settings: TariffSettings,
) -> int:
    first_day = (now - timedelta(days=history_days)).date()
    customers: list[Customer] = []
    meters: list[Meter] = []
    n = 0
    while len(meters) < count:
        n += 1
        town, postcode = TOWNS[int(rng.integers(len(TOWNS)))]
        address = (f"{int(rng.integers(1, 180))} {STREETS[int(rng.integers(len(STREETS)))]}, "
                   f"{town} {postcode}{int(rng.integers(1, 20))} {int(rng.integers(1, 9))}"
                   f"{'ABDEFGHJ'[int(rng.integers(8))]}{'LNPQRSTU'[int(rng.integers(8))]}")
        name = f"{FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]} {SURNAMES[int(rng.integers(len(SURNAMES)))]}"
        customer = Customer(
            supplier_id=supplier.id, account_number=f"{_slug(supplier.name)[:2].upper()}{100000 + n}",
            name=name, email=f"{name.lower().replace(' ', '.')}{n}@customers.example", address=address,
        )
        customers.append(customer)
        fuels = ["electricity"] + (["gas"] if rng.random() < 0.45 else [])
        for fuel in fuels[: count - len(meters)]:
            meters.append(
                Meter(
                    supplier_id=supplier.id, customer=customer,
                    serial=f"{'E' if fuel == 'electricity' else 'G'}{int(rng.integers(10**7, 10**8))}",
                    fuel=fuel, tariff_code="STD-E" if fuel == "electricity" else "STD-G",
                    register_digits=6 if fuel == "electricity" else 5, supply_address=address,
                    installed_on=first_day - timedelta(days=int(rng.integers(200, 3000))),
                    is_smart=bool(rng.random() < 0.6),
                )
            )
    session.add_all(customers)
    session.flush()
    readings = 0
    for meter in meters:
        base = float(rng.uniform(6, 12)) if meter.fuel == "electricity" else float(rng.uniform(2.0, 3.5))
        register = float(rng.uniform(1000, 40000 if meter.fuel == "electricity" else 9000))
        step = 1 if meter.is_smart else 30
        rows = []
        day = first_day
        while day <= now.date():
            read_at = datetime.combine(
                day, time(0, 30) if meter.is_smart else time(9 + int(rng.integers(8)), int(rng.integers(60))),
                tzinfo=timezone.utc,
            )
            if read_at > now:
                break
            estimated = not meter.is_smart and len(rows) % 3 == 2
            reading = MeterReading(
                supplier_id=supplier.id, meter_id=meter.id, read_at=read_at,
                value=Decimal(f"{register:.3f}" if meter.is_smart else f"{register:.0f}"),
                kind="estimated" if estimated else "actual", source="seed",
            )
            if rows:  # price the period this reading closes, as a save would
                price_period(reading, rows[-1], meter.fuel, rates[meter.tariff_code], tariff_settings)
            rows.append(reading)
            for offset in range(step):
                register += _daily_use(meter.fuel, day + timedelta(days=offset), base) * float(rng.uniform(0.7, 1.3))
            day += timedelta(days=step)
        session.add_all(rows)
        session.flush()
        refresh_meter_summary(session, meter.id)
        readings += len(rows)
    return readings


def seed_demo(
    db: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[DemoLogin]:
    """Load the demo estate into an empty database and return the demo logins.

    ``progress(stage, done, total)`` reports sensor rows as they are written.
    Raises :class:`DemoError` if the database already holds suppliers.
    """
    demo = settings.demo_data
    now = (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0)
    rng = np.random.default_rng(demo.seed)
    logins: list[DemoLogin] = []
    sensors: list[tuple[int, str, str]] = []  # (sensor id, asset type, sensor name)
    with db.Session() as session, session.begin():
        if is_seeded(session):
            raise DemoError("the database already holds suppliers; demo data is only loaded into an empty one")
        for index, (name, billing, share) in enumerate(SUPPLIERS):
            supplier = Supplier(name=name, billing_email=billing)
            session.add(supplier)
            session.flush()
            for role in ROLES:
                login = DemoLogin(name, role, f"{role}@{_slug(name)}.example", secrets.token_urlsafe(9))
                create_user(session, supplier_name=name, email=login.email,
                            name=f"{role.title()} ({name})", password=login.password, role=role)
                logins.append(login)
            tariffs = _tariffs(supplier.id, (now - timedelta(days=demo.meter_history_days)).date(),
                               now.date(), settings.tariffs.domestic_vat_rate)
            session.add_all(tariffs)
            rates: dict[str, list[Rate]] = {}
            for tariff in tariffs:
                rates.setdefault(tariff.code, []).append(Rate.of(tariff))
            count = round(demo.meters * share) if index < len(SUPPLIERS) - 1 else demo.meters - sum(
                round(demo.meters * s) for _, _, s in SUPPLIERS[:-1])
            readings = _seed_meters(session, rng, supplier, count, now, demo.meter_history_days,
                                    rates, settings.tariffs)
            log.info("seeded %s: %d meters, %d readings", name, count, readings)
            for site_name, location, assets in SITES[name]:
                site = Site(supplier_id=supplier.id, name=site_name, location=location,
                            maintenance_emails=f"maintenance@{_slug(name)}.example")
                session.add(site)
                session.flush()
                by_name: dict[str, Asset] = {}
                for asset_name, type_name, upstream in assets:
                    kind = asset_type(type_name)
                    asset = Asset(site_id=site.id, name=asset_name, asset_type=type_name,
                                  parameters=dict(kind.default_parameters),
                                  upstream_id=by_name[upstream].id if upstream else None)
                    session.add(asset)
                    session.flush()
                    by_name[asset_name] = asset
                    for spec in kind.sensors:
                        sensor = Sensor(asset_id=asset.id, name=spec.name, unit=spec.unit,
                                        normal_min=spec.normal_min, normal_max=spec.normal_max,
                                        interval_s=settings.demo_data.sensor_interval_s)
                        session.add(sensor)
                        session.flush()
                        sensors.append((sensor.id, type_name, spec.name))

    # Sensor history, simulated per asset, goes through the bulk path after the catalogue has
    # committed.
    start = now - timedelta(days=demo.sensor_history_days)
    interval = timedelta(seconds=demo.sensor_interval_s)
    total, done = count_points(start, now, interval) * len(sensors), 0
    with db.Session() as session:
        simulated = session.execute(select(Asset.id, Asset.asset_type, Asset.parameters)
                                    .order_by(Asset.id)).all()
    for asset_id, type_name, parameters in simulated:
        faults = [Fault(kind, now - timedelta(days=ago), now - timedelta(days=ago) + timedelta(hours=hours),
                        sensor, size)
                  for kind, ago, hours, sensor, size in DEMO_FAULTS.get(type_name, ())]
        result = simulate(type_name, dict(parameters or {}), start, now, interval_s=demo.sensor_interval_s,
                          seed=demo.seed + asset_id, faults=faults)
        done += write(db, asset_id, result)
        if progress is not None:
            progress("sensor readings", done, total)
    # The twin's loop on the demo assets: calculations, a model per scheduled target, its
    # forecasts and a first validation, so a new user sees every part of it at once.
    entries = schedule.load(settings.pipeline.schedule_file)
    with db.Session() as session:
        assets = session.execute(select(Asset.id, Asset.asset_type).order_by(Asset.id)).all()
    for number, (asset_id, type_name) in enumerate(assets, start=1):
        pipeline.calculate(db, settings, asset_id)
        for target, mode in schedule.slots_for(entries, type_name, asset_id):
            try:
                forecasting.bootstrap(db, settings, asset_id, target, now=now, mode=mode)
            except forecasting.NotEnoughData as exc:  # a shortened demo history (tests) trains nothing
                log.warning("no demo model of %s for asset %s: %s", target, asset_id, exc)
        if progress is not None:
            progress("models", number, len(assets))
    _write_logins(settings, logins)
    log.info("demo estate seeded: %d sensors, %d sensor readings, %d assets modelled",
             len(sensors), total, len(assets))
    return logins
