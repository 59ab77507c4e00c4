"""Hostile input on every surface: the reading modal (through Dash's endpoint), the login form,
every body field and query parameter of every API operation (read from the OpenAPI document,
so a new endpoint is covered without a change here), CSV import, oversize and malformed bodies.

The values are ``tests.hostile`` (SQL injection, markup, huge and tiny numbers, control and
unicode characters, NUL, lone surrogates, empty, very long). Each request must be answered
below 500; a refused request stores nothing (the row counts of the tables it could write are
unchanged); no HTML response carries the hostile markup unescaped. On SQLite and on PostgreSQL
(which refuses NUL in text: the first place such a value would turn into a 500).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from sqlalchemy import text
from werkzeug.security import check_password_hash, generate_password_hash

from app.api_tokens import create_token
from app.db import Database
from app.db.base import utcnow
from app.db.models import Alert
from app.factory import build_app
from app.importer import ImportFileError, import_meters, import_sensors
from app.plain_text import is_plain_text
from app.plant import catalogue
from app.plant.catalogue import Actor
from settings import TariffSettings
from tests.conftest import DashCaller, Plant, Tenant, add_meter, add_plant, add_tenant, dash_as
from tests.hostile import JSON_VALUES, STRINGS, is_markup, label

API = "/api/v1"
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
#: The tables a request could write, counted in one round trip (acknowledged alerts: an update;
#: a change to the catalogue, created or not: its audit row).
WRITES = text(
    "SELECT (SELECT COUNT(*) FROM meter_readings), (SELECT COUNT(*) FROM sensor_readings), "
    "(SELECT COUNT(*) FROM alerts WHERE status <> 'open'), (SELECT COUNT(*) FROM users), "
    "(SELECT COUNT(*) FROM api_tokens), (SELECT COUNT(*) FROM jobs), "
    "(SELECT COUNT(*) FROM sites), (SELECT COUNT(*) FROM assets), (SELECT COUNT(*) FROM sensors), "
    "(SELECT COUNT(*) FROM audit_log WHERE entity IN ('site', 'asset', 'sensor'))"
)


def test_there_are_at_least_50_hostile_values_for_each_kind_of_field() -> None:
    assert len(STRINGS) >= 50 and len(set(STRINGS)) == len(STRINGS)
    assert len(JSON_VALUES) > len(STRINGS)
    assert any("\x00" in s for s in STRINGS) and "\ud800" in STRINGS and "" in STRINGS


def writes(db: Database) -> tuple[int, ...]:
    with db.engine.connect() as conn:
        return tuple(conn.execute(WRITES).one())


def unescaped(response: Any, value: Any) -> bool:
    """Whether an HTML response carries ``value``'s markup as markup (JSON is inert: a browser
    does not render it, and the portal's React escapes text it shows)."""
    if not is_markup(value) or response.mimetype != "text/html":
        return False
    return value in response.get_data(as_text=True)


@dataclass
class World:
    """One app (API and login limits raised: these tests send thousands of requests from one
    address), a supplier with its users, a meter, a plant and an admin token (the highest
    scope: with less, the catalogue's changes would answer 403 before reading the request)."""

    app: Flask
    db: Database
    tenant: Tenant
    meter_id: int
    plant: Plant
    token: str
    counter: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**9)))


def loose_limits(db: Database) -> Flask:
    settings = db.settings
    web = {"login_rate_limit": "100000 per minute"} if "login_rate_limit" in type(
        settings.web).model_fields else {}
    settings = settings.model_copy(update={
        "api": settings.api.model_copy(update={"rate_limit": "100000 per minute"}),
        "web": settings.web.model_copy(update=web)})
    server = build_app(settings)
    server.config.update(TESTING=True)
    return server


@pytest.fixture(scope="module")
def world(shared_db: Database) -> World:
    tenant = add_tenant(shared_db, "Hostile Energy")
    meter = add_meter(shared_db, tenant.supplier_id, serial="E-HOSTILE", previous=(T0, "1000"))
    plant = add_plant(shared_db, ["torque", "speed", "oil_temperature"], name="Hostile Farm",
                      supplier_id=tenant.supplier_id)
    with shared_db.Session() as session, session.begin():
        _, token = create_token(session, supplier_id=tenant.supplier_id, actor_id=None,
                                name="hostile", scope="admin")
    return World(loose_limits(shared_db), shared_db, tenant, meter, plant, token)


