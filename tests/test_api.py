"""The REST API: tokens and scopes, the all-or-nothing batch with per-row errors, the rate
limit, body limits, the modal's rules for meter readings, paging, and one supplier's token
seeing and writing nothing of another's. On SQLite and on live PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.api_tokens import create_token, list_tokens, revoke_token
from app.db import Database
from app.db.models import Alert, AuditLog, MeterReading, SensorReading
from app.factory import build_app
from tests.conftest import AuthActions, Plant, Tenant, add_meter, add_plant, add_tenant

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
API = "/api/v1"


@pytest.fixture(scope="module")
def api_app(shared_db: Database) -> Flask:
    server = build_app(shared_db.settings)
    server.config.update(TESTING=True)
    return server


@dataclass
class Caller:
    """A tenant with a plant, a meter, and a read and a write token."""

    app: Flask
    db: Database
    tenant: Tenant
    plant: Plant
    meter_id: int
    read: str
    write: str

    def call(self, method: str, path: str, token: str | None = "write", **kwargs: Any):  # type: ignore[no-untyped-def]
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {getattr(self, token, token)}"
        return self.app.test_client().open(API + path, method=method, headers=headers, **kwargs)

    def stored(self) -> int:
        with self.db.Session() as session:
            return session.scalar(select(func.count()).select_from(SensorReading)
                                  .where(SensorReading.sensor_id.in_(self.plant.sensor_ids))) or 0


def make_caller(app: Flask, db: Database) -> Caller:
    tenant = add_tenant(db, f"Supplier {uuid.uuid4().hex[:8]}")
    plant = add_plant(db, ["torque", "speed", "oil_temperature"], supplier_id=tenant.supplier_id)
    meter = add_meter(db, tenant.supplier_id, serial=f"E{uuid.uuid4().hex[:8]}",
                      previous=(T0, "1000"))
    with db.Session() as session, session.begin():
        _, read = create_token(session, supplier_id=tenant.supplier_id, actor_id=None,
                               name="dashboard", scope="read")
        _, write = create_token(session, supplier_id=tenant.supplier_id, actor_id=None,
                                name="gateway", scope="write")
    return Caller(app, db, tenant, plant, meter, read, write)


@pytest.fixture
def alpha(api_app: Flask, shared_db: Database) -> Caller:
    return make_caller(api_app, shared_db)


@pytest.fixture
def beta(api_app: Flask, shared_db: Database) -> Caller:
    return make_caller(api_app, shared_db)


def rows(plant: Plant, n: int, start: datetime = T0) -> list[dict[str, Any]]:
    return [{"sensor_id": plant.sensor_ids[i % 3], "ts": (start + timedelta(minutes=i // 3)).isoformat(),
             "value": 10.0 + i} for i in range(n)]


# -- the document ---------------------------------------------------------------------------


def test_openapi_document_lists_every_endpoint_and_docs_page_is_local(alpha: Caller) -> None:
    spec = alpha.call("GET", "/openapi.json", token=None).get_json()
    assert spec["openapi"].startswith("3.")
    operations = {(m, p) for p, item in spec["paths"].items() for m in item}
    assert operations >= {
        ("post", "/sensor-readings"), ("post", "/meters/{meter_id}/readings"),
        ("get", "/assets/{asset_id}/latest"), ("get", "/sensors/{sensor_id}/readings"),
        ("get", "/alerts"), ("post", "/alerts/{alert_id}/acknowledge"),
        ("get", "/assets/{asset_id}/metrics"), ("post", "/assets/{asset_id}/simulations"),
        ("get", "/assets"), ("get", "/meters"),
    }
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs and refs <= set(spec["components"]["schemas"]), "dangling $ref in the document"
    batch = spec["components"]["schemas"]["SensorBatchIn"]["properties"]["readings"]
    assert batch["maxItems"] == 10_000
    page = alpha.call("GET", "/docs", token=None)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "cdn." not in html and "/api/v1/_docs/swagger-ui-bundle.js" in html
    script = alpha.call("GET", "/_docs/swagger-ui-bundle.js", token=None)
    assert script.status_code == 200 and len(script.data) > 100_000


# -- authentication and scopes --------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer twin_" + "x" * 43,
                                    "Basic dXNlcjpwYXNz", "Bearer "])
def test_no_valid_token_is_401_json(alpha: Caller, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = alpha.call("GET", "/assets", token=None, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert "Retry-After" not in response.headers


def test_portal_session_does_not_authenticate_the_api(alpha: Caller) -> None:
    client = alpha.app.test_client()
    AuthActions(client).login(*alpha.tenant.users["admin"])
    assert client.get("/").status_code == 200  # signed in to the portal
    response = client.get(API + "/assets")
    assert response.status_code == 401


def test_read_scope_reads_but_cannot_write(alpha: Caller) -> None:
    assert alpha.call("GET", "/assets", token="read").status_code == 200
    refused = alpha.call("POST", "/sensor-readings", token="read", json={"readings": rows(alpha.plant, 3)})
    assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden"
    assert alpha.call("POST", f"/meters/{alpha.meter_id}/readings", token="read",
                      json={"value": "1100", "read_at": (T0 + timedelta(days=1)).isoformat()}
                      ).status_code == 403
    assert alpha.stored() == 0
    assert alpha.call("POST", "/sensor-readings", json={"readings": rows(alpha.plant, 3)}).status_code == 201


def test_revoked_token_stops_working_at_once_and_is_audited(alpha: Caller) -> None:
    assert alpha.call("GET", "/assets").status_code == 200
    with alpha.db.Session() as session, session.begin():
        token = next(t for t in list_tokens(session, alpha.tenant.supplier_id) if t.name == "gateway")
        assert token.prefix == alpha.write[:12] and token.last_used_at is not None
        assert revoke_token(session, supplier_id=alpha.tenant.supplier_id, actor_id=None,
                            token_id=token.id)
        assert not revoke_token(session, supplier_id=alpha.tenant.supplier_id, actor_id=None,
                                token_id=token.id)
    assert alpha.call("GET", "/assets").status_code == 401
    with alpha.db.Session() as session:
        actions = session.scalars(select(AuditLog.action).where(
            AuditLog.supplier_id == alpha.tenant.supplier_id, AuditLog.entity == "api_token")).all()
    assert sorted(actions) == ["api_token.created", "api_token.created", "api_token.revoked"]


def test_tokens_are_stored_hashed(alpha: Caller) -> None:
    from app.db.models import ApiToken

    with alpha.db.Session() as session:
        stored = session.scalars(select(ApiToken).where(
            ApiToken.supplier_id == alpha.tenant.supplier_id)).all()
    for row in stored:
        assert alpha.write not in (row.token_hash, row.prefix) and len(row.token_hash) == 64


# -- the sensor batch -----------------------------------------------------------------------


def test_batch_is_all_or_nothing_with_row_and_field_errors(alpha: Caller) -> None:
    batch = rows(alpha.plant, 50)
    batch[7]["ts"] = "2026-03-01T10:00:00"  # no offset
    batch[20]["value"] = "12.5"  # a string, not a number
    del batch[33]["sensor_id"]
    response = alpha.call("POST", "/sensor-readings", json={"readings": batch})
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_error"
    found = {(e["row"], e["field"]) for e in body["errors"]}
    assert found == {(7, "readings.7.ts"), (20, "readings.20.value"), (33, "readings.33.sensor_id")}
    assert "row 7" in body["message"] and "readings.7.ts" in body["message"]
    assert alpha.stored() == 0


def test_batch_refuses_other_suppliers_sensor_and_future_rows(alpha: Caller, beta: Caller) -> None:
    batch = rows(alpha.plant, 30)
    batch[4]["sensor_id"] = beta.plant.sensor_ids[0]
    batch[9]["sensor_id"] = 999_999_999
    batch[12]["ts"] = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    response = alpha.call("POST", "/sensor-readings", json={"readings": batch})
    assert response.status_code == 422
    errors = {(e["row"], e["code"]) for e in response.get_json()["errors"]}
    assert errors == {(4, "unknown_sensor"), (9, "unknown_sensor"), (12, "future")}
    assert alpha.stored() == 0 and beta.stored() == 0
    # The message does not say whether the other supplier's sensor exists.
    messages = {e["row"]: e["message"] for e in response.get_json()["errors"]}
    assert messages[4].replace(str(beta.plant.sensor_ids[0]), "N") == \
        messages[9].replace("999999999", "N")


def test_batch_of_10000_is_stored_and_resending_changes_nothing(alpha: Caller) -> None:
    batch = rows(alpha.plant, 10_000)
    first = alpha.call("POST", "/sensor-readings", json={"readings": batch})
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["stored"] == 10_000 and first.get_json()["sensors"] == 3
    batch[0]["value"] = -1.5
    again = alpha.call("POST", "/sensor-readings", json={"readings": batch})
    assert again.status_code == 201
    assert alpha.stored() == 10_000
    with alpha.db.Session() as session:
        value = session.scalar(select(SensorReading.value).where(
            SensorReading.sensor_id == alpha.plant.sensor_ids[0], SensorReading.ts == T0))
    assert value == -1.5
    too_many = alpha.call("POST", "/sensor-readings", json={"readings": rows(alpha.plant, 10_001)})
    assert too_many.status_code == 422
    assert too_many.get_json()["errors"][0]["field"] == "readings"


@pytest.mark.parametrize("body,status", [
    (b"{not json", 400), (b"", 400), (b"[" * 100_000 + b"]" * 100_000, 400),
    (b'{"readings": "caf\xe9"}', 400), (b"\xff\xfe{}", 400), (b"[1, 2]", 422), (b'"text"', 422), (b"{}", 422),
    (b'{"readings": []}', 422), (b'{"readings": [{"sensor_id": 1, "ts": "2026-01-01T00:00:00Z", '
                                 b'"value": 1e999}]}', 422),
    (b'{"readings": [{"sensor_id": 99999999999999999999999, "ts": "2026-01-01T00:00:00Z", '
     b'"value": 1}]}', 422),
    (b'{"readings": [{"sensor_id": 1, "ts": "0001-01-01T00:00:00+05:00", "value": 1}]}', 422),
    (b'{"readings": [{"sensor_id": true, "ts": "2026-01-01T00:00:00Z", "value": 1}]}', 422),
])
def test_malformed_bodies_are_4xx_json(alpha: Caller, body: bytes, status: int) -> None:
    response = alpha.call("POST", "/sensor-readings", data=body,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and response.get_json()["code"]
    assert alpha.stored() == 0


# -- limits ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tight_app(shared_db: Database) -> Flask:
    settings = shared_db.settings.model_copy(update={"api": shared_db.settings.api.model_copy(
        update={"max_body_bytes": 2048, "rate_limit": "5 per minute"})})
    server = build_app(settings)
    server.config.update(TESTING=True)
    return server


def test_body_over_the_limit_is_413_json(tight_app: Flask, shared_db: Database) -> None:
    caller = make_caller(tight_app, shared_db)
    response = caller.call("POST", "/sensor-readings", json={"readings": rows(caller.plant, 100)})
    assert response.status_code == 413
    assert response.get_json()["code"] == "body_too_large"
    assert caller.stored() == 0


def test_rate_limit_is_per_token(tight_app: Flask, shared_db: Database) -> None:
    caller = make_caller(tight_app, shared_db)
    statuses = [caller.call("GET", "/assets").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = caller.call("GET", "/assets")
    assert limited.get_json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    assert caller.call("GET", "/assets", token="read").status_code == 200  # another token


# -- reading the estate ---------------------------------------------------------------------


def test_lists_are_paged_and_scoped(alpha: Caller, beta: Caller) -> None:
    for i in range(3):
        add_plant(alpha.db, 1, name=f"Site {i}", supplier_id=alpha.tenant.supplier_id)
    first = alpha.call("GET", "/assets?per_page=3&page=1", token="read").get_json()
    second = alpha.call("GET", "/assets?per_page=3&page=2", token="read").get_json()
    assert first["total"] == 4 and first["pages"] == 2
    assert len(first["items"]) == 3 and len(second["items"]) == 1
    ids = {a["id"] for a in first["items"] + second["items"]}
    assert alpha.plant.asset_id in ids and beta.plant.asset_id not in ids
    assert alpha.call("GET", f"/assets/{beta.plant.asset_id}", token="read").status_code == 404
    meters = alpha.call("GET", "/meters", token="read").get_json()
    assert [m["id"] for m in meters["items"]] == [alpha.meter_id]
    assert alpha.call("GET", "/assets?per_page=0").status_code == 422
    assert alpha.call("GET", "/assets?per_page=1001").status_code == 422
    bad_page = alpha.call("GET", "/assets?page=abc").get_json()
    assert bad_page["errors"][0]["field"] == "page"


def test_latest_and_time_range_paged_and_downsampled(alpha: Caller, beta: Caller) -> None:
    batch = rows(alpha.plant, 3 * 500)  # 500 minutes of each sensor
    assert alpha.call("POST", "/sensor-readings", json={"readings": batch}).status_code == 201
    latest = alpha.call("GET", f"/assets/{alpha.plant.asset_id}/latest", token="read").get_json()
    by_name = {item["name"]: item for item in latest["items"]}
    assert by_name["torque"]["value"] == 10.0 + 1497
    assert by_name["torque"]["ts"].startswith("2026-03-01T08:19:00")
    sensor = alpha.plant.sensor_ids[0]
    query = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=9)).isoformat(), "limit": 200}
    points, start, pages = [], query["start"], 0
    while start is not None:
        page = alpha.call("GET", f"/sensors/{sensor}/readings", token="read",
                          query_string={**query, "start": start}).get_json()
        points += page["items"]
        start, pages = page["next_start"], pages + 1
    assert len(points) == 500 and pages == 3
    assert len({p["ts"] for p in points}) == 500
    cut = alpha.call("GET", f"/sensors/{sensor}/readings", token="read",
                     query_string={**query, "max_points": 50}).get_json()
    assert len(cut["items"]) <= 50 and cut["downsampled"] and cut["next_start"] is None
    other = alpha.call("GET", f"/sensors/{beta.plant.sensor_ids[0]}/readings", token="read",
                       query_string=query)
    assert other.status_code == 404
    backwards = alpha.call("GET", f"/sensors/{sensor}/readings", token="read",
                           query_string={"start": query["end"], "end": query["start"]})
    assert backwards.status_code == 422 and "end must be after start" in backwards.get_json()["message"]


# -- meter readings -------------------------------------------------------------------------


def test_meter_readings_follow_the_modals_rules(alpha: Caller, beta: Caller) -> None:
    path = f"/meters/{alpha.meter_id}/readings"
    day = (T0 + timedelta(days=30)).isoformat()
    refused = {
        "abc": "not_a_number", "-5": "negative", "12345678": "too_many_digits",
        "1.2345": "too_precise", "": "empty",
    }
    for value, code in refused.items():
        response = alpha.call("POST", path, json={"value": value, "read_at": day})
        assert response.status_code == 422, (value, response.get_json())
        assert response.get_json()["errors"][0]["code"] in (code, "string_too_short"), value
    future = alpha.call("POST", path, json={"value": "1100", "read_at": (
        datetime.now(timezone.utc) + timedelta(days=2)).isoformat()})
    assert future.get_json()["errors"][0] == {"field": "read_at", "row": None, "code": "future",
                                               "message": "The reading's date and time is in the future."}
    created = alpha.call("POST", path, json={"value": "1300", "read_at": day})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["source"] == "api" and Decimal(body["total_p"]) > 0 and not body["duplicate"]
    again = alpha.call("POST", path, json={"value": 1300, "read_at": day})
    assert again.status_code == 200 and again.get_json()["duplicate"]
    assert alpha.call("POST", path, json={"value": "1301", "read_at": day}).status_code == 409
    lower = {"value": "1200", "read_at": (T0 + timedelta(days=31)).isoformat()}
    needs_reason = alpha.call("POST", path, json=lower)
    assert needs_reason.status_code == 422
    assert needs_reason.get_json()["errors"][0]["field"] == "reason"
    assert alpha.call("POST", path, json={**lower, "reason": "meter exchanged"}).status_code == 201
    listed = alpha.call("GET", path, token="read").get_json()
    assert [i["value"] for i in listed["items"]] == ["1200.000", "1300.000", "1000.000"]
    assert alpha.call("POST", f"/meters/{beta.meter_id}/readings",
                      json={"value": "1300", "read_at": day}).status_code == 404
    with alpha.db.Session() as session:
        assert session.scalar(select(func.count()).select_from(MeterReading)
                              .where(MeterReading.meter_id == beta.meter_id)) == 1


# -- alerts, metrics, simulation --------------------------------------------------------------


def _alert(caller: Caller) -> int:
    with caller.db.Session() as session, session.begin():
        alert = Alert(asset_id=caller.plant.asset_id, sensor_id=caller.plant.sensor_ids[0],
                      started_at=T0, kind="static_high", severity="critical",
                      classification="other", message="torque above 3000 Nm", status="open")
        session.add(alert)
        session.flush()
        return alert.id


def test_alerts_list_and_acknowledge(alpha: Caller, beta: Caller) -> None:
    alert_id = _alert(alpha)
    _alert(beta)
    listed = alpha.call("GET", "/alerts?status=open", token="read").get_json()
    assert [a["id"] for a in listed["items"]] == [alert_id]
    path = f"/alerts/{alert_id}/acknowledge"
    assert alpha.call("POST", path, token="read", json={"comment": "on it"}).status_code == 403
    assert beta.call("POST", path, json={"comment": "on it"}).status_code == 404
    assert alpha.call("POST", path, json={"comment": ""}).status_code == 422
    done = alpha.call("POST", path, json={"comment": "engineer sent"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "acknowledged"
    assert done.get_json()["acknowledged_by"] == "API token 'gateway'"
    assert alpha.call("POST", path, json={"comment": "again"}).status_code == 409


def test_metrics_of_an_asset(alpha: Caller, beta: Caller) -> None:
    assert alpha.call("POST", "/sensor-readings", json={"readings": rows(alpha.plant, 300)}).status_code == 201
    query = {"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}
    body = alpha.call("GET", f"/assets/{alpha.plant.asset_id}/metrics", token="read",
                      query_string=query).get_json()
    assert body["readings"] == 100 and body["metrics"]
    assert {"key", "value", "unit", "band"} <= set(body["metrics"][0])
    assert alpha.call("GET", f"/assets/{beta.plant.asset_id}/metrics", token="read",
                      query_string=query).status_code == 404


def test_simulation_runs_and_stores_only_with_a_write_token(alpha: Caller) -> None:
    path = f"/assets/{alpha.plant.asset_id}/simulations"
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=2)).isoformat(),
              "interval_s": 60, "seed": 3, "max_points": 30}
    dry = alpha.call("POST", path, token="read", json=window)
    assert dry.status_code == 200, dry.get_json()
    body = dry.get_json()
    assert body["rows"] == 120 and body["stored"] == 0 and len(body["ts"]) <= 30
    assert {s["name"] for s in body["sensors"]} == {"torque", "speed", "oil_temperature"}
    assert alpha.stored() == 0
    assert alpha.call("POST", path, token="read", json={**window, "store": True}).status_code == 403
    stored = alpha.call("POST", path, json={**window, "store": True}).get_json()
    assert stored["stored"] == 360 and alpha.stored() == 360
    too_long = alpha.call("POST", path, json={**window, "end": (T0 + timedelta(days=30)).isoformat()})
    assert too_long.status_code == 422
    bad_fault = alpha.call("POST", path, json={**window, "faults": [
        {"kind": "overuse", "start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat(),
         "magnitude": 0.5}]})
    assert bad_fault.status_code == 422 and "overuse" in bad_fault.get_json()["message"]


def test_database_error_is_a_calm_503(alpha: Caller, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    from app.plant import catalogue

    def down(*_args: Any, **_kwargs: Any) -> Iterator[Any]:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(catalogue, "page_assets", down)
    response = alpha.call("GET", "/assets")
    assert response.status_code == 503
    assert response.get_json()["code"] == "database_unavailable"
    assert "Traceback" not in json.dumps(response.get_json())


@pytest.mark.parametrize("path,status", [
    ("/assets/1923091380722709", 404), ("/assets/0", 404), ("/assets/-1", 404),
    ("/meters/99999999999/readings", 404), ("/assets?site_id=1125899906842624", 422),
    ("/alerts?asset_id=99999999999", 422), ("/sensors/2147483648/readings?start=2026-01-01T00:00:00Z"
                                             "&end=2026-01-02T00:00:00Z", 404),
])
def test_ids_no_database_column_holds_are_4xx_not_5xx(alpha: Caller, path: str, status: int) -> None:
    """Found by schemathesis on PostgreSQL: ids are INTEGER columns, and a larger id in a path
    or a query reached the database and failed there (500)."""
    response = alpha.call("GET", path, token="read")
    assert response.status_code == status and response.is_json
