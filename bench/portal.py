"""Portal benchmark: meters grid, TOTAL and live preview on 10,000 meters x 365 daily reads.

A supplier's TOTAL and meters grid computed in SQL, and the reading modal's live preview through
the real Dash endpoint, on PostgreSQL with 10,000 meters x a year of daily readings.

Usage::

    .venv/bin/python bench/portal.py [--meters 10000] [--days 365] [--repeats 30]
                                     [--workers 2] [--postgres-url URL] [--keep]

Setup (timed and printed, not a target), on a fresh database ``twin_bench_portal_<pid>``
migrated with the product's own migrations (``app.db.migrate.upgrade``):

* one supplier, its admin, operator and viewer (``app.accounts.create_user``), the demo's dated
  tariffs (``app.demo._tariffs``: one electricity and one gas price a quarter, VAT included);
* ``--meters`` meters (electricity for every customer, gas as well for about 45 % of them, as in
  the demo) and ``--days`` daily readings per meter, each priced as a save prices it: the
  advance, its kWh (``app.readings.kwh_for``) and the period's cost
  (``app.tariffs.period_cost``). Daily use follows the demo's seasonal curve and is read to
  0.1 kWh or 0.1 m3, so a day's priced periods take a limited set of values: each distinct
  (tariff, day, advance) is priced once with ``period_cost`` and reused (exact: a period's cost
  depends only on its UK dates and kWh). The rows are written day by day, the order in which
  readings arrive, with PostgreSQL ``COPY`` from ``--workers`` spawned processes;
* each meter's running summary (last reading, cost to date) in one ``UPDATE ... FROM`` over the
  readings' aggregates, the same values ``app.readings.refresh_meter_summary`` computes (checked
  on a sample of meters with that function, and a sample of readings re-priced with
  ``period_cost``); then ``VACUUM ANALYZE`` and a ``CHECKPOINT``.

Measurements (``--repeats`` each, after a warm-up; p50 / p95 / max):

a. ``app.meters.supplier_totals`` + ``app.meters.meters_page`` (one 50-row page), timed together
   in a fresh session per repetition, in a spawned child, for five grid requests: default
   order, sorted by cost to date desc, sorted by this period's cost desc, customer contains
   'smith', and a page deep in the list (start=9000). Target: each at most 1 s (max).
b. The modal's ``live_preview`` callback through the real ``/_dash-update-component`` endpoint:
   ``app.create_app`` served by waitress (as ``twin run`` serves it) in a thread of a spawned
   child, a logged-in ``requests`` session in this process, the payload built from
   ``/_dash-dependencies`` the way the browser builds it, the typed value varied per request.
   Target: median at most 100 ms.
c. The grid's ``getRowsRequest`` callback and the TOTAL callback through the same endpoint, for
   information.

``--keep`` builds (or reuses) ``twin_bench_portal_keep_<meters>x<days>`` and leaves it in place;
otherwise the database is dropped on exit, after an error and on SIGTERM. The table goes to
stdout, progress to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import psycopg
from _support import (
    DashClient,
    PortalServer,
    PostgresBenchDatabase,
    ServeTask,
    bench_settings,
    dash_payload,
    loadavg,
    log,
    ms,
    new_passwords,
    run_children,
    stats,
    verdict,
)
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

from app.accounts import create_user
from app.db import Database
from app.db.migrate import upgrade
from app.db.models import Customer, Meter, Supplier
from app.demo import FIRST_NAMES, STREETS, SURNAMES, TOWNS, _daily_use, _tariffs
from app.readings import kwh_for, refresh_meter_summary
from app.tariffs import LONDON, Rate, period_cost
from settings import Settings, TariffSettings

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SEED = 20241001
SUPPLIER = "Bench Energy"
EMAIL_DOMAIN = "bench-energy.test"
ROLES = ("admin", "operator", "viewer")
GAS_SHARE = 0.45  # customers with a gas meter as well as an electricity one, as in the demo
READ_MINUTES = 360  # reads fall at 00:00-05:59 UTC: the same UK calendar day in GMT and in BST
PAGE = 50
WARMUP = 3
PRICING_SAMPLE = 20_000  # periods priced one by one to measure period_cost's own speed
CHECK_METERS = 25  # meters whose summary is recomputed with refresh_meter_summary
CHECK_READINGS = 500  # readings re-priced with period_cost
SQL_TARGET_MS = 1000.0
PREVIEW_TARGET_MS = 100.0

READING_COLUMNS = (
    "supplier_id", "meter_id", "read_at", "value", "kind", "source",
    "advance", "kwh", "days", "energy_p", "standing_p", "vat_p", "total_p", "created_at",
)
COPY_READINGS = f"COPY meter_readings ({', '.join(READING_COLUMNS)}) FROM STDIN"
NO_PERIOD = "\t".join(["\\N"] * 7)  # a meter's first reading opens its history: no period

# The meters' summary, as refresh_meter_summary sets it (last reading; cost to date = the sum of
# the readings' period totals), for every meter of the supplier in one statement.
SUMMARY_UPDATE = text("""
UPDATE meters AS m
SET last_read_at = l.read_at, last_value = l.value, last_kind = l.kind, cost_to_date_p = t.total
FROM (SELECT DISTINCT ON (meter_id) meter_id, read_at, value, kind
      FROM meter_readings WHERE supplier_id = :supplier
      ORDER BY meter_id, read_at DESC) AS l
