"""Bring your own plant through the REST API: a supplier manages its sites, assets and sensors
under /api/v1 with an admin token, by the catalogue's own rules (refusals name the field and
store nothing; history is retired, never deleted; every change is audited), and reads back its
twin's status and forecasts. On SQLite and on live PostgreSQL."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import pipeline
from app.api.schemas import MAX_BATCH_ROWS
from app.api_tokens import create_token
from app.db import Database
from app.db.models import Asset, AuditLog, Sensor, Site
from app.factory import build_app
from settings import Settings
from tests.conftest import Tenant, add_tenant
from tests.public_series import taylor

API = "/api/v1"
# The end-to-end test trains a real model: only the quick candidate (tests/test_forecasting_engine.py
# covers the trees).
SMALL_MODELS = {"candidates": ("ridge",)}


@pytest.fixture(scope="module")
def api_settings(shared_db: Database, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = shared_db.settings
    return settings.model_copy(update={
        "models_dir": tmp_path_factory.mktemp("models"),
        "model": settings.model.model_copy(update=SMALL_MODELS),
        "api": settings.api.model_copy(update={"rate_limit": "100000 per minute"}),
    })


@pytest.fixture(scope="module")
def api_app(api_settings: Settings) -> Flask:
    server = build_app(api_settings)
    server.config.update(TESTING=True)
    return server


@dataclass
class Supplier:
    """A tenant with a read, a write and an admin token, calling the API."""

    app: Flask
    db: Database
    tenant: Tenant
    tokens: dict[str, str]

    def call(self, method: str, path: str, token: str = "admin",  # type: ignore[no-untyped-def]
             **kwargs: Any):
        headers = {"Authorization": f"Bearer {self.tokens[token]}"}
        return self.app.test_client().open(API + path, method=method, headers=headers, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> dict[str, Any]:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.get_json())
        return response.get_json()  # type: ignore[no-any-return]

    def stored(self) -> tuple[Any, ...]:
        """Everything a refused change could have touched: the supplier's sites, assets and
        sensors as records, and its audit rows."""
        with self.db.Session() as session:
            sites = session.scalars(select(Site).where(Site.supplier_id == self.tenant.supplier_id)
                                    .order_by(Site.id)).all()
            assets = session.scalars(select(Asset).join(Site, Site.id == Asset.site_id)
                                     .where(Site.supplier_id == self.tenant.supplier_id)
                                     .order_by(Asset.id)).all()
            sensors = session.scalars(select(Sensor).where(
                Sensor.asset_id.in_([a.id for a in assets] or [-1])).order_by(Sensor.id)).all()
            audited = session.scalar(select(func.count()).select_from(AuditLog).where(
                AuditLog.supplier_id == self.tenant.supplier_id))
            return (
                [(x.id, x.name, x.location, x.maintenance_emails, x.retired_at) for x in sites],
                [(x.id, x.site_id, x.name, x.asset_type, x.parameters, x.upstream_id, x.formulas,
                  x.forecast_targets, x.retired_at) for x in assets],
                [(x.id, x.asset_id, x.name, x.unit, x.interval_s, x.normal_min, x.normal_max,
                  x.retired_at) for x in sensors],
                audited,
            )


def make_supplier(app: Flask, db: Database) -> Supplier:
    tenant = add_tenant(db, f"Supplier {uuid.uuid4().hex[:8]}")
    tokens = {}
    with db.Session() as session, session.begin():
        for scope in ("read", "write", "admin"):
            _, tokens[scope] = create_token(session, supplier_id=tenant.supplier_id, actor_id=None,
                                            name=f"{scope} token", scope=scope)
    return Supplier(app, db, tenant, tokens)


@pytest.fixture
def alpha(api_app: Flask, shared_db: Database) -> Supplier:
    return make_supplier(api_app, shared_db)


@pytest.fixture
def beta(api_app: Flask, shared_db: Database) -> Supplier:
    return make_supplier(api_app, shared_db)


@dataclass(frozen=True)
class Feeder:
    """A site with a generic asset and its half-hourly demand sensor, made through the API."""

    site_id: int
    asset_id: int
    sensor_id: int


def add_feeder(caller: Supplier, site: str = "Grid", asset: str = "Feeder 7") -> Feeder:
    site_id = caller.ok("POST", "/sites", 201, json={"name": site, "location": "Leeds"})["id"]
    asset_id = caller.ok("POST", "/assets", 201, json={
        "site_id": site_id, "name": asset, "asset_type": "generic"})["id"]
    sensor_id = caller.ok("POST", "/sensors", 201, json={
        "asset_id": asset_id, "name": "demand", "unit": "MW", "interval_s": 1800,
        "normal_min": 0, "normal_max": 80_000})["id"]
    return Feeder(site_id, asset_id, sensor_id)


# -- scopes -------------------------------------------------------------------------------------


def test_a_write_token_gets_403_on_catalogue_changes_an_admin_token_succeeds_a_read_token_lists(
        alpha: Supplier) -> None:
    feeder = add_feeder(alpha)
    before = alpha.stored()
    changes = [
        ("POST", "/sites", {"name": "Depot"}),
        ("PATCH", f"/sites/{feeder.site_id}", {"location": "York"}),
        ("DELETE", f"/sites/{feeder.site_id}", None),
        ("POST", f"/sites/{feeder.site_id}/retire", None),
        ("POST", "/assets", {"site_id": feeder.site_id, "name": "Feeder 8"}),
        ("PATCH", f"/assets/{feeder.asset_id}", {"name": "Feeder 9"}),
        ("DELETE", f"/assets/{feeder.asset_id}", None),
        ("POST", f"/assets/{feeder.asset_id}/retire", None),
        ("POST", "/sensors", {"asset_id": feeder.asset_id, "name": "load", "unit": "MW"}),
        ("PATCH", f"/sensors/{feeder.sensor_id}", {"unit": "kW"}),
        ("DELETE", f"/sensors/{feeder.sensor_id}", None),
        ("POST", f"/sensors/{feeder.sensor_id}/restore", None),
    ]
    for scope in ("write", "read"):
        for method, path, body in changes:
            response = alpha.call(method, path, token=scope, json=body)
            assert response.status_code == 403, (scope, method, path, response.get_json())
            assert response.get_json()["code"] == "forbidden"
            assert "admin token" in response.get_json()["message"]
    assert alpha.stored() == before
    assert alpha.call("POST", "/sites", json={"name": "Depot"}).status_code == 201
    for path in ("/sites", "/assets", f"/assets/{feeder.asset_id}/sensors"):
        listed = alpha.ok("GET", path, token="read")
        assert listed["total"] >= 1, path
    assert alpha.ok("GET", f"/sensors/{feeder.sensor_id}", token="read")["unit"] == "MW"
    # An admin token may do what a write token does.
    reading = {"sensor_id": feeder.sensor_id, "ts": "2026-01-05T00:00:00Z", "value": 1.5}
    assert alpha.call("POST", "/sensor-readings", json={"readings": [reading]}).status_code == 201


# -- creating and reading back ----------------------------------------------------------------


def test_site_asset_sensor_then_a_formula_and_target_are_created_and_read_back(
        alpha: Supplier) -> None:
    site = alpha.ok("POST", "/sites", 201, json={"name": "Grid", "location": "Leeds",
                                                 "maintenance_emails": ["control@northwind.test"]})
    assert site["maintenance_emails"] == ["control@northwind.test"] and site["retired_at"] is None
    asset = alpha.ok("POST", "/assets", 201, json={"site_id": site["id"], "name": "Feeder 7",
                                                   "asset_type": "generic"})
    assert asset["sensors"] == [] and asset["formulas"] == [] and asset["site"] == "Grid"
    sensor = alpha.ok("POST", "/sensors", 201, json={
        "asset_id": asset["id"], "name": "demand", "unit": "MW", "interval_s": 1800,
        "normal_min": 0, "normal_max": 80_000})
    assert (sensor["unit"], sensor["interval_s"], sensor["normal_max"]) == ("MW", 1800, 80_000)
    formula = {"name": "energy_mwh", "unit": "MWh", "formula": "integrate(demand) / 3600"}
    changed = alpha.ok("PATCH", f"/assets/{asset['id']}", json={
        "formulas": [formula], "forecast_targets": ["demand"]})
    assert changed["formulas"] == [formula] and changed["forecast_targets"] == ["demand"]

    shown = alpha.ok("GET", f"/assets/{asset['id']}", token="read")
    assert shown["formulas"] == [formula] and shown["forecast_targets"] == ["demand"]
    assert shown["name"] == "Feeder 7" and shown["retired_at"] is None
    assert [(x["name"], x["unit"], x["interval_s"]) for x in shown["sensors"]] == \
        [("demand", "MW", 1800)]
    listed = alpha.ok("GET", "/assets", token="read")
    assert [a["id"] for a in listed["items"]] == [asset["id"]] and listed["items"][0] == shown
    sensors = alpha.ok("GET", f"/assets/{asset['id']}/sensors", token="read")
    assert [x["id"] for x in sensors["items"]] == [sensor["id"]]
    renamed = alpha.ok("PATCH", f"/sites/{site['id']}", json={"location": "York"})
    assert (renamed["name"], renamed["location"]) == ("Grid", "York")
    narrowed = alpha.ok("PATCH", f"/sensors/{sensor['id']}", json={"normal_max": 60_000})
    assert (narrowed["normal_min"], narrowed["normal_max"]) == (0, 60_000)

    # Nothing has run yet: the status says so, and a target without a model has no forecasts.
    status = alpha.ok("GET", f"/assets/{asset['id']}/status", token="read")
    assert status["level"] == "never" and status["at"] is None
    none_yet = alpha.ok("GET", f"/assets/{asset['id']}/forecasts", token="read",
                        query_string={"target": "demand"})
    assert none_yet["items"] == [] and none_yet["model_version"] is None
    assert none_yet["unit"] == "MW"
    unknown = alpha.call("GET", f"/assets/{asset['id']}/forecasts", token="read",
                         query_string={"target": "flow"})
    assert unknown.status_code == 422 and unknown.get_json()["errors"][0]["field"] == "target"

    spec = alpha.call("GET", "/openapi.json").get_json()
    operations = {(m, p) for p, item in spec["paths"].items() for m in item}
    assert operations >= {
        ("get", "/sites"), ("post", "/sites"), ("get", "/sites/{site_id}"),
        ("patch", "/sites/{site_id}"), ("delete", "/sites/{site_id}"),
        ("post", "/sites/{site_id}/retire"), ("post", "/sites/{site_id}/restore"),
        ("get", "/assets"), ("post", "/assets"), ("get", "/assets/{asset_id}"),
        ("patch", "/assets/{asset_id}"), ("delete", "/assets/{asset_id}"),
        ("post", "/assets/{asset_id}/retire"), ("post", "/assets/{asset_id}/restore"),
        ("get", "/assets/{asset_id}/sensors"), ("post", "/sensors"),
        ("get", "/sensors/{sensor_id}"),
        ("patch", "/sensors/{sensor_id}"), ("delete", "/sensors/{sensor_id}"),
        ("post", "/sensors/{sensor_id}/retire"), ("post", "/sensors/{sensor_id}/restore"),
        ("get", "/assets/{asset_id}/status"), ("get", "/assets/{asset_id}/forecasts"),
    }
    assert set(spec["paths"]["/sites"]["post"]["responses"]) >= {"201", "401", "403", "409", "422"}
    assert set(spec["paths"]["/assets/{asset_id}"]["delete"]["responses"]) >= {"204", "404", "409"}


def test_the_same_asset_name_may_be_used_on_another_site(alpha: Supplier) -> None:
    first = add_feeder(alpha, site="Grid")
    other = alpha.ok("POST", "/sites", 201, json={"name": "Depot"})
    twin = alpha.ok("POST", "/assets", 201, json={"site_id": other["id"], "name": "Feeder 7"})
    assert twin["id"] != first.asset_id
    assert alpha.ok("GET", "/assets", query_string={"site_id": other["id"]})["total"] == 1


# -- refusals ---------------------------------------------------------------------------------

#: (what, method, path, body, status, field, words in the message); the path and body are
#: formatted with the feeder's ids.
REFUSALS = [
    ("duplicate site name", "POST", "/sites", {"name": "Grid"}, 409, "name", "already a site"),
    ("duplicate asset name on the site", "POST", "/assets",
     {"site_id": "{site_id}", "name": "Feeder 7"}, 409, "name", "already an asset"),
    ("duplicate sensor name on the asset", "POST", "/sensors",
     {"asset_id": "{asset_id}", "name": "demand", "unit": "kW"}, 409, "name", "already a sensor"),
    ("renaming onto a taken site name", "PATCH", "/sites/{spare_site_id}", {"name": "Grid"}, 409,
     "name", "already a site"),
    ("unknown unit", "POST", "/sensors", {"asset_id": "{asset_id}", "name": "load",
                                          "unit": "zorkmids"}, 422, "unit", "unknown unit"),
    ("unknown asset type", "POST", "/assets", {"site_id": "{site_id}", "name": "Mill",
                                               "asset_type": "windmill"}, 422, "asset_type",
     "unknown type 'windmill'"),
    ("formula naming a missing sensor", "PATCH", "/assets/{asset_id}", {"formulas": [
        {"name": "power", "unit": "kW", "formula": "flow * 2"}]}, 422, "formulas", "'flow'"),
    ("formula dividing by a constant zero", "PATCH", "/assets/{asset_id}", {"formulas": [
        {"name": "power", "unit": "kW", "formula": "demand / (2 - 2)"}]}, 422, "formulas",
     "divides by a constant zero"),
    ("formula unit pint does not know", "PATCH", "/assets/{asset_id}", {"formulas": [
        {"name": "power", "unit": "zorkmids", "formula": "demand * 2"}]}, 422, "formulas.0.unit",
     "unknown unit"),
    ("forecast target that is no sensor or calculation", "PATCH", "/assets/{asset_id}",
     {"forecast_targets": ["flow"]}, 422, "forecast_targets", "'flow'"),
    # Feeder 6 is fed by Feeder 7 (see the test): Feeder 7 cannot be fed by Feeder 6.
    ("upstream cycle", "PATCH", "/assets/{asset_id}", {"upstream_id": "{upstream_id}"}, 422,
     "upstream_id", "cycle"),
    ("normal minimum above the maximum", "PATCH", "/sensors/{sensor_id}",
     {"normal_min": 10, "normal_max": 5}, 422, "normal_min", "above"),
    ("changing an asset's type", "PATCH", "/assets/{asset_id}", {"asset_type": "boiler"}, 422,
     "asset_type", "cannot change"),
    ("blank name", "POST", "/sites", {"name": "   "}, 422, "name", "give a name"),
    ("sensor name a formula cannot read", "POST", "/sensors",
     {"asset_id": "{asset_id}", "name": "Load MW", "unit": "MW"}, 422, "name", "lower-case"),
    # Wrong JSON types stop at the schema, naming the field.
    ("a name that is a number", "POST", "/sites", {"name": 5}, 422, "name", "string"),
    ("a normal range given as text", "PATCH", "/sensors/{sensor_id}", {"normal_min": "12"}, 422,
     "normal_min", "number"),
    ("an interval that is not whole", "PATCH", "/sensors/{sensor_id}", {"interval_s": 1.5}, 422,
     "interval_s", "integer"),
    ("an interval of zero", "PATCH", "/sensors/{sensor_id}", {"interval_s": 0}, 422,
     "interval_s", "greater than"),
    ("a parameter that is a list", "PATCH", "/assets/{asset_id}",
     {"parameters": {"efficiency": [1]}}, 422, "parameters.efficiency", "number"),
    ("a field the record does not have", "PATCH", "/assets/{asset_id}", {"colour": "red"}, 422,
     "colour", "not permitted"),
    ("formulas as a string", "PATCH", "/assets/{asset_id}", {"formulas": "demand * 2"}, 422,
     "formulas", "list"),
]


def _fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\{\w+\}", value):
        return ids[value[1:-1]]
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize("what,method,path,body,status,field,words", REFUSALS,
                         ids=[case[0] for case in REFUSALS])
def test_bad_input_answers_4xx_naming_the_field_and_stores_nothing(
        alpha: Supplier, what: str, method: str, path: str, body: dict[str, Any], status: int,
        field: str, words: str) -> None:
    feeder = add_feeder(alpha)
    spare = alpha.ok("POST", "/sites", 201, json={"name": "Depot"})
    upstream = alpha.ok("POST", "/assets", 201, json={"site_id": feeder.site_id, "name": "Feeder 6",
                                                      "upstream_id": feeder.asset_id})
    ids = {"site_id": feeder.site_id, "asset_id": feeder.asset_id, "sensor_id": feeder.sensor_id,
           "spare_site_id": spare["id"], "upstream_id": upstream["id"]}
    before = alpha.stored()
    response = alpha.call(method, _fill(path, ids), json=_fill(body, ids))
    assert response.status_code == status, response.get_json()
    answer = response.get_json()
    assert answer["code"] == ("conflict" if status == 409 else "validation_error")
    assert answer["errors"][0]["field"] == field, answer
    assert words in answer["message"] and field.split(".")[0] in answer["message"], answer
    assert alpha.stored() == before


def test_another_suppliers_records_answer_exactly_like_missing_ones(alpha: Supplier,
                                                                   beta: Supplier) -> None:
    mine, theirs = add_feeder(alpha), add_feeder(beta)
    before = (alpha.stored(), beta.stored())
    missing = 2_000_000_000

    def same(their_id: int, path: str, method: str = "GET", body: Any = None,
             key: str | None = None) -> None:
        def ask(ident: int) -> tuple[int, str]:
            filled = {k: ident if v == "ID" else v for k, v in body.items()} if body else None
            response = alpha.call(method, path.replace("ID", str(ident)), json=filled)
            answer = response.get_json()
            return response.status_code, answer["message"].replace(str(ident), "N")

        status, message = ask(their_id)
        assert (status, message) == ask(missing), (method, path)
        assert status in (404, 422)

    for path in ("/sites/ID", "/assets/ID", "/sensors/ID", "/assets/ID/sensors",
                 "/assets/ID/status"):
        same(theirs.site_id if "sites" in path else theirs.asset_id if "assets" in path
             else theirs.sensor_id, path)
    same(theirs.site_id, "/sites/ID", "PATCH", {"name": "Mine now"})
    same(theirs.asset_id, "/assets/ID", "DELETE")
    same(theirs.sensor_id, "/sensors/ID/retire", "POST")
    same(theirs.site_id, "/assets", "POST", {"site_id": "ID", "name": "Feeder 7"})
    same(theirs.asset_id, "/sensors", "POST", {"asset_id": "ID", "name": "load", "unit": "MW"})
    same(theirs.asset_id, f"/assets/{mine.asset_id}", "PATCH", {"upstream_id": "ID"})
    refused = alpha.call("POST", "/assets", json={"site_id": theirs.site_id, "name": "X"})
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "site_id"
    assert (alpha.stored(), beta.stored()) == before


# -- history: retire, never delete ----------------------------------------------------------


def test_delete_with_readings_is_refused_saying_retire_and_retired_leaves_the_list(
        alpha: Supplier) -> None:
    feeder = add_feeder(alpha)
    assert alpha.call("POST", "/sensor-readings", json={"readings": [
        {"sensor_id": feeder.sensor_id, "ts": f"2026-01-05T0{h}:00:00Z", "value": 30_000.0 + h}
        for h in range(3)]}).status_code == 201
    before = alpha.stored()
    for path in (f"/sensors/{feeder.sensor_id}", f"/assets/{feeder.asset_id}"):
        refused = alpha.call("DELETE", path)
        assert refused.status_code == 409, refused.get_json()
        assert "retire it instead" in refused.get_json()["message"]
        assert refused.get_json()["errors"][0]["field"] == "id"
    site_refused = alpha.call("DELETE", f"/sites/{feeder.site_id}")
    assert site_refused.status_code == 409
    assert "retire the site" in site_refused.get_json()["message"]
    assert alpha.stored() == before

    retired = alpha.ok("POST", f"/sensors/{feeder.sensor_id}/retire")
    assert retired["retired_at"] is not None
    sensors = f"/assets/{feeder.asset_id}/sensors"
    assert alpha.ok("GET", sensors)["items"] == []
    assert [x["id"] for x in alpha.ok("GET", sensors, query_string={"retired": "true"})["items"]] \
        == [feeder.sensor_id]
    assert alpha.ok("GET", f"/assets/{feeder.asset_id}")["sensors"] == []
    alpha.ok("POST", f"/sensors/{feeder.sensor_id}/restore")

    asset = alpha.ok("POST", f"/assets/{feeder.asset_id}/retire")
    assert asset["retired_at"] is not None
    assert alpha.ok("GET", "/assets")["total"] == 0
    everything = alpha.ok("GET", "/assets", query_string={"retired": "true"})
    assert [a["id"] for a in everything["items"]] == [feeder.asset_id]
    assert everything["items"][0]["retired_at"] is not None
    assert alpha.ok("GET", f"/assets/{feeder.asset_id}")["retired_at"] is not None  # still readable
    alpha.ok("POST", f"/assets/{feeder.asset_id}/restore")
    assert alpha.ok("GET", "/assets")["total"] == 1

    alpha.ok("POST", f"/sites/{feeder.site_id}/retire")
    assert alpha.ok("GET", "/sites")["total"] == 0 and alpha.ok("GET", "/assets")["total"] == 0
    assert alpha.ok("GET", "/sites", query_string={"retired": "1"})["total"] == 1
    refused = alpha.call("POST", "/assets", json={"site_id": feeder.site_id, "name": "New"})
    assert refused.status_code == 422 and "retired" in refused.get_json()["message"]
    alpha.ok("POST", f"/sites/{feeder.site_id}/restore")

    # What has no history goes for good.
    spare = alpha.ok("POST", "/sensors", 201, json={"asset_id": feeder.asset_id, "name": "spare",
                                                    "unit": "1"})
    deleted = alpha.call("DELETE", f"/sensors/{spare['id']}")
    assert deleted.status_code == 204 and deleted.data == b""
    assert alpha.call("GET", f"/sensors/{spare['id']}").status_code == 404
    empty = alpha.ok("POST", "/sites", 201, json={"name": "Empty"})
    bare = alpha.ok("POST", "/assets", 201, json={"site_id": empty["id"], "name": "Bare"})
    assert alpha.call("DELETE", f"/assets/{bare['id']}").status_code == 204
    assert alpha.call("DELETE", f"/sites/{empty['id']}").status_code == 204
    assert alpha.call("GET", f"/sites/{empty['id']}").status_code == 404


def test_every_change_is_audited_in_the_tokens_name(alpha: Supplier) -> None:
    feeder = add_feeder(alpha)
    alpha.ok("PATCH", f"/assets/{feeder.asset_id}", json={"forecast_targets": ["demand"]})
    alpha.ok("POST", f"/sensors/{feeder.sensor_id}/retire")
    spare = alpha.ok("POST", "/sites", 201, json={"name": "Spare"})
    assert alpha.call("DELETE", f"/sites/{spare['id']}").status_code == 204
    assert alpha.call("PATCH", f"/assets/{feeder.asset_id}",
                      json={"forecast_targets": ["nothing"]}).status_code == 422  # not audited
    with alpha.db.Session() as session:
        rows = session.scalars(select(AuditLog).where(
            AuditLog.supplier_id == alpha.tenant.supplier_id,
            AuditLog.entity.in_(("site", "asset", "sensor")))
            .order_by(AuditLog.id)).all()
    assert [(r.action, r.entity_id) for r in rows] == [
        ("site.create", str(feeder.site_id)), ("asset.create", str(feeder.asset_id)),
        ("sensor.create", str(feeder.sensor_id)), ("asset.update", str(feeder.asset_id)),
        ("sensor.retire", str(feeder.sensor_id)), ("site.create", str(spare["id"])),
        ("site.delete", str(spare["id"])),
    ]
    assert all(r.ip == "127.0.0.1" and r.user_id is None for r in rows)
    assert all(r.new["via"] == "API token 'admin token'" for r in rows if r.new is not None)
    update = rows[3]
    assert update.old["forecast_targets"] is None and update.new["forecast_targets"] == ["demand"]


# -- the same through the API ---------------------------------------------------------------


def test_the_same_through_the_api_a_real_half_hourly_series_is_twinned_and_forecast(
        alpha: Supplier, api_settings: Settings) -> None:
    """What tests/test_catalogue_cli.py does with the CLI, with an admin token alone: a generic
    asset with a half-hourly demand sensor and a formula, fed the Taylor series (England and
    Wales demand, summer 2000, in MW) through POST /sensor-readings, twinned by the pipeline,
    and its status and forecasts read back."""
    feeder = add_feeder(alpha, site="Grid", asset="Feeder 7")
    alpha.ok("PATCH", f"/assets/{feeder.asset_id}", json={"formulas": [
        {"name": "energy_mwh", "unit": "MWh", "formula": "integrate(demand) / 3600"}]})
    series = taylor()
    assert len(series) == 4032 and series.index[0].isoformat() == "2000-06-04T23:00:00+00:00"
    rows = [{"sensor_id": feeder.sensor_id, "ts": ts.isoformat(), "value": float(value)}
            for ts, value in series.items()]
    for start in range(0, len(rows), MAX_BATCH_ROWS):
        stored = alpha.ok("POST", "/sensor-readings", 201,
                          json={"readings": rows[start:start + MAX_BATCH_ROWS]})
        assert stored["stored"] == len(rows[start:start + MAX_BATCH_ROWS])
    asset = alpha.ok("PATCH", f"/assets/{feeder.asset_id}", json={"forecast_targets": ["demand"]})

    pipeline.run(alpha.db, api_settings, asset["id"], asset["forecast_targets"])

    status = alpha.ok("GET", f"/assets/{asset['id']}/status", token="read")
    assert status["level"] == "ok", status
    assert status["at"] is not None and status["notes"] == []
    forecasts = alpha.ok("GET", f"/assets/{asset['id']}/forecasts", token="read",
                         query_string={"target": "demand"})
    assert forecasts["model_version"] == 1 and forecasts["step_minutes"] == 30
    assert forecasts["unit"] == "MW" and forecasts["issued_at"] is not None
    items = forecasts["items"]
    assert items, forecasts
    stamps = [datetime.fromisoformat(item["ts"]) for item in items]
    assert stamps == sorted(stamps) and stamps[0] > series.index[-1]
    for item in items:
        assert item["lower"] <= item["value"] <= item["upper"], item
        assert 20_000 <= item["value"] <= 50_000, item
    first = alpha.ok("GET", f"/assets/{asset['id']}/forecasts", token="read",
                     query_string={"target": "demand", "limit": 1})
    assert first["items"] == items[:1]
