"""Load benchmark: concurrent logged-in clients saving meter readings through the served app.

The product's web process (``app.cli.web_server``: waitress with ``web.threads`` threads, as
``twin web`` serves it) runs in a spawned child on PostgreSQL. In this process, one thread per
client, all released together:

* ``--dash-clients`` browsers, each a real login (``GET /login`` for the CSRF token, then the
  form ``POST``) as its own operator, each saving ``--readings`` readings of its own meter
  through the reading modal's save callback (``/_dash-update-component``, the payload built
  from ``/_dash-dependencies`` as dash-renderer builds it);
* ``--api-clients`` devices, each with its own write token, each posting ``--readings``
  readings of its own meter to ``POST /api/v1/meters/{id}/readings``.

Every meter starts with one reading at the start of the window; each client's readings follow
it a step apart with a constant advance, all within today's part of the open billing period (UK
time), so the modal's rules accept every one and no warning needs a reason. ``--retries`` of
each client's readings are sent twice: first with a read timeout so short that the response is
lost (the server still gets the whole request), then again as a client that never heard back
would: the second must not store a second row, whether it arrives while the first is still
being saved (it waits on the meter's row lock) or after.

Then it counts in the database: exactly clients x readings new rows, no (meter, read_at) twice,
each meter's readings exactly the ones sent, each meter's ``cost_to_date_p`` the sum of its
readings' ``total_p``, one ``reading.created`` audit row per stored reading. Latency is each
request's round trip (response body read), p50 / p95 / max per surface.

Usage::

    .venv/bin/python bench/load.py [--dash-clients 25] [--api-clients 25] [--readings 100]
                                   [--retries 4] [--postgres-url URL]

``tests/test_load.py`` runs the same functions at 50 x 100 in the suite. The table goes to
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
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from _support import (
    DashClient,
    PortalServer,
    PostgresBenchDatabase,
    ServeTask,
    bench_settings,
    dash_payload,
    loadavg,
    log,
    stats,
)
from sqlalchemy import func, select

from app.db import Database
from app.db.migrate import upgrade

SUPPLIER = "Load Energy"
DOMAIN = "load.test"
START_VALUE = Decimal("1000.000")
ADVANCE = Decimal("1.250")  # per reading: constant, so no reading looks unusual
MAX_STEP = timedelta(minutes=1)
#: The lost first send of a retried reading: long enough to send the request, too short for
#: any answer to arrive.
LOST_READ_TIMEOUT_S = 0.001
TIMEOUT_S = 120
SAVE = ("reading-result.children", "reading-save.n_clicks")
#: Settings of the served app. Its sign-in limit per client address (web.login_rate_limit) is
#: there against guessing from one place; here every client logs in from 127.0.0.1 within a
#: second, as staff behind one office address might.
SERVED = (("web__login_rate_limit", "10000 per minute"),)


@dataclass(frozen=True)
class Plan:
    dash_clients: int = 25
    api_clients: int = 25
    readings: int = 100  # per client
    retries: int = 4  # per client: readings whose first response is lost, then re-sent

    @property
    def clients(self) -> int:
        return self.dash_clients + self.api_clients

    @property
    def rows(self) -> int:
        return self.clients * self.readings

    def retried(self, k: int) -> bool:
        """Whether reading ``k`` (from 0) is one of the client's lost-and-re-sent ones."""
        if not self.retries:
            return False
        every = max(1, self.readings // self.retries)
        return k % every == every // 2 and k // every < self.retries


@dataclass(frozen=True)
class Client:
    surface: str  # "dash" | "api"
    meter_id: int
    email: str | None = None
    password: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class Estate:
    """What :func:`prepare` made: one supplier, a meter per client, and the readings to send."""

    supplier_id: int
    clients: list[Client]
    times: list[datetime]  # reading k of every client is at times[k]
    values: list[str]  # and has values[k]
    start: datetime  # the meters' first reading, before any sent

    @property
    def meter_ids(self) -> list[int]:
        return [c.meter_id for c in self.clients]


def window(now: datetime, readings: int) -> tuple[datetime, timedelta]:
    """The first reading's time and the step between readings: within today (UK) and the open
    billing period, so the modal takes them all, and no period spans a midnight (a whole day's
    standing charge would make the next minute's advance look far above normal)."""
    from app.readings import open_period_start
    from app.tariffs import LONDON

    midnight = now.astimezone(LONDON).replace(hour=0, minute=0, second=0, microsecond=0)
    start = max(open_period_start(now), midnight.astimezone(UTC)) + timedelta(seconds=1)
    step = min(MAX_STEP, (now - timedelta(seconds=5) - start) / (readings + 1))
    if step < timedelta(milliseconds=1):
        raise RuntimeError(f"{now:%H:%M:%S} UTC is too close to midnight in the UK for "
                           f"{readings} readings today: run again in a minute")
    return start, step


def prepare(db: Database, plan: Plan, now: datetime | None = None) -> Estate:
    """On a migrated database: a supplier; an operator (with a password) per Dash client and a
    write token per API client; an electricity meter per client on a VAT-inclusive tariff, with
    its first reading at the start of the window."""
    from app.accounts import create_user
    from app.api_tokens import create_token
    from app.db.models import Customer, Meter, MeterReading, Supplier, Tariff
    from app.readings import refresh_meter_summary

    now = now or datetime.now(UTC)
    start, step = window(now, plan.readings)
    clients: list[Client] = []
    with db.Session() as session, session.begin():
        supplier = Supplier(name=SUPPLIER, billing_email=f"billing@{DOMAIN}")
        session.add(supplier)
        session.flush()
        session.add(Tariff(supplier_id=supplier.id, code="LOAD-E", name="Load electricity",
                           fuel="electricity", unit_rate_p_per_kwh=Decimal("24.50"),
                           standing_charge_p_per_day=Decimal("60.99"), vat_rate=Decimal("0.05"),
                           prices_include_vat=True, valid_from=date(2020, 1, 1)))
        for i in range(plan.clients):
            surface = "dash" if i < plan.dash_clients else "api"
            serial = f"L{i:05d}"
            customer = Customer(supplier_id=supplier.id, account_number=f"A-{serial}",
                                name=f"Customer {i}", address=f"{i} Load Street, Derby DE1 1AA")
            session.add(customer)
            session.flush()
            meter = Meter(supplier_id=supplier.id, customer_id=customer.id, serial=serial,
                          fuel="electricity", tariff_code="LOAD-E", register_digits=6,
                          supply_address=customer.address, installed_on=date(2020, 1, 1))
            session.add(meter)
            session.flush()
            session.add(MeterReading(supplier_id=supplier.id, meter_id=meter.id, read_at=start,
                                     value=START_VALUE, kind="actual", source="seed"))
            session.flush()
            refresh_meter_summary(session, meter.id)
            if surface == "dash":
                email, password = f"operator{i}@{DOMAIN}", secrets.token_urlsafe(12)
                create_user(session, supplier_name=SUPPLIER, email=email, name=f"Operator {i}",
                            password=password, role="operator")
                clients.append(Client(surface, meter.id, email=email, password=password))
            else:
                _, token = create_token(session, supplier_id=supplier.id, actor_id=None,
                                        name=f"device {i}", scope="write")
                clients.append(Client(surface, meter.id, token=token))
        supplier_id = supplier.id
    times = [start + step * (k + 1) for k in range(plan.readings)]
    values = [f"{START_VALUE + ADVANCE * (k + 1):.3f}" for k in range(plan.readings)]
    return Estate(supplier_id, clients, times, values, start)


# -- the clients --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one client saw."""

    surface: str
    latencies_s: list[float] = field(default_factory=list)  # every answered request but retries
    retry_latencies_s: list[float] = field(default_factory=list)
    lost: int = 0  # first sends whose response did not arrive in time, as intended
    retry_duplicates: int = 0  # re-sends answered "already stored"
    errors: list[str] = field(default_factory=list)
    login_s: float | None = None


class _Sender:
    """One client: sends reading ``k`` and says whether it was stored (or already was)."""

    surface = ""

    def __init__(self, port: int, client: Client, estate: Estate) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.client = client
        self.estate = estate

    def send(self, k: int, timeout: Any) -> tuple[bool, bool, str]:
        """(stored or already stored, said "already stored", what went wrong)."""
        raise NotImplementedError


class DashSender(_Sender):
    surface = "dash"

    def __init__(self, port: int, client: Client, estate: Estate) -> None:
        super().__init__(port, client, estate)
        assert client.email and client.password
        started = time.perf_counter()
        self.browser = DashClient(port, client.email, client.password)
        self.login_s = time.perf_counter() - started
        self.dependency = self.browser.callback(*SAVE)

    def send(self, k: int, timeout: Any) -> tuple[bool, bool, str]:
        payload = dash_payload(self.dependency, {
            "reading-save.n_clicks": k + 1,
            "reading-value.value": self.estate.values[k],
            "reading-store.data": {"meter_id": self.client.meter_id,
                                   "opened_at": self.estate.times[k].isoformat()},
            "reading-at-collapse.is_open": False,
            "meters-saved.data": k,
        }, SAVE[1])
        response = self.browser.http.post(f"{self.base}/_dash-update-component", json=payload,
                                          timeout=timeout)
        # The modal answers a repeated save with "Saved." too (its log says "duplicate").
        ok = response.status_code == 200 and "Saved." in response.text
        return ok, False, "" if ok else f"HTTP {response.status_code}: {response.text[:300]}"


class ApiSender(_Sender):
    surface = "api"

    def __init__(self, port: int, client: Client, estate: Estate) -> None:
        import requests

        super().__init__(port, client, estate)
        self.login_s = None
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {client.token}"
        self.url = f"{self.base}/api/v1/meters/{client.meter_id}/readings"

    def send(self, k: int, timeout: Any) -> tuple[bool, bool, str]:
        response = self.http.post(self.url, timeout=timeout, json={
            "value": self.estate.values[k], "read_at": self.estate.times[k].isoformat()})
        if response.status_code in (200, 201):
            body = response.json()
            ok = body["value"] is not None and Decimal(str(body["value"])) == Decimal(
                self.estate.values[k])
            return ok, bool(body.get("duplicate")), "" if ok else f"wrong value: {body}"
        return False, False, f"HTTP {response.status_code}: {response.text[:300]}"


def _client_main(sender: _Sender, plan: Plan, go: threading.Barrier, outcome: Outcome) -> None:
    import requests

    try:
        go.wait(TIMEOUT_S)
    except threading.BrokenBarrierError:
        outcome.errors.append("never started: another client failed to log in")
        return
    for k in range(plan.readings):
        try:
            if plan.retried(k):
                try:
                    sender.send(k, (TIMEOUT_S, LOST_READ_TIMEOUT_S))
                except requests.exceptions.ReadTimeout:
                    outcome.lost += 1
                t0 = time.perf_counter()
                ok, duplicate, problem = sender.send(k, TIMEOUT_S)
                outcome.retry_latencies_s.append(time.perf_counter() - t0)
                outcome.retry_duplicates += duplicate
            else:
                t0 = time.perf_counter()
                ok, _, problem = sender.send(k, TIMEOUT_S)
                outcome.latencies_s.append(time.perf_counter() - t0)
        except requests.RequestException as exc:
            ok, problem = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            outcome.errors.append(f"{sender.surface} meter {sender.client.meter_id} reading {k}: "
                                  f"{problem}")


@dataclass
class Run:
    outcomes: list[Outcome]
    seconds: float  # from the release of all clients to the last answer
    client_cpu_s: float  # this process's CPU over those seconds (the clients' own cost)

    def surface(self, name: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.surface == name]

    @property
    def errors(self) -> list[str]:
        return [e for o in self.outcomes for e in o.errors]


def run(port: int, estate: Estate, plan: Plan) -> Run:
    """Log every client in (at once), release them together, wait for all to finish."""
    outcomes = [Outcome(c.surface) for c in estate.clients]
    senders: list[_Sender | None] = [None] * len(estate.clients)

    def connect(i: int) -> None:
        client = estate.clients[i]
        try:
            senders[i] = (DashSender if client.surface == "dash" else ApiSender)(
                port, client, estate)
            outcomes[i].login_s = senders[i].login_s  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - reported as the client's error
            outcomes[i].errors.append(f"{client.surface} client {i} could not start: {exc}")

    logins = [threading.Thread(target=connect, args=(i,)) for i in range(len(estate.clients))]
    for thread in logins:
        thread.start()
    for thread in logins:
        thread.join()
    ready = [(s, o) for s, o in zip(senders, outcomes, strict=True) if s is not None]
    go = threading.Barrier(len(ready) + 1)
    threads = [threading.Thread(target=_client_main, args=(s, plan, go, o), daemon=True)
               for s, o in ready]
    for thread in threads:
        thread.start()
    go.wait(TIMEOUT_S)
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    return Run(outcomes, time.perf_counter() - started, time.process_time() - cpu)


# -- what was stored ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    rows: int  # new readings (the meters' first, seeded readings aside)
    doubled: int  # (meter, read_at) pairs stored more than once
    wrong_meters: list[int]  # meters whose new readings are not exactly the ones sent
    cost_mismatches: list[int]  # meters whose cost_to_date_p is not the sum of their totals
    audit_rows: int  # reading.created rows for the load's meters


def count_stored(db: Database, estate: Estate) -> Stored:
    from app.db.models import AuditLog, Meter, MeterReading

    expected = [(t, Decimal(v)) for t, v in zip(estate.times, estate.values, strict=True)]
    meters = estate.meter_ids
    with db.Session() as session:
        sent = (MeterReading.meter_id.in_(meters), MeterReading.source != "seed")
        rows = session.scalar(select(func.count()).select_from(MeterReading).where(*sent)) or 0
        doubled = session.scalar(select(func.count()).select_from(
            select(MeterReading.meter_id).where(MeterReading.meter_id.in_(meters))
            .group_by(MeterReading.meter_id, MeterReading.read_at)
            .having(func.count() > 1).subquery())) or 0
        found: dict[int, list[tuple[datetime, Decimal]]] = {m: [] for m in meters}
        for meter_id, read_at, value in session.execute(
                select(MeterReading.meter_id, MeterReading.read_at, MeterReading.value)
                .where(*sent).order_by(MeterReading.meter_id, MeterReading.read_at)):
            found[meter_id].append((read_at, Decimal(value)))
        wrong = [m for m, got in found.items() if got != expected]
        totals = dict(session.execute(
            select(MeterReading.meter_id, func.coalesce(func.sum(MeterReading.total_p), 0))
            .where(MeterReading.meter_id.in_(meters)).group_by(MeterReading.meter_id)).all())
        costs = dict(session.execute(select(Meter.id, Meter.cost_to_date_p)
                                     .where(Meter.id.in_(meters))).all())
        mismatches = [m for m in meters if Decimal(costs[m] or 0) != Decimal(totals.get(m) or 0)]
        audits = session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "reading.created", AuditLog.entity == "meter",
            AuditLog.entity_id.in_([str(m) for m in meters]))) or 0
    return Stored(rows, doubled, wrong, mismatches, audits)