JOIN (SELECT meter_id, COALESCE(SUM(total_p), 0) AS total
      FROM meter_readings WHERE supplier_id = :supplier
      GROUP BY meter_id) AS t ON t.meter_id = l.meter_id
WHERE m.id = l.meter_id AND m.supplier_id = :supplier
""")


def psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# -- setup: catalogue ----------------------------------------------------------------------


@dataclass(frozen=True)
class MeterSpec:
    id: int
    fuel: str
    tariff_code: str


@dataclass(frozen=True)
class Catalogue:
    supplier_id: int
    meters: list[MeterSpec]
    rates: dict[str, list[Rate]]
    passwords: dict[str, str]


def seed_catalogue(db: Database, settings: Settings, meters: int, first_day: date,
                   today: date) -> Catalogue:
    """Supplier, staff, the demo's tariffs, customers and meters, in one transaction."""
    rng = np.random.default_rng(SEED)
    passwords = {role: secrets.token_urlsafe(12) for role in ROLES}
    with db.Session() as session, session.begin():
        supplier = Supplier(name=SUPPLIER, billing_email=f"billing@{EMAIL_DOMAIN}")
        session.add(supplier)
        session.flush()
        for role in ROLES:
            create_user(session, supplier_name=SUPPLIER, email=f"{role}@{EMAIL_DOMAIN}",
                        name=f"{role.title()} (bench)", password=passwords[role], role=role)
        tariffs = _tariffs(supplier.id, first_day, today, settings.tariffs.domestic_vat_rate)
        session.add_all(tariffs)
        customers: list[dict[str, Any]] = []
        meter_rows: list[tuple[int, str]] = []  # (index into customers, fuel)
        while len(meter_rows) < meters:
            n = len(customers) + 1
            town, postcode = TOWNS[int(rng.integers(len(TOWNS)))]
            address = (f"{int(rng.integers(1, 180))} {STREETS[int(rng.integers(len(STREETS)))]}, "
                       f"{town} {postcode}{int(rng.integers(1, 20))} {int(rng.integers(1, 9))}"
                       f"{'ABDEFGHJ'[int(rng.integers(8))]}{'LNPQRSTU'[int(rng.integers(8))]}")
            name = (f"{FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]} "
                    f"{SURNAMES[int(rng.integers(len(SURNAMES)))]}")
            customers.append({
                "supplier_id": supplier.id, "account_number": f"BE{1_000_000 + n}", "name": name,
                "email": f"{name.lower().replace(' ', '.')}{n}@customers.example", "address": address,
            })
            fuels = ["electricity"] + (["gas"] if rng.random() < GAS_SHARE else [])
            meter_rows.extend((n - 1, fuel) for fuel in fuels[: meters - len(meter_rows)])
        customer_ids = session.scalars(
            insert(Customer).returning(Customer.id, sort_by_parameter_order=True), customers
        ).all()
        meter_ids = session.scalars(
            insert(Meter).returning(Meter.id, sort_by_parameter_order=True),
            [{
                "supplier_id": supplier.id, "customer_id": customer_ids[index],
                "serial": f"{'E' if fuel == 'electricity' else 'G'}{10_000_000 + i}", "fuel": fuel,
                "tariff_code": "STD-E" if fuel == "electricity" else "STD-G",
                "register_digits": 6 if fuel == "electricity" else 5,
                "supply_address": customers[index]["address"],
                "installed_on": first_day - timedelta(days=int(rng.integers(200, 3000))),
                "is_smart": True,
            } for i, (index, fuel) in enumerate(meter_rows)],
        ).all()
        rates: dict[str, list[Rate]] = {}
        for tariff in sorted(tariffs, key=lambda t: t.valid_from):
            rates.setdefault(tariff.code, []).append(Rate.of(tariff))
        specs = [MeterSpec(mid, fuel, "STD-E" if fuel == "electricity" else "STD-G")
                 for mid, (_, fuel) in zip(meter_ids, meter_rows, strict=True)]
        return Catalogue(supplier.id, specs, rates, passwords)