# -- the reading modal, through Dash's endpoint ---------------------------------------------------


def test_the_reading_modal_refuses_every_hostile_value_and_stores_nothing(world: World) -> None:
    """Preview and save with each value in the reading field (a JSON number, list or object as
    a forged request would send them too): refused with a message, nothing stored. Then each as
    the reason (and the lower-means choice) of a reading that needs one (no advance), each at
    its own time: stored only when it is plain text, and then exactly as typed (trimmed)."""
    previous = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    meter = add_meter(world.db, world.tenant.supplier_id, serial="E-MODAL",
                      previous=(previous, "1000"))
    call = dash_as(world.app.test_client(), world.tenant, "operator")
    before = writes(world.db)
    store = {"meter_id": meter, "opened_at": (previous + timedelta(minutes=1)).isoformat()}
    for value in JSON_VALUES:
        values = {"reading-save.n_clicks": 1, "reading-store.data": store, "reading-value.value": value}
        for output in ("reading-preview.children", "reading-result.children"):
            response = call(output, values)
            assert response.status_code == 200, (label(value), output, response.data[:300])
            assert not unescaped(response, value)
        assert "reading-error" in response.get_data(as_text=True), label(value)
    assert writes(world.db) == before

    saved = []
    for n, value in enumerate(JSON_VALUES, start=1):
        store = {"meter_id": meter, "opened_at": (previous + timedelta(seconds=n)).isoformat()}
        values = {"reading-save.n_clicks": 1, "reading-store.data": store, "reading-value.value": "1000",
                  "reading-reason.value": value, "reading-lower-means.value": value}
        for output in ("reading-preview.children", "reading-result.children"):
            response = call(output, values)
            assert response.status_code == 200, (label(value), output, response.data[:300])
            assert not unescaped(response, value)
        if "Saved." in response.get_data(as_text=True):
            saved.append(value)
    with world.db.Session() as session:
        reasons = [r for (r,) in session.execute(text(
            "SELECT reason FROM meter_readings WHERE meter_id = :m AND source = 'portal'"), {"m": meter})]
    assert sorted(reasons) == sorted(v.strip()[:500] for v in saved)
    assert all(isinstance(v, str) and is_plain_text(v) for v in saved)
    assert len(saved) < len(JSON_VALUES) - 20  # control characters, surrogates, non-text: refused
    print(f"\nreading modal: {2 * len(JSON_VALUES)} values, {len(saved)} stored as plain-text reasons")