def figures_of(run_: Run, stored: Stored, plan: Plan) -> dict[str, Any]:
    """The run's figures, named as docs/benchmarks.md names them (times in ms)."""
    out: dict[str, Any] = {
        "clients": plan.clients, "dash_clients": plan.dash_clients,
        "api_clients": plan.api_clients, "readings_per_client": plan.readings,
        "retries_per_client": plan.retries,
        "expected_rows": plan.rows, "stored_rows": stored.rows, "doubled_pairs": stored.doubled,
        "wrong_meters": len(stored.wrong_meters), "cost_mismatches": len(stored.cost_mismatches),
        "audit_rows": stored.audit_rows, "errors": len(run_.errors),
        "run_ms": round(run_.seconds * 1000), "client_cpu_s": round(run_.client_cpu_s, 2),
        "requests": 0,
    }
    for name in ("dash", "api"):
        outcomes = run_.surface(name)
        latencies = [s for o in outcomes for s in o.latencies_s]
        retries = [s for o in outcomes for s in o.retry_latencies_s]
        out["requests"] += len(latencies) + 2 * len(retries)
        if latencies:
            out.update({f"{name}_{k}": v for k, v in stats(latencies).items()})
            out[f"{name}_requests"] = len(latencies)
        if retries:
            out.update({f"{name}_retry_{k}": v for k, v in stats(retries).items()})
        out[f"{name}_lost_responses"] = sum(o.lost for o in outcomes)
        out[f"{name}_retries"] = len(retries)
        logins = [o.login_s for o in outcomes if o.login_s is not None]
        if logins:
            out.update({f"{name}_login_{k}": v for k, v in stats(logins).items()})
    out["api_retry_duplicates"] = sum(o.retry_duplicates for o in run_.surface("api"))
    out["requests_per_s"] = round(out["requests"] / run_.seconds, 1) if run_.seconds else None
    out["stored_ratio"] = round(stored.rows / plan.rows, 6) if plan.rows else None
    return out