def time_period_cost(rates: dict[str, list[Rate]], tariff_settings: TariffSettings,
                     first_day: date, days: int) -> float:
    """Seconds per period for ``kwh_for`` + ``period_cost`` called one by one (no reuse)."""
    rng = np.random.default_rng(SEED)
    samples = []
    for _ in range(PRICING_SAMPLE):
        fuel = "gas" if rng.random() < 0.31 else "electricity"
        day = first_day + timedelta(days=int(rng.integers(0, max(1, days - 1))))
        start = datetime.combine(day, clock(1, 30), tzinfo=UTC)
        samples.append((fuel, start, Decimal(int(rng.integers(30, 200))) / 10))
    began = time.perf_counter()
    for fuel, start, advance in samples:
        kwh = kwh_for(fuel, advance, tariff_settings)
        cost = period_cost(rates["STD-E" if fuel == "electricity" else "STD-G"], start,
                           start + timedelta(days=1), kwh)
        _ = cost.total
    return (time.perf_counter() - began) / PRICING_SAMPLE


# -- setup: readings (spawned workers) ------------------------------------------------------


@dataclass(frozen=True)
class LoadTask:
    index: int
    url: str
    supplier_id: int
    meters: list[MeterSpec]
    rates: dict[str, list[Rate]]
    tariff_settings: dict[str, str]
    first_day: date
    days: int
    created_at: str


@dataclass(frozen=True)
class LoadResult:
    rows: int
    priced: int  # distinct periods priced with period_cost
    pricing_s: float
    text_s: float
    seconds: float


