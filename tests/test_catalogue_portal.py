"""The plant catalogue page's callbacks through Dash's real endpoint: an admin adds and changes
sites, assets (with their type's parameters and their formulas) and sensors; a refusal names
its field and stores nothing; something with history is retired, not deleted; operators and
viewers change nothing; another supplier's ids behave as missing. And the asset page of a
brand-new asset (one sensor, no data) shows its status line and says calmly that there is none.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from app.db import Database
from app.db.base import utcnow
from app.db.models import Asset, AuditLog, Sensor, Site
from app.ingest import write_sensor_readings
from app.plant.catalogue import Actor, create_asset, create_sensor, create_site
from layouts import catalogue as page
from layouts import ids
from tests.conftest import DashCaller, Tenant, component, dash_as


def send(call: DashCaller, output: str, values: dict[str, Any], changed: str | None = None) -> dict[str, Any]:
    """Call the callback of ``output`` as the renderer does, pattern-matching inputs included:
    ``values`` holds ``"id.prop"`` for plain ids and ``"type.prop"`` -> [(id, value)...] for
    pattern-matching ones (``changed`` may then be such an id's JSON + ``.prop``). Returns the
    outputs as ``{"id.prop": value}``."""
    def key(spec: dict[str, Any]) -> str:  # "id.prop", or "type.prop" for a pattern
        ident = json.loads(spec["id"])["type"] if spec["id"].startswith("{") else spec["id"]
        return f"{ident}.{spec['property']}"

    found = [d for d in call.dependencies if output in d["output"]]
    if changed is None:  # the callback that one of ``values`` triggers
        wanted = set(values)
    else:
        wanted = {f"{json.loads(changed.rsplit('.', 1)[0])['type']}.{changed.rsplit('.', 1)[1]}"
                  if changed.startswith("{") else changed}
    dep = ([d for d in found if any(key(i) in wanted for i in d["inputs"])] or found)[0]

    def item(spec: dict[str, Any]) -> Any:
        if spec["id"].startswith("{"):
            kind = json.loads(spec["id"])["type"]
            return [{"id": {**ident, "type": kind}, "property": spec["property"], "value": value}
                    for ident, value in values.get(f"{kind}.{spec['property']}", [])]
        return {**spec, "value": values.get(f"{spec['id']}.{spec['property']}")}

    outputs = [{"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
               for part in dep["output"].strip(".").split("...")]
    inputs = [item(spec) for spec in dep["inputs"]]
    first = dep["inputs"][0]
    payload = {"output": dep["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
               "inputs": inputs, "state": [item(spec) for spec in dep["state"]],
               "changedPropIds": [changed or f"{first['id']}.{first['property']}"]}
    response = call.client.post("/_dash-update-component", json=payload)
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:500]
    if response.status_code == 204:  # every output no_update
        return {}
    return {f"{k}.{p}": v for k, props in response.get_json()["response"].items() for p, v in props.items()}


def words(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def pattern(component: str, prop: str, ident: dict[str, Any]) -> str:
    """A pattern-matching id's changed property as the renderer names it: its JSON, keys sorted."""
    return json.dumps({**ident, "type": component}, sort_keys=True, separators=(",", ":")) + f".{prop}"


def save_site(call: DashCaller, editing: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return send(call, f"{ids.CAT_SITE_RESULT}.children", {
        f"{ids.CAT_SITE_SAVE}.n_clicks": 1, f"{ids.CAT_EDITING}.data": editing,
        f"{ids.CAT_SITE_NAME}.value": fields.get("name"), f"{ids.CAT_SITE_LOCATION}.value": fields.get("location"),
        f"{ids.CAT_SITE_EMAILS}.value": fields.get("emails"), f"{ids.CAT_CHANGED}.data": 0})


def save_asset(call: DashCaller, editing: dict[str, Any], *, site_id: int | None, name: str, kind: str,
               params: dict[str, Any] | None = None, constants: list[tuple[str, Any]] | None = None,
               formulas: list[tuple[str, str, str]] | None = None, targets: list[str] | None = None,
               stored: dict[str, Any] | None = None, upstream: int | None = None) -> dict[str, Any]:
    formulas = formulas or []
    constants = constants or []
    return send(call, f"{ids.CAT_ASSET_RESULT}.children", {
        f"{ids.CAT_ASSET_SAVE}.n_clicks": 1, f"{ids.CAT_EDITING}.data": editing,
        f"{ids.CAT_ASSET_STORED}.data": stored, f"{ids.CAT_ASSET_SITE}.value": None if site_id is None else str(site_id),
        f"{ids.CAT_ASSET_NAME}.value": name, f"{ids.CAT_ASSET_TYPE}.value": kind,
        f"{ids.CAT_PARAM}.value": [({"name": k}, v) for k, v in (params or {}).items()],
        f"{ids.CAT_CONST_NAME}.value": [({"row": n}, c[0]) for n, c in enumerate(constants)],
        f"{ids.CAT_CONST_VALUE}.value": [({"row": n}, c[1]) for n, c in enumerate(constants)],
        f"{ids.CAT_ASSET_UPSTREAM}.value": upstream,
        f"{ids.CAT_FORMULA_NAME}.value": [({"row": n}, f[0]) for n, f in enumerate(formulas)],
        f"{ids.CAT_FORMULA_UNIT}.value": [({"row": n}, f[1]) for n, f in enumerate(formulas)],
        f"{ids.CAT_FORMULA_TEXT}.value": [({"row": n}, f[2]) for n, f in enumerate(formulas)],
        f"{ids.CAT_ASSET_TARGETS}.value": targets, f"{ids.CAT_CHANGED}.data": 0})


def save_sensor(call: DashCaller, editing: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return send(call, f"{ids.CAT_SENSOR_RESULT}.children", {
        f"{ids.CAT_SENSOR_SAVE}.n_clicks": 1, f"{ids.CAT_EDITING}.data": editing,
        f"{ids.CAT_SENSOR_NAME}.value": fields.get("name"), f"{ids.CAT_SENSOR_UNIT}.value": fields.get("unit"),
        f"{ids.CAT_SENSOR_INTERVAL}.value": fields.get("interval_s"),
        f"{ids.CAT_SENSOR_MIN}.value": fields.get("normal_min"),
        f"{ids.CAT_SENSOR_MAX}.value": fields.get("normal_max"), f"{ids.CAT_CHANGED}.data": 0})


def retire(call: DashCaller, kind: str, ident: int, restore: bool = False) -> dict[str, Any]:
    key = {"kind": kind, "id": ident, "restore": restore}
    return send(call, f"{ids.CAT_NOTICE}.children", {
        f"{ids.CAT_RETIRE}.n_clicks": [(key, 1)], f"{ids.CAT_CHANGED}.data": 0},
        changed=pattern(ids.CAT_RETIRE, "n_clicks", key))


def delete(call: DashCaller, kind: str, ident: int) -> dict[str, Any]:
    key = {"kind": kind, "id": ident}
    return send(call, f"{ids.CAT_NOTICE}.children", {
        f"{ids.CAT_DELETE}.submit_n_clicks": [(key, 1)], f"{ids.CAT_CHANGED}.data": 0},
        changed=pattern(ids.CAT_DELETE, "submit_n_clicks", key))


def tree(call: DashCaller, retired: bool = False) -> str:
    return words(send(call, f"{ids.CAT_TREE}.children", {
        "url.pathname": page.PATH, f"{ids.CAT_CHANGED}.data": 1, f"{ids.CAT_SHOW_RETIRED}.value": retired}))


def count(db: Database, model: Any) -> int:
    with db.Session() as session:
        return session.scalar(select(func.count()).select_from(model))


NEW_SITE = {"kind": "site", "id": None, "parent": None}


def new_asset(site_id: int) -> dict[str, Any]:
    return {"kind": "asset", "id": None, "parent": site_id}


def new_sensor(asset_id: int) -> dict[str, Any]:
    return {"kind": "sensor", "id": None, "parent": asset_id}


@pytest.fixture
def beta_plant(db: Database, tenants: tuple[Tenant, Tenant]) -> dict[str, int]:
    """Another supplier's site, generic asset and sensor, made through the service."""
    with db.Session() as session, session.begin():
        actor = Actor(tenants[1].supplier_id, via="test")
        site = create_site(session, actor, name="Beta Works")
        asset = create_asset(session, actor, site_id=site.id, name="Beta Pump", asset_type="generic")
        sensor = create_sensor(session, actor, asset_id=asset.id, name="beta_flow", unit="m³/h")
        return {"site": site.id, "asset": asset.id, "sensor": sensor.id}


# -- an admin builds an estate ---------------------------------------------------------------------


def test_an_admin_adds_a_site_a_generic_asset_with_a_sensor_and_its_formula(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    chosen = send(call, f"{ids.CAT_EDITING}.data", {f"{ids.CAT_ADD_SITE}.n_clicks": 1},
                  changed=f"{ids.CAT_ADD_SITE}.n_clicks")
    assert chosen[f"{ids.CAT_EDITING}.data"] == NEW_SITE
    made = save_site(call, NEW_SITE, name="Riverside Plant", location="Derby",
                     emails="ops@alpha.test, fitter@alpha.test")
    assert "Added the site “Riverside Plant”" in words(made)
    site_id = made[f"{ids.CAT_EDITING}.data"]["id"]
    assert made[f"{ids.CAT_CHANGED}.data"] == 1

    form = send(call, f"{ids.CAT_ASSET_FORM}.style", {f"{ids.CAT_EDITING}.data": new_asset(site_id)})
    assert form[f"{ids.CAT_ASSET_TYPE}.value"] == "generic" and form[f"{ids.CAT_ASSET_SITE}.value"] == str(site_id)
    constants = send(call, f"{ids.CAT_ASSET_PARAMS}.children", {f"{ids.CAT_ASSET_TYPE}.value": "generic",
                                                                f"{ids.CAT_ASSET_STORED}.data": None})
    assert ids.CAT_CONST_NAME in words(constants)

    made = save_asset(call, new_asset(site_id), site_id=site_id, name="Pump 7", kind="generic",
                      constants=[("efficiency", 0.7)])
    body = words(made[f"{ids.CAT_ASSET_RESULT}.children"])
    asset_id = made[f"{ids.CAT_EDITING}.data"]["id"]
    assert "Added the generic asset “Pump 7”" in body
    assert "Open asset page" in body and f'"/assets/{asset_id}"' in body

    made = save_sensor(call, new_sensor(asset_id), name="flow_m3h", unit="m³/h", interval_s=1800,
                       normal_min=0, normal_max=40)
    assert "Added the sensor “flow_m3h”" in words(made)
    stored = {"id": asset_id, "kind": "generic", "parameters": {"efficiency": 0.7}, "sensors": ["flow_m3h"]}
    options = send(call, f"{ids.CAT_ASSET_TARGETS}.options", {
        f"{ids.CAT_ASSET_TYPE}.value": "generic", f"{ids.CAT_ASSET_STORED}.data": stored,
        f"{ids.CAT_FORMULA_NAME}.value": [({"row": 0}, "power_kw")]})[f"{ids.CAT_ASSET_TARGETS}.options"]
    assert [o["value"] for o in options] == ["flow_m3h", "power_kw"]
    saved = save_asset(call, {"kind": "asset", "id": asset_id, "parent": None}, site_id=site_id, name="Pump 7",
                       kind="generic", constants=[("efficiency", 0.7)], stored=stored,
                       formulas=[("power_kw", "kW", "flow_m3h * 2 / efficiency"),
                                 ("energy_kwh", "kWh", "integrate(power_kw) / 3600")],
                       targets=["power_kw"])
    assert "Saved the asset “Pump 7”" in words(saved)

    with db.Session() as session:
        site = session.get(Site, site_id)
        asset = session.get(Asset, asset_id)
        sensor = session.scalar(select(Sensor).where(Sensor.asset_id == asset_id))
        assert (site.supplier_id, site.location, site.maintenance_emails) == (
            tenants[0].supplier_id, "Derby", "ops@alpha.test, fitter@alpha.test")
        assert asset.parameters == {"efficiency": 0.7} and asset.forecast_targets == ["power_kw"]
        assert [f["name"] for f in asset.formulas] == ["power_kw", "energy_kwh"]
        assert (sensor.name, sensor.unit, sensor.interval_s, sensor.normal_min, sensor.normal_max) == (
            "flow_m3h", "m³/h", 1800, 0, 40)
        audit = {a.action: a for a in session.scalars(select(AuditLog).where(AuditLog.entity.is_not(None)))}
        assert audit["asset.update"].new["via"] == "portal"
        assert {"site.create", "asset.create", "sensor.create"} <= set(audit)

    edit = {"kind": "asset", "id": asset_id}
    chosen = send(call, f"{ids.CAT_EDITING}.data", {f"{ids.CAT_EDIT}.n_clicks": [(edit, 1)]},
                  changed=pattern(ids.CAT_EDIT, "n_clicks", edit))
    assert chosen[f"{ids.CAT_EDITING}.data"] == {**edit, "parent": None}
    redrawn = send(call, f"{ids.CAT_EDITING}.data", {f"{ids.CAT_EDIT}.n_clicks": [(edit, None)]},
                   changed=pattern(ids.CAT_EDIT, "n_clicks", edit))
    assert redrawn == {}  # the tree drawn again fires the buttons unclicked: nothing opens
    reopened = send(call, f"{ids.CAT_ASSET_FORM}.style",
                    {f"{ids.CAT_EDITING}.data": {"kind": "asset", "id": asset_id, "parent": None}})
    stored = reopened[f"{ids.CAT_ASSET_STORED}.data"]
    assert stored["targets"] == ["power_kw"] and stored["sensors"] == ["flow_m3h"]
    choice = send(call, f"{ids.CAT_ASSET_TARGETS}.options", {
        f"{ids.CAT_ASSET_TYPE}.value": "generic", f"{ids.CAT_ASSET_STORED}.data": stored,
        f"{ids.CAT_FORMULA_NAME}.value": [({"row": 0}, "power_kw"), ({"row": 1}, "energy_kwh")]},
        changed=f"{ids.CAT_ASSET_STORED}.data")
    assert choice[f"{ids.CAT_ASSET_TARGETS}.value"] == ["power_kw"]  # with its option, so it stays shown

    shown = tree(call)
    assert "Riverside Plant" in shown and "Pump 7" in shown and "Generic asset" in shown
    assert "flow_m3h" in shown and "30 min" in shown and "0 – 40" in shown
    assert "1 sensor, 2 formulas" in shown


def test_a_built_in_type_gets_its_sensors_and_its_parameter_form(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    site_id = save_site(call, NEW_SITE, name="Boiler House")[f"{ids.CAT_EDITING}.data"]["id"]
    form = words(send(call, f"{ids.CAT_ASSET_PARAMS}.children", {f"{ids.CAT_ASSET_TYPE}.value": "boiler",
                                                                 f"{ids.CAT_ASSET_STORED}.data": None}))
    assert '"name": "rated_output_kw"' in form and '"value": 500.0' in form  # prefilled with the default
    made = save_asset(call, new_asset(site_id), site_id=site_id, name="Boiler 1", kind="boiler",
                      params={"rated_output_kw": 650, "efficiency": None, "control": "modulating"})
    assert "with its 4 sensors" in words(made)
    asset_id = made[f"{ids.CAT_EDITING}.data"]["id"]
    with db.Session() as session:
        asset = session.get(Asset, asset_id)
        assert asset.parameters["rated_output_kw"] == 650 and asset.parameters["efficiency"] == 0.9
        assert len(asset.sensors) == 4
    form = send(call, f"{ids.CAT_ASSET_FORM}.style", {f"{ids.CAT_EDITING}.data": {"kind": "asset", "id": asset_id}})
    assert form[f"{ids.CAT_ASSET_TYPE}.disabled"] is True  # a type never changes
    stored = form[f"{ids.CAT_ASSET_STORED}.data"]
    assert stored["parameters"]["rated_output_kw"] == 650 and "water_temperature" in stored["sensors"]
    params = words(send(call, f"{ids.CAT_ASSET_PARAMS}.children", {f"{ids.CAT_ASSET_TYPE}.value": "boiler",
                                                                   f"{ids.CAT_ASSET_STORED}.data": stored}))
    assert '"value": 650' in params


# -- refusals ------------------------------------------------------------------------------------


def test_a_refusal_names_the_field_and_stores_nothing(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    bad_site = save_site(call, NEW_SITE, name="Works", emails="not-an-email")
    assert "maintenance_emails: 'not-an-email' is not an email address" in words(bad_site)
    assert bad_site[f"{ids.CAT_SITE_EMAILS}.invalid"] is True and bad_site[f"{ids.CAT_SITE_NAME}.invalid"] is False
    assert ids.CAT_EDITING + ".data" not in bad_site and count(db, Site) == 0

    site_id = save_site(call, NEW_SITE, name="Works")[f"{ids.CAT_EDITING}.data"]["id"]
    unnamed = save_asset(call, new_asset(site_id), site_id=site_id, name="  ", kind="generic")
    assert "name: give a name" in words(unnamed) and unnamed[f"{ids.CAT_ASSET_NAME}.invalid"] is True
    formula = save_asset(call, new_asset(site_id), site_id=site_id, name="Pump", kind="generic",
                         formulas=[("power", "kW", "nozzle * 2")])
    assert "formulas:" in words(formula) and "nozzle" in words(formula)
    assert count(db, Asset) == 0

    asset_id = save_asset(call, new_asset(site_id), site_id=site_id, name="Pump",
                          kind="generic")[f"{ids.CAT_EDITING}.data"]["id"]
    for fields, field, message in [
        ({"name": "flow", "unit": "bananas"}, "unit", "unit: unknown unit 'bananas'"),
        ({"name": "Flow Rate", "unit": "m³/h"}, "name", "name: a sensor's name starts with a letter"),
        ({"name": "flow", "unit": "m³/h", "interval_s": 0.5}, "interval_s", "interval_s: the reporting interval"),
        ({"name": "flow", "unit": "m³/h", "normal_min": 9, "normal_max": 1}, "normal_min",
         "normal_min: the normal minimum is above the normal maximum"),
    ]:
        refused = save_sensor(call, new_sensor(asset_id), **fields)
        assert message in words(refused), words(refused)
        assert refused[f"{ids.CAT_SENSOR_UNIT}.invalid"] is (field == "unit")
        assert refused[f"{ids.CAT_SENSOR_NAME}.invalid"] is (field == "name")
    assert count(db, Sensor) == 0


def test_something_with_history_is_retired_not_deleted_and_can_be_restored(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    site_id = save_site(call, NEW_SITE, name="Works")[f"{ids.CAT_EDITING}.data"]["id"]
    asset_id = save_asset(call, new_asset(site_id), site_id=site_id, name="Pump",
                          kind="generic")[f"{ids.CAT_EDITING}.data"]["id"]
    used = save_sensor(call, new_sensor(asset_id), name="flow", unit="m³/h")[f"{ids.CAT_EDITING}.data"]["id"]
    spare = save_sensor(call, new_sensor(asset_id), name="spare", unit="bar")[f"{ids.CAT_EDITING}.data"]["id"]
    with db.sensors_engine.begin() as conn:
        write_sensor_readings(conn, pd.DataFrame({"sensor_id": used, "ts": [pd.Timestamp(utcnow())], "value": [1.0]}))

    refused = words(delete(call, "sensor", used))
    assert "Not deleted" in refused and "sensor 'flow', id: it has readings: retire it instead" in refused
    assert "retire it instead" in words(delete(call, "asset", asset_id))
    assert "the site has assets" in words(delete(call, "site", site_id))
    assert "Deleted the sensor" in words(delete(call, "sensor", spare))
    assert count(db, Sensor) == 1 and count(db, Asset) == 1

    assert "Retired the asset “Pump”" in words(retire(call, "asset", asset_id))
    assert "Pump" not in tree(call)
    assert "Pump" in tree(call, retired=True) and "Retired" in tree(call, retired=True)
    assert "Restored the asset “Pump”" in words(retire(call, "asset", asset_id, restore=True))
    with db.Session() as session:
        assert session.get(Asset, asset_id).retired_at is None


# -- who may ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_operators_and_viewers_are_refused_and_change_nothing(client, tenants, db, role) -> None:  # type: ignore[no-untyped-def]
    admin = dash_as(client, tenants[0], "admin")
    site_id = save_site(admin, NEW_SITE, name="Works")[f"{ids.CAT_EDITING}.data"]["id"]
    call = dash_as(client, tenants[0], role)
    assert "This page is for your supplier's administrators." in words(
        send(call, f"{ids.CAT_BODY}.children", {"url.pathname": page.PATH}))
    assert "Works" not in tree(call)
    assert "Only administrators can do that." in words(save_site(call, NEW_SITE, name="Sneaky"))
    assert "Only administrators can do that." in words(save_asset(call, new_asset(site_id), site_id=site_id,
                                                                  name="Sneaky", kind="generic"))
    assert "Only administrators can do that." in words(retire(call, "site", site_id))
    assert "Only administrators can do that." in words(delete(call, "site", site_id))
    with db.Session() as session:
        assert [s.name for s in session.scalars(select(Site))] == ["Works"]
        assert session.get(Site, site_id).retired_at is None
        assert session.scalar(select(func.count()).select_from(Asset)) == 0


def test_signed_out_requests_are_stopped_by_the_gate(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    client.get("/logout")
    with pytest.raises(AssertionError, match="authentication_required"):
        save_site(call, NEW_SITE, name="Anonymous")
    assert client.get(page.PATH).status_code == 302  # to the sign-in form
    assert count(db, Site) == 0


def test_another_suppliers_ids_behave_as_missing(client, tenants, db, beta_plant) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    assert "Beta" not in tree(call, retired=True)
    opened = words(send(call, f"{ids.CAT_ASSET_FORM}.style",
                        {f"{ids.CAT_EDITING}.data": {"kind": "asset", "id": beta_plant["asset"]}}))
    assert "This asset is not in your catalogue." in opened and "Beta" not in opened
    renamed = save_asset(call, {"kind": "asset", "id": beta_plant["asset"]}, site_id=beta_plant["site"],
                         name="Mine now", kind="generic")
    assert f"no asset {beta_plant['asset']}" in words(renamed)
    sensor = save_sensor(call, new_sensor(beta_plant["asset"]), name="sneaky", unit="bar")
    assert "asset_id: no asset" in words(sensor)
    elsewhere = save_asset(call, new_asset(beta_plant["site"]), site_id=beta_plant["site"], name="Intruder",
                           kind="generic")
    assert "site_id: no site" in words(elsewhere)
    assert f"no sensor {beta_plant['sensor']}" in words(retire(call, "sensor", beta_plant["sensor"]))
    assert f"no site {beta_plant['site']}" in words(delete(call, "site", beta_plant["site"]))
    with db.Session() as session:
        asset = session.get(Asset, beta_plant["asset"])
        assert asset.name == "Beta Pump" and asset.retired_at is None
        assert session.get(Sensor, beta_plant["sensor"]).retired_at is None
        assert session.get(Site, beta_plant["site"]) is not None
        assert session.scalar(select(func.count()).select_from(Sensor)) == 1


# -- the asset page of a brand-new asset -------------------------------------------------------------


def test_a_new_generic_asset_with_one_sensor_and_no_data_shows_its_page_calmly(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    call = dash_as(client, tenants[0], "admin")
    site_id = save_site(call, NEW_SITE, name="Works")[f"{ids.CAT_EDITING}.data"]["id"]
    asset_id = save_asset(call, new_asset(site_id), site_id=site_id, name="Pump 7",
                          kind="generic")[f"{ids.CAT_EDITING}.data"]["id"]
    sensor_id = save_sensor(call, new_sensor(asset_id), name="flow_m3h", unit="m³/h")[f"{ids.CAT_EDITING}.data"]["id"]
    save_asset(call, {"kind": "asset", "id": asset_id}, site_id=site_id, name="Pump 7", kind="generic",
               formulas=[("volume_m3", "m³", "integrate(flow_m3h) / 3600")])
    body = send(call, f"{ids.ASSET_BODY}.children", {f"{ids.ASSET_ID}.data": asset_id})[f"{ids.ASSET_BODY}.children"]
    header = words(component(body, ids.ASSET_HEADER))
    assert "Pump 7" in header and "Generic asset at Works" in header
    assert "The pipeline has not run yet" in header and '"data-level": "never"' in header
    assert "No data yet" in header
    assert f"/admin/catalogue?asset={asset_id}" in header
    assert component(body, ids.ASSET_SENSORS)["value"] == [f"s:{sensor_id}"]
    channels = [o["value"] for o in component(body, ids.ASSET_SINGLE_CHANNEL)["options"]]
    assert channels == [f"s:{sensor_id}", "c:volume_m3"]  # its formula is a calculation

    values = {f"{ids.ASSET_ID}.data": asset_id, f"{ids.ASSET_RANGE}.value": "1d",
              f"{ids.ASSET_SENSORS}.value": [f"s:{sensor_id}"], f"{ids.ASSET_SINGLE_CHANNEL}.value": "c:volume_m3",
              f"{ids.ASSET_PAIR_A}.value": f"s:{sensor_id}", f"{ids.ASSET_PAIR_B}.value": "c:volume_m3"}
    for output in (ids.ASSET_STACKED, ids.ASSET_SINGLE, ids.ASSET_CALCS, ids.ASSET_PAIR, ids.ASSET_FORECAST,
                   ids.ASSET_BATCH_GRAPH, ids.ASSET_METRICS):
        shown = words(send(call, f"{output}.{'children' if output == ids.ASSET_METRICS else 'figure'}", values))
        assert "Traceback" not in shown and "Error" not in shown


def test_the_status_line_says_what_the_last_pipeline_run_left(client, tenants, db, app) -> None:  # type: ignore[no-untyped-def]
    from app import pipeline
    from app.web.context import EXTENSION_KEY

    call = dash_as(client, tenants[0], "viewer")
    with db.Session() as session, session.begin():
        actor = Actor(tenants[0].supplier_id, via="test")
        site = create_site(session, actor, name="Works")
        asset = create_asset(session, actor, site_id=site.id, name="Pump 7", asset_type="generic")
        sensor = create_sensor(session, actor, asset_id=asset.id, name="flow_m3h", unit="m³/h")
        asset_id, sensor_id = asset.id, sensor.id
    times = pd.date_range(end=pd.Timestamp(utcnow()).floor("min"), periods=30, freq="1min")
    with db.sensors_engine.begin() as conn:
        write_sensor_readings(conn, pd.DataFrame({"sensor_id": sensor_id, "ts": times, "value": 5.0}))
    pipeline.calculate(db, app.extensions[EXTENSION_KEY].settings, asset_id)
    body = send(call, f"{ids.ASSET_BODY}.children", {f"{ids.ASSET_ID}.data": asset_id})[f"{ids.ASSET_BODY}.children"]
    header = words(component(body, ids.ASSET_HEADER))
    assert "Pipeline ran" in header and '"data-level": "ok"' in header
    assert "Data from" in header and "/admin/catalogue" not in header  # the edit link is for admins