def table(figures: dict[str, Any]) -> str:
    lines = ["| surface | requests | p50 ms | p95 ms | max ms | retries (lost first answers) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, label in (("dash", "Dash save callback"), ("api", "API POST reading")):
        if f"{name}_p50_ms" in figures:
            lines.append(f"| {label} | {figures[f'{name}_requests']:,} | "
                         f"{figures[f'{name}_p50_ms']} | {figures[f'{name}_p95_ms']} | "
                         f"{figures[f'{name}_max_ms']} | {figures[f'{name}_retries']} "
                         f"({figures[f'{name}_lost_responses']}) |")
    lines.append("")
    lines.append(f"rows stored {figures['stored_rows']:,} of {figures['expected_rows']:,}; "
                 f"(meter, time) twice: {figures['doubled_pairs']}; meters wrong: "
                 f"{figures['wrong_meters']}; cost_to_date mismatches: {figures['cost_mismatches']}; "
                 f"audit rows {figures['audit_rows']:,}; errors {figures['errors']}")
    lines.append(f"{figures['requests']:,} requests in {figures['run_ms'] / 1000:.1f} s "
                 f"({figures['requests_per_s']} a second)")
    return "\n".join(lines)


def passed(figures: dict[str, Any]) -> bool:
    return (figures["stored_rows"] == figures["expected_rows"] == figures["audit_rows"]
            and figures["doubled_pairs"] == figures["wrong_meters"] == 0
            and figures["cost_mismatches"] == figures["errors"] == 0)


# -- the script ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dash-clients", type=int, default=25)
    parser.add_argument("--api-clients", type=int, default=25)
    parser.add_argument("--readings", type=int, default=100, help="per client")
    parser.add_argument("--retries", type=int, default=4, help="lost-and-re-sent readings per client")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "TWIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    plan = Plan(args.dash_clients, args.api_clients, args.readings, args.retries)
    figures: dict[str, Any] = {
        "benchmark": "load", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(), "loadavg_start": loadavg(),
    }
    secret = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="twin_bench_load_") as home:
        bench = PostgresBenchDatabase(args.postgres_url, "twin_bench_load", "run", keep=False)
        try:
            figures["postgres"] = bench.server_version
            bench.create()
            settings = bench_settings(bench.url, home, secret)
            db = Database(settings)
            try:
                upgrade(db.engine)
                log(f"preparing {plan.clients} clients' meters, users and tokens...")
                estate = prepare(db, plan)
                log(f"serving the app ({settings.web.threads} threads) and logging in...")
                server = PortalServer(ServeTask(bench.url, home, secret, overrides=SERVED))
                try:
                    log(f"{plan.clients} clients x {plan.readings} readings...")
                    cpu = server.cpu_s()
                    result = run(server.port, estate, plan)
                    figures["web_cpu_s"] = round(server.cpu_s() - cpu, 2) if cpu else None
                    figures["web_peak_rss_mb"] = server.peak_rss_mb()
                finally:
                    server.stop()
                figures.update(figures_of(result, count_stored(db, estate), plan))
                for problem in result.errors[:20]:
                    log(f"  {problem}")
            finally:
                db.engine.dispose()
        finally:
            bench.close()
    figures["web_threads"] = settings.web.threads
    figures["loadavg_end"] = loadavg()
    figures["pass"] = passed(figures)
    print(table(figures))
    print(json.dumps(figures, default=str))
    return 0 if figures["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