def _price(task: LoadTask, tariff_settings: TariffSettings, spec: MeterSpec, day: date,
           minute: int, tenths: int) -> str:
    """The priced period a reading closes, as COPY text: advance, kwh, days, energy, standing,
    VAT, total (full precision: the columns round to 6 places, as they do for a save)."""
    start = datetime.combine(day - timedelta(days=1), clock(minute // 60, minute % 60),
                             tzinfo=UTC)
    end = start + timedelta(days=1)
    # The memo key's day stands for the period's UK dates: true for reads at 00:00-05:59 UTC.
    assert start.astimezone(LONDON).date() == start.date() and end.astimezone(LONDON).date() == day
    advance = Decimal(tenths) / 10
    kwh = kwh_for(spec.fuel, advance, tariff_settings)
    cost = period_cost(task.rates[spec.tariff_code], start, end, kwh)
    return "\t".join(str(x) for x in (advance, kwh, cost.days, cost.energy, cost.standing,
                                      cost.vat, cost.total))


def load_readings(task: LoadTask) -> LoadResult:
    """Generate, price and COPY ``task.days`` daily readings for each of ``task.meters``."""
    began = time.perf_counter()
    tariff_settings = TariffSettings(**{k: Decimal(v) for k, v in task.tariff_settings.items()})
    n, days = len(task.meters), task.days
    rng = np.random.default_rng([SEED, task.index])
    gas = np.array([m.fuel == "gas" for m in task.meters])
    day_list = [task.first_day + timedelta(days=d) for d in range(days)]
    season = {fuel: np.array([_daily_use(fuel, day, 1.0) for day in day_list])
              for fuel in ("electricity", "gas")}
    base = np.where(gas, rng.uniform(2.0, 3.5, n), rng.uniform(6.0, 12.0, n))
    # The advance each reading closes: the previous day's use (kWh or m3) to 0.1, in tenths.
    use = np.where(gas[:, None], season["gas"][None, :-1], season["electricity"][None, :-1])
    advances = np.rint(use * base[:, None] * rng.uniform(0.7, 1.3, (n, days - 1)) * 10)
    advances = advances.astype(np.int64)
    first = np.where(gas, rng.integers(10_000, 90_000, n), rng.integers(10_000, 400_000, n))
    values = np.concatenate([first[:, None], first[:, None] + np.cumsum(advances, axis=1)], axis=1)
    minutes = rng.integers(0, READ_MINUTES, n).tolist()
    by_day_values = values.T.tolist()
    by_day_advances = advances.T.tolist()
    times = [f"{m // 60:02d}:{m % 60:02d}:00" for m in minutes]
    head = [f"{task.supplier_id}\t{m.id}\t" for m in task.meters]

    memo: dict[tuple[str, int, int], str] = {}
    pricing_s = text_s = 0.0
    rows = 0
    with psycopg.connect(psycopg_url(task.url)) as conn:
        for d, day in enumerate(day_list):
            t0 = time.perf_counter()
            stamp = day.isoformat()
            day_values = by_day_values[d]
            day_advances = by_day_advances[d - 1] if d else None
            lines = []
            for i, spec in enumerate(task.meters):
                if day_advances is None:
                    period = NO_PERIOD
                else:
                    key = (spec.tariff_code, d, day_advances[i])
                    period = memo.get(key)  # type: ignore[assignment]
                    if period is None:
                        p0 = time.perf_counter()
                        period = memo[key] = _price(task, tariff_settings, spec, day, minutes[i],
                                                    day_advances[i])
                        pricing_s += time.perf_counter() - p0
                value = day_values[i]
                lines.append(f"{head[i]}{stamp} {times[i]}\t{value // 10}.{value % 10}\tactual\tseed"
                             f"\t{period}\t{task.created_at}\n")
            body = "".join(lines)
            text_s += time.perf_counter() - t0
            with conn.cursor() as cursor, cursor.copy(COPY_READINGS) as copy:
                copy.write(body)
            rows += n
            if d % 30 == 29:
                conn.commit()
        conn.commit()
    return LoadResult(rows, len(memo), pricing_s, text_s - pricing_s, time.perf_counter() - began)


# -- setup: checks ---------------------------------------------------------------------------


def check_summaries(db: Database, supplier_id: int) -> int:
    """Recompute a sample of meters' summaries with the product's refresh_meter_summary: the
    bulk UPDATE must have set exactly the same values."""
    columns = (Meter.last_read_at, Meter.last_value, Meter.last_kind, Meter.cost_to_date_p)
    with db.Session() as session, session.begin():
        ids = session.scalars(select(Meter.id).where(Meter.supplier_id == supplier_id)
                              .order_by(Meter.id)).all()
        sample = [ids[int(i)] for i in np.random.default_rng(SEED).choice(
            len(ids), min(CHECK_METERS, len(ids)), replace=False)]
        for meter_id in sample:
            before = session.execute(select(*columns).where(Meter.id == meter_id)).one()
            refresh_meter_summary(session, meter_id)
            after = session.execute(select(*columns).where(Meter.id == meter_id)).one()
            if tuple(before) != tuple(after):
                raise RuntimeError(f"meter {meter_id}: bulk summary {before} != product {after}")
    return len(sample)


def check_pricing(db: Database, rates: dict[str, list[Rate]],
                  tariff_settings: TariffSettings, rows: int) -> int:
    """Re-price a sample of stored readings one by one with kwh_for + period_cost."""
    places = Decimal("0.000001")
    ids = [int(i) + 1 for i in np.random.default_rng(SEED).choice(rows, min(CHECK_READINGS, rows),
                                                                  replace=False)]
    checked = 0
    with db.engine.connect() as conn:
        found = conn.execute(text("""
            SELECT r.id, m.fuel, m.tariff_code, r.read_at, r.value, r.advance, r.kwh, r.days,
                   r.energy_p, r.standing_p, r.vat_p, r.total_p, p.read_at, p.value
            FROM meter_readings r JOIN meters m ON m.id = r.meter_id
            JOIN LATERAL (SELECT q.read_at, q.value FROM meter_readings q
                          WHERE q.meter_id = r.meter_id AND q.read_at < r.read_at
                          ORDER BY q.read_at DESC LIMIT 1) p ON true
            WHERE r.id = ANY(:ids)"""), {"ids": ids}).all()
        for (rid, fuel, code, read_at, value, advance, kwh, days, energy, standing, vat, total,
             prev_at, prev_value) in found:
            utc = UTC
            expected_kwh = kwh_for(fuel, value - prev_value, tariff_settings)
            cost = period_cost(rates[code], prev_at.replace(tzinfo=utc), read_at.replace(tzinfo=utc),
                               expected_kwh)
            want = (value - prev_value, expected_kwh, cost.days, cost.energy, cost.standing,
                    cost.vat, cost.total)
            got = (advance, kwh, days, energy, standing, vat, total)
            rounded = tuple(w.quantize(places, ROUND_HALF_UP) if isinstance(w, Decimal) else w
                            for w in want)
            if rounded != got:
                raise RuntimeError(f"reading {rid}: stored {got} != period_cost {rounded}")
            checked += 1
    return checked


# -- setup ------------------------------------------------------------------------------------


def setup(bench: PostgresBenchDatabase, settings: Settings, meters: int, days: int,
          workers: int) -> tuple[dict[str, Any], dict[str, str]]:
    """Build the bench database; return the setup figures and the staff passwords."""
    began = time.perf_counter()
    now = datetime.now(UTC)
    today = now.date()
    first_day = today - timedelta(days=days)  # readings on first_day .. yesterday
    bench.create()
    db = Database(settings)
    figures: dict[str, Any] = {"setup_at": now.isoformat(timespec="seconds"),
                               "first_day": first_day, "last_day": today - timedelta(days=1)}
    try:
        t0 = time.perf_counter()
        upgrade(db.engine)
        figures["setup_migrate_ms"] = ms(time.perf_counter() - t0)

        t0 = time.perf_counter()
        catalogue = seed_catalogue(db, settings, meters, first_day, today)
        figures["setup_catalogue_ms"] = ms(time.perf_counter() - t0)
        figures["customers"] = meters - sum(1 for m in catalogue.meters if m.fuel == "gas")
        figures["gas_meters"] = sum(1 for m in catalogue.meters if m.fuel == "gas")
        log(f"  catalogue: {meters:,} meters ({figures['gas_meters']:,} gas) for "
            f"{figures['customers']:,} customers, staff, tariffs: "
            f"{figures['setup_catalogue_ms'] / 1000:.1f} s")

        per_period = time_period_cost(catalogue.rates, settings.tariffs, first_day, days)
        figures["pricing_one_by_one_us_per_period"] = round(per_period * 1e6, 2)
        figures["pricing_one_by_one_estimate_ms"] = ms(per_period * meters * (days - 1))
        log(f"  pricing one by one: {per_period * 1e6:.1f} us per period (kwh_for + period_cost), "
            f"{per_period * meters * (days - 1):.0f} s for all {meters * (days - 1):,} periods in "
            "one process: each distinct (tariff, day, advance) is priced once instead")

        t0 = time.perf_counter()
        tariff_settings = {k: str(v) for k, v in settings.tariffs.model_dump().items()}
        created_at = now.replace(tzinfo=None).isoformat(sep=" ")
        chunks = np.array_split(np.arange(meters), workers)
        tasks = [LoadTask(i, bench.url, catalogue.supplier_id,
                          [catalogue.meters[j] for j in chunk], catalogue.rates, tariff_settings,
                          first_day, days, created_at)
                 for i, chunk in enumerate(chunks) if len(chunk)]
        results: list[LoadResult] = run_children(load_readings, tasks)
        rows = sum(r.rows for r in results)
        figures["setup_readings_ms"] = ms(time.perf_counter() - t0)
        figures["readings"] = rows
        figures["distinct_periods_priced"] = sum(r.priced for r in results)
        figures["setup_readings_pricing_ms"] = ms(sum(r.pricing_s for r in results))
        figures["setup_readings_text_ms"] = ms(sum(r.text_s for r in results))
        log(f"  readings: {rows:,} rows by COPY from {len(tasks)} workers in "
            f"{figures['setup_readings_ms'] / 1000:.1f} s ({rows / (time.perf_counter() - t0):,.0f}"
            f" rows/s); {figures['distinct_periods_priced']:,} distinct periods priced "
            f"({figures['setup_readings_pricing_ms'] / 1000:.1f} s of worker time), COPY text "
            f"{figures['setup_readings_text_ms'] / 1000:.1f} s of worker time")

        t0 = time.perf_counter()
        with db.engine.begin() as conn:
            updated = conn.execute(SUMMARY_UPDATE, {"supplier": catalogue.supplier_id}).rowcount
        figures["setup_summary_ms"] = ms(time.perf_counter() - t0)
        if updated != meters:
            raise RuntimeError(f"summary UPDATE touched {updated} meters, expected {meters}")
        log(f"  meter summaries: one UPDATE ... FROM over the readings' aggregates: "
            f"{figures['setup_summary_ms'] / 1000:.1f} s")

        t0 = time.perf_counter()
        with psycopg.connect(psycopg_url(bench.url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            # Flush the load's dirty pages now rather than in a checkpoint inside the timings.
            conn.execute("CHECKPOINT")
        figures["setup_vacuum_ms"] = ms(time.perf_counter() - t0)
        log(f"  VACUUM ANALYZE, CHECKPOINT: {figures['setup_vacuum_ms'] / 1000:.1f} s")

        t0 = time.perf_counter()
        figures["checked_summaries"] = check_summaries(db, catalogue.supplier_id)
        figures["checked_prices"] = check_pricing(db, catalogue.rates, settings.tariffs, rows)
        figures["setup_checks_ms"] = ms(time.perf_counter() - t0)
        log(f"  checks: {figures['checked_summaries']} meters' summaries equal "
            f"refresh_meter_summary's, {figures['checked_prices']} readings equal period_cost's "
            f"({figures['setup_checks_ms'] / 1000:.1f} s)")
        with db.engine.connect() as conn:
            figures["readings_table_mb"] = round(conn.scalar(text(
                "SELECT pg_total_relation_size('meter_readings')")) / 2**20)
    finally:
        db.engine.dispose()
    figures["setup_ms"] = ms(time.perf_counter() - began)
    bench.mark({"meters": meters, "days": days, "supplier_id": catalogue.supplier_id,
                "setup": figures})
    return figures, catalogue.passwords


# -- measurement a: SQL ------------------------------------------------------------------------


@dataclass(frozen=True)
class GridCase:
    key: str
    label: str
    start: int
    sort_model: list[dict[str, Any]] | None = None
    filter_model: dict[str, Any] | None = None

    def request(self) -> dict[str, Any]:
        """AG Grid's getRowsRequest for this page."""
        return {"startRow": self.start, "endRow": self.start + PAGE,
                "sortModel": self.sort_model or [], "filterModel": self.filter_model or {}}


def grid_cases(meters: int) -> list[GridCase]:
    deep = min(9000, max(0, meters - PAGE))
    return [
        GridCase("default", "default order", 0),
        GridCase("cost_to_date_desc", "sorted by cost to date desc", 0,
                 [{"colId": "cost_to_date", "sort": "desc"}]),
        GridCase("period_cost_desc", "sorted by cost this period desc", 0,
                 [{"colId": "period_cost", "sort": "desc"}]),
        GridCase("customer_smith", "customer contains 'smith'", 0, None,
                 {"customer": {"filterType": "text", "type": "contains", "filter": "smith"}}),
        GridCase("deep_page", f"page at start={deep}", deep),
    ]


@dataclass(frozen=True)
class SqlTask:
    url: str
    home: str
    secret: str
    supplier_id: int
    cases: list[GridCase]
    repeats: int


@dataclass
class SqlResult:
    total_s: dict[str, list[float]] = field(default_factory=dict)
    totals_s: dict[str, list[float]] = field(default_factory=dict)
    page_s: dict[str, list[float]] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    period_readings: int = 0


def measure_sql(task: SqlTask) -> SqlResult:
    """supplier_totals + meters_page per case, each repetition in a fresh session; the cases
    take turns so none profits from running right after itself."""
    from app.db.base import utcnow
    from app.meters import meters_page, supplier_totals
    from app.readings import open_period_start

    db = Database(bench_settings(task.url, task.home, task.secret))
    result = SqlResult()
    try:
        with db.engine.connect() as conn:
            result.period_readings = conn.scalar(text(
                "SELECT COUNT(*) FROM meter_readings WHERE supplier_id = :s AND read_at >= :p"),
                {"s": task.supplier_id, "p": open_period_start(utcnow()).replace(tzinfo=None)})
        for rep in range(-WARMUP, task.repeats):
            for case in task.cases:
                with db.Session() as session:
                    now = utcnow()
                    t0 = time.perf_counter()
                    supplier_totals(session, task.supplier_id, now)
                    t1 = time.perf_counter()
                    rows, count = meters_page(session, task.supplier_id, start=case.start,
                                              end=case.start + PAGE, sort_model=case.sort_model,
                                              filter_model=case.filter_model, now=now)
                    t2 = time.perf_counter()
                if rep < 0:
                    continue
                result.total_s.setdefault(case.key, []).append(t2 - t0)
                result.totals_s.setdefault(case.key, []).append(t1 - t0)
                result.page_s.setdefault(case.key, []).append(t2 - t1)
                result.count[case.key], result.rows[case.key] = count, len(rows)
    finally:
        db.engine.dispose()
    return result


# -- measurements b, c: the Dash endpoint ------------------------------------------------------


@dataclass
class EndpointResult:
    preview_s: list[float] = field(default_factory=list)
    grid_s: dict[str, list[float]] = field(default_factory=dict)
    totals_s: list[float] = field(default_factory=list)
    preview_meters: int = 0


def measure_endpoint(client: DashClient, db: Database, supplier_id: int, cases: list[GridCase],
                     counts: dict[str, int], repeats: int) -> EndpointResult:
    from layouts import ids

    result = EndpointResult()
    # Meters the "user" enters readings for: a spread of the supplier's meters.
    with db.Session() as session:
        meters = session.execute(
            select(Meter.id, Meter.last_value).where(Meter.supplier_id == supplier_id)
            .order_by(Meter.id)).all()
    picks = [meters[int(i)] for i in np.random.default_rng(SEED).choice(
        len(meters), min(10, len(meters)), replace=False)]
    result.preview_meters = len(picks)

    preview = client.callback(f"{ids.READING_PREVIEW}.children")
    for rep in range(-WARMUP, repeats):
        meter_id, last_value = picks[rep % len(picks)]
        typed = last_value + 1 + (rep + WARMUP) // len(picks)  # previous reading + k
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        values = {
            f"{ids.READING_VALUE}.value": f"{typed.normalize():f}",
            f"{ids.READING_AT}.value": now.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M"),
            f"{ids.READING_AT}-collapse.is_open": False,
            f"{ids.READING_LOWER_MEANS}.value": "correction",
            f"{ids.READING_REASON}.value": "",
            f"{ids.READING_STORE}.data": {"meter_id": meter_id, "opened_at": now.isoformat()},
        }
        seconds, body = client.post(dash_payload(preview, values, f"{ids.READING_VALUE}.value"))
        if "Period total" not in json.dumps(body):
            raise RuntimeError(f"live preview for meter {meter_id} shows no period total: "
                               f"{json.dumps(body)[:500]}")
        if rep >= 0:
            result.preview_s.append(seconds)

    grid = client.callback(f"{ids.METERS_GRID}.getRowsResponse")
    for rep in range(-WARMUP, repeats):
        for case in cases:
            values = {f"{ids.METERS_GRID}.getRowsRequest": case.request()}
            seconds, body = client.post(dash_payload(grid, values,
                                                     f"{ids.METERS_GRID}.getRowsRequest"))
            answer = body["response"][ids.METERS_GRID]["getRowsResponse"]
            if answer["rowCount"] != counts[case.key] or not answer["rowData"]:
                raise RuntimeError(f"grid {case.key}: rowCount {answer['rowCount']}, "
                                   f"{len(answer['rowData'])} rows (expected {counts[case.key]})")
            if rep >= 0:
                result.grid_s.setdefault(case.key, []).append(seconds)

    totals = client.callback(f"{ids.METERS_TOTAL}.children")
    for rep in range(-WARMUP, repeats):
        values = {f"{ids.URL}.pathname": "/meters", f"{ids.METERS_SAVED}.data": 0}
        seconds, body = client.post(dash_payload(totals, values, f"{ids.URL}.pathname"))
        if "£" not in json.dumps(body, ensure_ascii=False):
            raise RuntimeError(f"TOTAL callback shows no amount: {json.dumps(body)[:300]}")
        if rep >= 0:
            result.totals_s.append(seconds)
    return result


# -- report ------------------------------------------------------------------------------------


def report(figures: dict[str, Any], cases: list[GridCase]) -> dict[str, str]:
    verdicts: dict[str, str] = {}
    print()
    print(f"Setup: {figures['meters']:,} meters x {figures['days']} days = "
          f"{figures['readings']:,} readings ({figures['readings_table_mb']:,} MB with indexes), "
          f"{figures['setup_ms'] / 1000:.1f} s"
          + (" (reused --keep database)" if figures["reused"] else ""))
    print(f"Open billing period: {figures['period_readings']:,} readings")
    print()
    print(f"a. supplier_totals + meters_page in SQL, {figures['repeats']} runs each (target: max <= "
          f"{SQL_TARGET_MS:.0f} ms)")
    print(f"{'grid request':<36}{'matches':>8}{'p50':>9}{'p95':>9}{'max':>9}"
          f"{'TOTAL p50':>11}{'page p50':>10}  verdict")
    for case in cases:
        k = f"sql_{case.key}"
        ok = figures[f"{k}_max_ms"] <= SQL_TARGET_MS
        verdicts[f"{k}_max_ms"] = verdict(ok)
        print(f"{case.label:<36}{figures[f'{k}_count']:>8,}{figures[f'{k}_p50_ms']:>9.1f}"
              f"{figures[f'{k}_p95_ms']:>9.1f}{figures[f'{k}_max_ms']:>9.1f}"
              f"{figures[f'{k}_totals_p50_ms']:>11.1f}{figures[f'{k}_page_p50_ms']:>10.1f}  "
              f"{verdict(ok)}")
    print()
    print(f"b, c. through POST /_dash-update-component (logged-in operator), {figures['repeats']} "
          "runs each")
    print(f"{'callback':<48}{'p50':>9}{'p95':>9}{'max':>9}  verdict")
    ok = figures["preview_p50_ms"] <= PREVIEW_TARGET_MS
    verdicts["preview_p50_ms"] = verdict(ok)
    print(f"{'live_preview (target: p50 <= 100 ms)':<48}{figures['preview_p50_ms']:>9.1f}"
          f"{figures['preview_p95_ms']:>9.1f}{figures['preview_max_ms']:>9.1f}  {verdict(ok)}")
    for case in cases:
        k = f"grid_cb_{case.key}"
        print(f"{'grid_rows: ' + case.label:<48}{figures[f'{k}_p50_ms']:>9.1f}"
              f"{figures[f'{k}_p95_ms']:>9.1f}{figures[f'{k}_max_ms']:>9.1f}  (info)")
    print(f"{'totals (the TOTAL card)':<48}{figures['totals_cb_p50_ms']:>9.1f}"
          f"{figures['totals_cb_p95_ms']:>9.1f}{figures['totals_cb_max_ms']:>9.1f}  (info)")
    print()
    return verdicts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=10_000, help="meters of the supplier")
    parser.add_argument("--days", type=int, default=365, help="daily readings per meter")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per measurement")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes loading the readings")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TWIN_TEST_POSTGRES_URL") or DEFAULT_PG_URL,
        help="server to create the bench database on (its own database is not touched)",
    )
    parser.add_argument("--keep", action="store_true",
                        help="build or reuse twin_bench_portal_keep_<meters>x<days>, and keep it")
    args = parser.parse_args(argv)
    if args.meters < PAGE or args.days < 2 or args.repeats < 1 or args.workers < 1:
        parser.error(f"--meters must be >= {PAGE}, --days >= 2, --repeats and --workers >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A terminated run still drops its database and stops its children (the finally blocks).
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    figures: dict[str, Any] = {
        "benchmark": "portal",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "meters": args.meters,
        "days": args.days,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_start": loadavg(),
    }
    cases = grid_cases(args.meters)
    secret = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="twin_bench_portal_") as home:
        bench = PostgresBenchDatabase(args.postgres_url, "twin_bench_portal",
                                      f"{args.meters}x{args.days}", args.keep)
        try:
            settings = bench_settings(bench.url, home, secret)
            figures["postgres"] = bench.server_version
            marker = bench.marker() if args.keep else None
            if marker is not None:
                log(f"reusing {bench.name} (set up {marker['setup']['setup_at']})")
                db = Database(settings)
                try:
                    emails = {role: f"{role}@{EMAIL_DOMAIN}" for role in ROLES}
                    fresh = new_passwords(db, list(emails.values()))
                    passwords = {role: fresh[email] for role, email in emails.items()}
                finally:
                    db.engine.dispose()
                setup_figures, supplier_id = marker["setup"], marker["supplier_id"]
                figures["reused"] = True
            else:
                log(f"setting up {bench.name}: {args.meters:,} meters x {args.days} days...")
                setup_figures, passwords = setup(bench, settings, args.meters, args.days,
                                                 args.workers)
                supplier_id = bench.marker()["supplier_id"]  # type: ignore[index]
                figures["reused"] = False
            figures.update(setup_figures)
            age = (datetime.now(UTC).date() - date.fromisoformat(str(figures["last_day"]))).days
            figures["data_age_days"] = age - 1
            if age > 1:
                log(f"  note: the last readings are from {figures['last_day']}, {age} days ago")

            log("a. supplier_totals + meters_page in SQL...")
            sql: SqlResult = run_children(measure_sql, [SqlTask(
                bench.url, home, secret, supplier_id, cases, args.repeats)])[0]
            figures["period_readings"] = sql.period_readings
            for case in cases:
                k = f"sql_{case.key}"
                figures.update({f"{k}_{n}": v for n, v in stats(sql.total_s[case.key]).items()})
                figures[f"{k}_totals_p50_ms"] = stats(sql.totals_s[case.key])["p50_ms"]
                figures[f"{k}_page_p50_ms"] = stats(sql.page_s[case.key])["p50_ms"]
                figures[f"{k}_count"], figures[f"{k}_start"] = sql.count[case.key], case.start
                log(f"  {case.label}: p50 {figures[f'{k}_p50_ms']:.1f} ms, "
                    f"max {figures[f'{k}_max_ms']:.1f} ms")
            figures["sql_max_ms"] = max(figures[f"sql_{c.key}_max_ms"] for c in cases)

            log("b, c. the Dash endpoint...")
            server = PortalServer(ServeTask(bench.url, home, secret))
            db = Database(settings)
            try:
                client = DashClient(server.port, f"operator@{EMAIL_DOMAIN}", passwords["operator"])
                endpoint = measure_endpoint(client, db, supplier_id, cases, sql.count, args.repeats)
            finally:
                db.engine.dispose()
                server.stop()
            figures.update({f"preview_{n}": v for n, v in stats(endpoint.preview_s).items()})
            figures["preview_meters"] = endpoint.preview_meters
            for case in cases:
                figures.update({f"grid_cb_{case.key}_{n}": v
                                for n, v in stats(endpoint.grid_s[case.key]).items()})
            figures.update({f"totals_cb_{n}": v for n, v in stats(endpoint.totals_s).items()})
            log(f"  live_preview: p50 {figures['preview_p50_ms']:.1f} ms")
        finally:
            bench.close()
            if args.keep:
                log(f"kept {bench.name} (drop it with: {bench.how_to_drop()})")
    figures["loadavg_end"] = loadavg()
    figures["targets"] = report(figures, cases)
    figures["pass"] = all(v == "PASS" for v in figures["targets"].values())
    print(json.dumps(figures, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
