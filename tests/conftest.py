"""Shared fixtures (flaskr style: ``app``, ``client``, ``runner``, ``auth``) and live services.

Live services are opt-in by environment, and never skipped silently once asked for:
``TWIN_TEST_POSTGRES_URL`` and ``TWIN_TEST_REDIS_URL`` (set by ``.ci/run``),
``TWIN_TEST_MSSQL_URL`` (wherever a SQL Server exists). When a variable is set and its server
does not answer, the tests that need it fail.

Every SQL statement the application issues during the run is captured and, at the end of the
session, compiled under the SQL Server dialect (see ``mssql_capture``): that is how SQL Server is
covered on machines that cannot run it.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from app.db import Database
from app.db.migrate import upgrade
from settings import Settings, load_settings
from tests import mssql_capture

# The SQL Server compile check runs when the session ends (see tests/mssql_capture.py).
mssql_capture.activate()
pytest_sessionfinish = mssql_capture.pytest_sessionfinish

LIVE_MARKERS = ("postgres", "redis", "mssql", "browser")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    """Say how many tests ran against each live service, so a CI log proves they ran."""
    mssql_capture.pytest_terminal_summary(terminalreporter, exitstatus, config)
    terminalreporter.section("live services")
    for marker in LIVE_MARKERS:
        counts = {}
        for outcome in ("passed", "failed", "skipped", "error"):
            counts[outcome] = sum(
                1 for report in terminalreporter.stats.get(outcome, [])
                if getattr(report, "when", "call") in ("call", "setup")
                and marker in getattr(report, "keywords", {})
                and (outcome != "skipped" or report.when == "setup" or report.when == "call")
            )
        terminalreporter.write_line(
            f"{marker}: {counts['passed']} passed, {counts['failed'] + counts['error']} failed, "
            f"{counts['skipped']} skipped"
        )

POSTGRES_ENV = "TWIN_TEST_POSTGRES_URL"
REDIS_ENV = "TWIN_TEST_REDIS_URL"
MSSQL_ENV = "TWIN_TEST_MSSQL_URL"
TEST_SECRET = "test-" + "x" * 40


def make_settings(home: Path, **overrides: object) -> Settings:
    """Settings for a test: everything under ``home``, nothing read from the caller's TWIN_*."""
    defaults: dict[str, object] = {"home": str(home), "secret_key": TEST_SECRET}
    defaults.update(overrides)
    return load_settings(environ={}, **defaults)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    upgrade(database.engine)
    yield database
    database.engine.dispose()


# -- live PostgreSQL ----------------------------------------------------------------------