def test_a_forged_dash_body_of_the_wrong_shape_is_a_400_not_a_500(world: World) -> None:
    client = world.app.test_client()
    call = dash_as(client, world.tenant, "operator")
    dependency = call._callback("reading-result.children")
    good = {"output": dependency["output"], "outputs": [], "inputs": [], "state": [],
            "changedPropIds": []}
    bodies: list[Any] = [[], "text", 1, None, {}, {"output": 1}, {"output": "nope.children"},
                         {**good, "inputs": "x"}, {**good, "inputs": [1]}, {**good, "state": [{}]},
                         {**good, "changedPropIds": [1]}, {**good, "outputs": 7}]
    bodies += [{**good, "output": value} for value in STRINGS]
    for body in bodies:
        response = client.post("/_dash-update-component", data=json.dumps(body),
                               content_type="application/json")
        assert response.status_code == 400, (label(body), response.data[:300])
    for raw in (b"{not json", b"", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
                b'{"output": ' * 50_000 + b"1" + b"}" * 50_000):
        response = client.post("/_dash-update-component", data=raw,
                               headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (raw[:20], response.data[:300])


def test_a_lone_pattern_matching_output_is_accepted_as_the_list_of_its_matches() -> None:
    from app.web.bodies import dash_body_problem

    key = '{"scenario":["ALL"],"type":"whatif-column"}.style'
    callbacks = {key: {"inputs": [{"id": "whatif-count", "property": "value"}], "state": [],
                       "output": object()}}
    body = {"output": key, "inputs": [{"id": "whatif-count", "property": "value", "value": "3"}],
            "changedPropIds": ["whatif-count.value"],
            # What dash-renderer sends for Output({"type": ..., "scenario": ALL}, "style").
            "outputs": [{"id": {"type": "whatif-column", "scenario": n}, "property": "style"} for n in range(4)]}
    assert dash_body_problem(body, callbacks) is None
    assert dash_body_problem({**body, "outputs": [1, 2]}, callbacks) is not None
    plain = {"a.children": {"inputs": body["inputs"], "state": [], "output": object()}}
    assert dash_body_problem({**body, "output": "a.children"}, plain) is not None  # not a pattern: one output


# -- the login form ------------------------------------------------------------------------------


def form(**fields: str) -> bytes:
    """A form body as a browser sends it: UTF-8, percent-encoded (a lone surrogate goes as the
    bytes it would be, which are not UTF-8)."""
    return "&".join(f"{k}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in fields.items()).encode()


def csrf_of(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


#: POSTs to /login per run of the login test (and its GETs with a hostile ``next``).
LOGIN_POSTS = 4 * len(STRINGS)


def test_the_login_form_refuses_every_hostile_value(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each value as the email, the password, the CSRF token (with a real user's right
    password) and ``next``: never signed in, nothing stored but the failed-login audit rows, no
    markup echoed. 400 (the CSRF token), 401 (wrong credentials) or 429 (the sign-in rate limit)
    are all fine answers; a 5xx is not."""
    # The password check hashes as the product does (the same encoding of the password), but
    # with a cheap hash: the real one takes a quarter of a second, and this sends hundreds.
    cheap = generate_password_hash("not-the-password", method="pbkdf2:sha256:1")
    monkeypatch.setattr("app.accounts.check_password_hash",
                        lambda _hash, password: check_password_hash(cheap, password))
    client = world.app.test_client()
    operator, password = world.tenant.users["operator"]
    before = writes(world.db)
    posts = 0
    for value in STRINGS:
        for fields in ({"email": value, "password": "wrong"},
                       {"email": "nobody@hostile.test", "password": value},
                       {"email": operator, "password": password, "csrf_token": value},
                       {"email": "nobody@hostile.test", "password": "wrong", "next": value}):
            page = client.get("/login")
            assert page.status_code == 200
            body = {"csrf_token": csrf_of(page.get_data(as_text=True)), **fields}
            response = client.post("/login", data=form(**body),
                                   content_type="application/x-www-form-urlencoded")
            posts += 1
            assert response.status_code in (400, 401, 429), (label(value), fields.keys(),
                                                             response.data[:300])
            assert not unescaped(response, value)
            assert client.get("/").status_code == 302  # still signed out
        response = client.get(f"/login?next={quote(value.encode('utf-8', 'surrogatepass'))}")
        assert response.status_code == 200, (label(value), response.data[:300])
        assert not unescaped(response, value)
    assert posts == LOGIN_POSTS
    assert writes(world.db) == before


# -- every API operation, from its document -------------------------------------------------------


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf"):
        if key in schema:  # an optional field: its non-null form
            options = [s for s in schema[key] if s.get("type") != "null"]
            return resolve(spec, options[0]) if options else schema
    return schema


def example(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A valid-looking value of ``schema`` (for operations without a baseline below)."""
    schema = resolve(spec, schema)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example(spec, props[k]) for k in schema.get("required", []) if k in props}
    if kind == "array":
        return [example(spec, schema.get("items", {}))] if schema.get("minItems") else []
    if kind == "string":
        return T0.isoformat() if schema.get("format") == "date-time" else "x"
    return {"integer": 1, "number": 1.0, "boolean": False}.get(kind)


def fields_of(spec: dict[str, Any], schema: dict[str, Any], prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every field of a body, as a path: ("readings",), ("readings", 0, "ts")..."""
    schema = resolve(spec, schema)
    found = []
    for name, prop in schema.get("properties", {}).items():
        found.append((*prefix, name))
        inner = resolve(spec, prop)
        if inner.get("type") == "array" and resolve(spec, inner.get("items", {})).get("properties"):
            found += fields_of(spec, inner["items"], (*prefix, name, 0))
    return found


def put(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    body = copy.deepcopy(body)
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


#: Body fields that take a hostile value when it is a valid one of their type, and store it:
#: free text (stored as sent), a finite number as a sensor's value or a simulation's knob, a
#: JSON boolean or its usual spellings for the simulation's switches.
ACCEPTS = {
    ("post", "/meters/{meter_id}/readings"): {"reason"},
    ("post", "/alerts/{alert_id}/acknowledge"): {"comment"},
    ("post", "/sensor-readings"): {"readings.0.value"},
    ("post", "/assets/{asset_id}/simulations"): {"seed", "interval_s", "max_points", "resume", "store",
                                                  "faults.0.magnitude", "faults.0.sensor"},
    # The catalogue: names and a location are free text; null clears what may be empty; an
    # empty list or mapping is no formulas, targets or parameters; any finite number bounds a
    # normal range; "null" and "true" are fine names for a sensor or calculation, which a
    # formula may then read; a few odd texts are units to pint (the catalogue's judge of units).
    ("post", "/sites"): {"name", "location", "maintenance_emails"},
    ("patch", "/sites/{site_id}"): {"name", "location", "maintenance_emails"},
    ("post", "/assets"): {"name", "parameters", "upstream_id", "formulas", "formulas.0.name",
                          "formulas.0.unit", "forecast_targets"},
    ("patch", "/assets/{asset_id}"): {"name", "parameters", "upstream_id", "formulas",
                                      "formulas.0.name", "formulas.0.unit", "formulas.0.formula",
                                      "forecast_targets"},
    ("post", "/sensors"): {"name", "unit", "interval_s", "normal_min", "normal_max"},
    ("patch", "/sensors/{sensor_id}"): {"name", "unit", "interval_s", "normal_min", "normal_max"},
}


@dataclass
class Operation:
    method: str
    path: str
    url: Callable[[], str]  # a fresh URL per request (a new alert to acknowledge)
    query: dict[str, str]
    body: Callable[[], Any] | None  # a fresh, valid body per request
    query_names: list[str]
    body_fields: list[tuple[Any, ...]]


def operations(world: World, spec: dict[str, Any]) -> list[Operation]:
    plant = world.plant

    def alert() -> int:
        with world.db.Session() as session, session.begin():
            row = Alert(asset_id=plant.asset_id, sensor_id=plant.sensor_ids[0], started_at=T0,
                        kind="static_high", severity="critical", classification="other",
                        message="torque above 3000 Nm", status="open")
            session.add(row)
            session.flush()
            return row.id

    ids: dict[str, Callable[[], int]] = {
        "site_id": lambda: plant.site_id, "asset_id": lambda: plant.asset_id,
        "sensor_id": lambda: plant.sensor_ids[0], "meter_id": lambda: world.meter_id,
        "alert_id": alert}
    # Changes to the catalogue go to records of their own: a hostile value that is a fine name
    # renames what it is sent to, and the plant above must stay as the later tests know it. The
    # assets made are pipelines: a "torque" sensor on an asset of a hostile name would let the
    # CSV test's named lines (asset, torque) in.
    spare = spare_plant(world)
    spare_ids: dict[str, Callable[[], int]] = {
        "site_id": lambda: spare.site_id, "asset_id": lambda: spare.asset_id,
        "sensor_id": lambda: spare.sensor_ids[0]}
    formulas = [{"name": "leak_m3h", "unit": "m³/h", "formula": "inlet_flow - outlet_flow"}]

    def reading() -> dict[str, Any]:
        n = next(world.counter)  # a new time and a higher value: each would be stored
        return {"value": str(1000 + n), "read_at": (T0 + timedelta(minutes=n)).isoformat()}

    bodies: dict[tuple[str, str], Callable[[], Any]] = {
        ("post", "/sensor-readings"): lambda: {"readings": [
            {"sensor_id": plant.sensor_ids[0], "ts": T0.isoformat(), "value": 1.5}]},
        ("post", "/meters/{meter_id}/readings"): reading,
        ("post", "/alerts/{alert_id}/acknowledge"): lambda: {"comment": "checked on site"},
        ("post", "/assets/{asset_id}/simulations"): lambda: {
            "start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat(), "interval_s": 600,
            "max_points": 10, "faults": [{"kind": "spike", "start": T0.isoformat(),
                                          "end": (T0 + timedelta(minutes=30)).isoformat(),
                                          "sensor": "torque", "magnitude": 1.0}]},
        # A new name each time: each would be created.
        ("post", "/sites"): lambda: {"name": f"Hostile site {next(world.counter)}"},
        ("post", "/assets"): lambda: {
            "site_id": spare.site_id, "name": f"Hostile asset {next(world.counter)}",
            "asset_type": "pipeline", "parameters": {"length_m": 500.0},
            "upstream_id": spare.asset_id, "formulas": formulas,
            "forecast_targets": ["inlet_flow"]},
        ("patch", "/assets/{asset_id}"): lambda: {"formulas": formulas},
        ("post", "/sensors"): lambda: {"asset_id": spare.asset_id,
                                       "name": f"hostile_{next(world.counter)}", "unit": "1"},
    }
    base_query = {"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat(),
                  "target": "torque"}
    found = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            params = op.get("parameters", [])
            query_names = [p["name"] for p in params if p["in"] == "query"]
            required = {p["name"] for p in params if p["in"] == "query" and p.get("required")}
            path_names = [p["name"] for p in params if p["in"] == "path"]

            chosen = spare_ids if method == "patch" else ids

            def url(path: str = path, names: list[str] = path_names,
                    chosen: dict[str, Callable[[], int]] = chosen) -> str:
                return API + path.format(**{n: chosen.get(n, lambda: 1)() for n in names})

            body = None
            body_fields: list[tuple[Any, ...]] = []
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content:
                schema = content["schema"]
                body = bodies.get((method, path)) or (lambda s=schema: example(spec, s))
                body_fields = fields_of(spec, schema)
            query = {k: v for k, v in base_query.items() if k in required}
            found.append(Operation(method, path, url, query, body, query_names, body_fields))
    return found


def spare_plant(world: World) -> Plant:
    """A site with a pipeline (inlet and outlet flow, pressure drop), for the catalogue's
    changes."""
    actor = Actor(world.tenant.supplier_id, via="test")
    with world.db.Session() as session, session.begin():
        site = catalogue.create_site(session, actor, name="Hostile Spares")
        asset = catalogue.create_asset(session, actor, site_id=site.id, name="Spare pipeline",
                                       asset_type="pipeline")
        sensors = catalogue.list_sensors(session, world.tenant.supplier_id, asset.id)
        return Plant(world.tenant.supplier_id, site.id, asset.id, [x.id for x in sensors])


def test_every_api_field_and_query_parameter_refuses_hostile_values(world: World) -> None:
    client = world.app.test_client()
    headers = {"Authorization": f"Bearer {world.token}"}
    spec = client.get(f"{API}/openapi.json").get_json()
    ops = operations(world, spec)
    assert {(o.method, o.path) for o in ops} >= set(ACCEPTS)
    accepted: dict[str, int] = {}
    sent = 0
    for op in ops:
        cases: list[tuple[str, Any]] = [(f"query {n}", v) for n in op.query_names for v in STRINGS]
        cases += [(".".join(map(str, f)), v) for f in op.body_fields for v in JSON_VALUES]
        for where, value in cases:
            query = dict(op.query)
            body = op.body() if op.body else None
            if where.startswith("query "):
                query[where[6:]] = value
            else:
                body = put(body, tuple(int(p) if p.isdigit() else p for p in where.split(".")), value)
            qs = "&".join(f"{k}={quote(str(v).encode('utf-8', 'surrogatepass'))}" for k, v in query.items())
            data = json.dumps(body) if body is not None else None  # lone surrogates as \ud800
            before = writes(world.db) if op.method != "get" else None  # a GET writes nothing
            response = client.open(op.url() + (f"?{qs}" if qs else ""), method=op.method.upper(),
                                   headers=headers, data=data,
                                   content_type="application/json" if data is not None else None)
            sent += 1
            context = (op.method, op.path, where, label(value), response.status_code,
                       response.get_data(as_text=True)[:300])
            assert response.status_code < 500, context
            assert response.is_json, context
            if before is None:
                continue
            if response.status_code >= 400:
                assert writes(world.db) == before, context
            elif op.method != "get" and writes(world.db) != before:
                assert where in ACCEPTS.get((op.method, op.path), set()), context
                key = f"{op.method.upper()} {op.path} {where}"
                accepted[key] = accepted.get(key, 0) + 1
    print(f"\n{sent} hostile API requests over {len(ops)} operations; stored as valid values: {accepted}")
    assert sent >= 50 * len(ops)


# -- CSV import ----------------------------------------------------------------------------------


meters_import = partial(import_meters, tariff_settings=TariffSettings())
#: The hostile values that are finite numbers: a fine value for a sensor (not for a meter).
SENSOR_NUMBERS = {"1e308", "0.00000000000000000000001", "1e-400", "-0", "-1"}
#: The hostile values that are blank: an optional column left empty.
BLANK = {v for v in STRINGS if not v.strip()}


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    path.write_bytes(buffer.getvalue().encode("utf-8", "surrogatepass"))
    return path


def readable(value: str) -> bool:
    """Whether a file holding ``value`` is still a text file (NUL or bytes that are not UTF-8
    refuse the whole file: each such value gets a file of its own)."""
    return "\x00" not in value and not re.search("[\ud800-\udfff]", value)


def test_csv_import_refuses_every_hostile_cell_and_stores_nothing(world: World, tmp_path: Path) -> None:
    """A sensor file and a meter file per column: one valid line per hostile value, with the
    value in that column. Every such line is refused by its line number (or, for a value that
    makes the file unreadable, the whole file), and nothing is stored; in the meters' free-text
    reason column a line is either refused or stored with its reason exactly as written."""
    db, supplier = world.db, world.tenant.supplier_id
    sensor = world.plant.sensor_ids[0]
    meter = add_meter(db, supplier, serial="E-CSV", previous=(T0, "1000"))
    sensor_line = {"sensor_id": str(sensor), "ts": "2026-03-01T06:00:00Z", "value": "1.5"}
    named_line = {"asset": "Turbine 1", "sensor": "torque", "ts": "2026-03-01T06:00:00Z", "value": "1.5"}
    meter_line = {"serial": "E-CSV", "read_at": "", "value": "", "kind": "actual", "reason": "fine"}

    def meter_row(i: int) -> dict[str, str]:
        return {**meter_line, "read_at": (T0 + timedelta(minutes=i + 1)).isoformat(),
                "value": f"{1000 + i + 1}"}

    imports = 0
    for kind, base, columns in (("sensors", lambda i: dict(sensor_line), list(sensor_line)),
                                ("sensors", lambda i: dict(named_line), list(named_line)),
                                ("meters", meter_row, list(meter_line))):
        for column in columns:
            good = [v for v in STRINGS if readable(v)]
            groups = [good] + [[v] for v in STRINGS if not readable(v)]
            for values in groups:
                rows = [base(i) | {column: v} for i, v in enumerate(values)]
                path = write_csv(tmp_path / f"{kind}-{column}.csv", [columns] + [[r[c] for c in columns] for r in rows])
                before = writes(db)
                run = import_sensors if kind == "sensors" else meters_import
                imports += 1
                try:
                    report = run(db, path, supplier_id=supplier, tz="UTC")
                except ImportFileError as refused:
                    assert len(values) == 1 and not readable(values[0]), (column, str(refused))
                    assert writes(db) == before
                    continue
                if column == "reason":
                    stored = report.stored + report.already_stored
                    assert stored + report.refused_rows == len(values), report.summary()
                    with db.Session() as session:
                        reasons = {r for (r,) in session.execute(text(
                            "SELECT reason FROM meter_readings WHERE meter_id = :m"), {"m": meter})}
                    for value in values:
                        assert value.strip()[:500] in reasons or not value.strip() or any(
                            r.line == values.index(value) + 2 for r in report.refusals), label(value)
                    with db.Session() as session, session.begin():  # start again from T0
                        session.execute(text("DELETE FROM meter_readings WHERE meter_id = :m AND "
                                             "source <> 'seed'"), {"m": meter})
                        session.execute(text("DELETE FROM audit_log WHERE entity = 'meter' AND "
                                             "entity_id = :m"), {"m": str(meter)})
                    continue
                fine = {("sensors", "value"): SENSOR_NUMBERS,  # a sensor may read -1 or 1e308
                        ("meters", "kind"): BLANK}.get((kind, column))  # blank: "actual"
                if fine is not None:
                    numbers = [v for v in values if v in fine]
                    assert report.stored + report.repeated == len(numbers), report.summary()
                    assert report.refused_rows == len(values) - len(numbers), report.summary()
                    continue
                assert report.stored == 0 and report.already_stored == 0, (kind, column, report.summary(),
                                                                           report.refusals[:3])
                assert report.refused_rows == len(values), (kind, column, report.summary())
                assert writes(db) == before
    assert imports >= 15


@pytest.mark.parametrize("content", [
    b"\x00" * 1000,
    b"PK\x03\x04" + b"\x00" * 100,
    bytes(range(256)) * 10,
    b"sensor_id,ts,value\n" + b"1," * 2_000 + b"\n",  # 100,000 fields took 27 s: see the report
    b"x" * 200_000,
    b"sensor_id,ts,value\n1,2026-03-01T00:00:00Z,1\x00\n",
    b"\xef\xbb\xbf\xef\xbb\xbf",
    b"\r\r\r\r",
    b'"' * 10_000,
    "<script>alert(1)</script>,'; DROP TABLE users; --,\x1b[31m\n1,2,3\n".encode(),
    "\ud800,ts,value\n1,2,3\n".encode("utf-8", "surrogatepass"),
    ("a" * 70_000 + ",ts,value\n1,2,3\n").encode(),
    b"sensor_id,sensor_id,ts,value\n1,1,2026-03-01T00:00:00Z,1\n",
], ids=lambda c: label(c))
def test_a_hostile_whole_file_is_refused_or_its_lines_are(world: World, tmp_path: Path,
                                                         content: bytes) -> None:
    path = tmp_path / "hostile.csv"
    path.write_bytes(content)
    for run in (import_sensors, meters_import):
        before = writes(world.db)
        try:
            report = run(world.db, path, supplier_id=world.tenant.supplier_id)
        except ImportFileError as refused:
            assert str(refused)
        else:
            assert report.stored == 0
        assert writes(world.db) == before


# -- oversize bodies -----------------------------------------------------------------------------


def test_oversize_bodies_are_413_on_every_api_post_and_on_the_portal(shared_db: Database) -> None:
    settings = shared_db.settings
    settings = settings.model_copy(update={
        "api": settings.api.model_copy(update={"max_body_bytes": 2048}),
        "web": settings.web.model_copy(update={"max_content_length": 1024})})
    server = build_app(settings)
    server.config.update(TESTING=True)
    tenant = add_tenant(shared_db, "Oversize Energy")
    with shared_db.Session() as session, session.begin():
        _, token = create_token(session, supplier_id=tenant.supplier_id, actor_id=None,
                                name="big", scope="write")
    client = server.test_client()
    spec = client.get(f"{API}/openapi.json").get_json()
    posts = [path for path, item in spec["paths"].items() if "post" in item]
    assert posts
    before = writes(shared_db)
    big = json.dumps({"comment": "x" * 4096, "value": "1" * 4096})
    for path in posts:
        response = client.post(API + re.sub(r"\{[^}]+\}", "1", path), data=big,
                               headers={"Authorization": f"Bearer {token}"},
                               content_type="application/json")
        assert response.status_code == 413, (path, response.status_code)
        assert response.get_json()["code"] == "body_too_large"
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_of(page.get_data(as_text=True)),
                                           "email": "x" * 2048, "password": "y"})
    assert response.status_code == 413
    call: DashCaller = dash_as(client, tenant, "operator")
    response = call("reading-preview.children", {"reading-value.value": "1" * 2048})
    assert response.status_code == 413
    assert writes(shared_db) == before