def _require_env(name: str) -> str:
    url = os.environ.get(name)
    if not url:
        pytest.skip(f"{name} is not set (CI sets it; see .ci/run)")
    return url


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = _require_env(POSTGRES_ENV)
    engine = create_engine(_pg(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{POSTGRES_ENV}={url} is set but PostgreSQL does not answer: {exc}")
    finally:
        engine.dispose()
    return url


def _pg(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def temporary_postgres_database(server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the server, dropped afterwards; yields its URL."""
    name = f"twin_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(_pg(server_url)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    with temporary_postgres_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def pg_db(tmp_path: Path, postgres_url: str) -> Iterator[Database]:
    database = Database(make_settings(tmp_path, database__url=postgres_url))
    upgrade(database.engine)
    yield database
    database.engine.dispose()


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_db(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """``any_db`` for a whole module: one migrated SQLite and one PostgreSQL database, shared by
    tests that each make their own supplier (a migration per test would take most of the run).
    Rows are only ever added, so "refused, nothing stored" is still checked exactly."""
    home = tmp_path_factory.mktemp("shared_db")
    with ExitStack() as stack:
        overrides = {}
        if request.param == "postgresql":
            server = request.getfixturevalue("postgres_server_url")
            overrides["database__url"] = stack.enter_context(temporary_postgres_database(server))
        database = Database(make_settings(home, **overrides))
        upgrade(database.engine)
        yield database
        database.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db(request: pytest.FixtureRequest) -> Database:
    """The same test on the embedded SQLite and on live PostgreSQL."""
    return request.getfixturevalue("db" if request.param == "sqlite" else "pg_db")


# -- live Redis ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = _require_env(REDIS_ENV)
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{REDIS_ENV}={url} is set but Redis does not answer: {exc}")
    return url


# -- web ----------------------------------------------------------------------------------


@dataclass
class Tenant:
    supplier_id: int
    name: str
    users: dict[str, tuple[str, str]]  # role -> (email, password)


def add_tenant(database: Database, name: str) -> Tenant:
    """A supplier with an admin, an operator and a viewer."""
    from app.accounts import create_user
    from app.db.models import Supplier

    users = {}
    with database.Session() as session, session.begin():
        supplier = Supplier(name=name, billing_email=f"billing@{name.lower().replace(' ', '')}.test")
        session.add(supplier)
        session.flush()
        for role in ("admin", "operator", "viewer"):
            email = f"{role}@{name.lower().replace(' ', '')}.test"
            password = secrets.token_urlsafe(12)
            create_user(session, supplier_name=name, email=email, name=role.title(),
                        password=password, role=role)
            users[role] = (email, password)
        supplier_id = supplier.id
    return Tenant(supplier_id, name, users)


@pytest.fixture
def tenants(db: Database) -> tuple[Tenant, Tenant]:
    return add_tenant(db, "Alpha Energy"), add_tenant(db, "Beta Power")


@pytest.fixture
def app(settings: Settings, db: Database) -> Flask:
    from app import create_app

    server = create_app(settings)
    server.config.update(TESTING=True)
    return server


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def login(self, email: str, password: str, next_url: str | None = None):  # type: ignore[no-untyped-def]
        page = self._client.get("/login")
        token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
        data = {"email": email, "password": password, "csrf_token": token}
        if next_url:
            data["next"] = next_url
        return self._client.post("/login", data=data)

    def logout(self):  # type: ignore[no-untyped-def]
        return self._client.get("/logout")


class DashCaller:
    """Calls a callback the way the Dash renderer does, built from /_dash-dependencies."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        response = client.get("/_dash-dependencies")
        assert response.status_code == 200
        self.dependencies = response.get_json()

    def _callback(self, output: str, changed: str | None = None) -> dict[str, Any]:
        """The callback that outputs ``output``; with several (``allow_duplicate``), the one
        that ``changed`` triggers."""
        found = [dep for dep in self.dependencies if output in dep["output"]]
        if changed is not None and len(found) > 1:
            found = [dep for dep in found
                     if any(f"{i['id']}.{i['property']}" == changed for i in dep["inputs"])] or found
        if not found:
            raise AssertionError(f"no callback outputs {output}")
        return found[0]

    def __call__(self, output: str, values: dict[str, Any], changed: str | None = None):  # type: ignore[no-untyped-def]
        dep = self._callback(output, changed)
        outputs = []
        for part in dep["output"].strip(".").split("..."):
            ident, prop = part.rsplit(".", 1)
            # A pattern-matching id arrives as its JSON text; the renderer sends it as a dict.
            outputs.append({"id": json.loads(ident) if ident.startswith("{") else ident, "property": prop})

        def fill(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{**item, "value": values.get(f"{item['id']}.{item['property']}")} for item in items]

        inputs = fill(dep["inputs"])
        payload = {
            "output": dep["output"],
            "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": inputs,
            "state": fill(dep["state"]),
            "changedPropIds": [changed or f"{inputs[0]['id']}.{inputs[0]['property']}"],
        }
        return self.client.post("/_dash-update-component", json=payload)


def component(tree: Any, ident: str) -> dict[str, Any]:
    """The props of the component with id ``ident`` in a layout as Dash sends it (nested
    ``{"type", "namespace", "props"}`` dicts); AssertionError when there is none."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict):
                if props.get("id") == ident:
                    return props
                stack.extend(props.values())
            else:
                stack.extend(node.values())
    raise AssertionError(f"no component {ident!r} in the layout")


def dash_as(client: FlaskClient, tenant: Tenant, role: str = "viewer") -> DashCaller:
    """Sign ``client`` in as the tenant's ``role`` (signing out whoever was signed in first)
    and return a caller for its Dash callbacks."""
    actions = AuthActions(client)
    actions.logout()
    actions.login(*tenant.users[role])
    return DashCaller(client)


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@dataclass(frozen=True)
class Plant:
    supplier_id: int
    site_id: int
    asset_id: int
    sensor_ids: list[int]


def add_plant(
    database: Database,
    sensors: int | list[str] = 2,
    *,
    name: str = "North Farm",
    asset_type: str = "drivetrain",
    supplier_id: int | None = None,
) -> Plant:
    """Supplier (new unless ``supplier_id``) -> Site -> Asset -> Sensors, committed.

    ``sensors`` is a count (named sensor0, sensor1...) or a list of sensor names.
    """
    from app.db.models import Asset, Sensor, Site, Supplier

    names = [f"sensor{i}" for i in range(sensors)] if isinstance(sensors, int) else sensors
    with database.Session() as session, session.begin():
        if supplier_id is None:
            supplier = Supplier(name=f"{name} Energy")
            session.add(supplier)
            session.flush()
            supplier_id = supplier.id
        site = Site(supplier_id=supplier_id, name=name)
        session.add(site)
        session.flush()
        asset = Asset(site_id=site.id, name="Turbine 1", asset_type=asset_type,
                      parameters={"rated_power_kw": 90.0})
        session.add(asset)
        session.flush()
        found = [Sensor(asset_id=asset.id, name=n, unit="Nm") for n in names]
        session.add_all(found)
        session.flush()
        return Plant(supplier_id, site.id, asset.id, [s.id for s in found])


def add_meter(
    database: Database,
    supplier_id: int,
    *,
    serial: str = "E1000001",
    fuel: str = "electricity",
    previous: tuple[datetime, str] | None = None,
    unit_rate: str = "24.50",
    standing: str = "60.99",
) -> int:
    """A customer with one meter on a VAT-inclusive tariff valid since 2020, and optionally a
    previous reading (time, value); returns the meter id."""
    from datetime import date
    from decimal import Decimal

    from app.db.models import Customer, Meter, MeterReading, Tariff
    from app.readings import refresh_meter_summary

    code = "STD-E" if fuel == "electricity" else "STD-G"
    with database.Session() as session, session.begin():
        if not session.scalar(select(Tariff.id).where(Tariff.supplier_id == supplier_id, Tariff.code == code)):
            session.add(Tariff(supplier_id=supplier_id, code=code, name=f"Standard {fuel}", fuel=fuel,
                               unit_rate_p_per_kwh=Decimal(unit_rate),
                               standing_charge_p_per_day=Decimal(standing), vat_rate=Decimal("0.05"),
                               prices_include_vat=True, valid_from=date(2020, 1, 1)))
        customer = Customer(supplier_id=supplier_id, account_number=f"A-{serial}",
                            name=f"Customer of {serial}", address="1 High Street, Derby DE1 1AA")
        session.add(customer)
        session.flush()
        meter = Meter(supplier_id=supplier_id, customer_id=customer.id, serial=serial, fuel=fuel,
                      tariff_code=code, register_digits=6, supply_address=customer.address,
                      installed_on=date(2020, 1, 1))
        session.add(meter)
        session.flush()
        if previous is not None:
            session.add(MeterReading(supplier_id=supplier_id, meter_id=meter.id, read_at=previous[0],
                                     value=Decimal(previous[1]), kind="actual", source="seed"))
            session.flush()
            refresh_meter_summary(session, meter.id)
        return meter.id


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]
