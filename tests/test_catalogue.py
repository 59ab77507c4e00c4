"""The catalogue's rules, called as the CLI, the API and the portal call them: tenant scope,
refusals that name the field and store nothing, history kept, the schedule following the
catalogue, and a whole estate round-tripping through its file."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.db.models import AuditLog, Sensor, SensorReading, Site
from app.pipeline import scheduled_assets
from app.plant import catalogue as c
from app.plant import estate_file
from tests.conftest import add_tenant, utc


def actors(db: Database) -> tuple[c.Actor, c.Actor]:
    return (c.Actor(add_tenant(db, "Alpha Energy").supplier_id, user_id=None, via="test"),
            c.Actor(add_tenant(db, "Beta Power").supplier_id, user_id=None, via="test"))


@pytest.fixture
def two(db: Database) -> tuple[c.Actor, c.Actor]:
    return actors(db)


def estate(db: Database, actor: c.Actor) -> dict[str, int]:
    with db.Session() as session, session.begin():
        site = c.create_site(session, actor, name="Grid", location="Leeds")
        asset = c.create_asset(session, actor, site_id=site.id, name="Feeder 7", asset_type="generic")
        sensor = c.create_sensor(session, actor, asset_id=asset.id, name="demand", unit="MW",
                                 interval_s=1800, normal_min=0, normal_max=80)
        c.update_asset(session, actor, asset.id, {
            "formulas": [{"name": "energy_mwh", "unit": "MWh", "formula": "integrate(demand) / 3600"}],
            "forecast_targets": ["demand", "energy_mwh"]})
        return {"site": site.id, "asset": asset.id, "sensor": sensor.id}


def refused(db: Database, change, field: str, words: str) -> None:  # type: ignore[no-untyped-def]
    """``change(session)`` is refused naming ``field``, and its transaction stores nothing."""
    with db.Session() as session:
        before = session.scalar(select(func.count()).select_from(AuditLog))
    with pytest.raises(c.CatalogueError) as caught, db.Session() as session, session.begin():
        change(session)
    assert caught.value.field == field and words in str(caught.value), str(caught.value)
    with db.Session() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)) == before


def test_another_suppliers_records_behave_as_missing(any_db: Database) -> None:
    db = any_db
    alpha, beta = actors(db)
    ids = estate(db, alpha)
    with db.Session() as session:
        for lookup, ident in ((c.get_site, ids["site"]), (c.get_asset, ids["asset"]),
                              (c.get_sensor, ids["sensor"])):
            with pytest.raises(c.NotInCatalogue):
                lookup(session, beta.supplier_id, ident)
    refused(db, lambda s: c.create_asset(s, beta, site_id=ids["site"], name="Mine",
                                         asset_type="generic"), "site_id", "no site")
    with db.Session() as session, session.begin():
        own = c.create_site(session, beta, name="Grid")  # the same name is fine for another tenant
        mine = c.create_asset(session, beta, site_id=own.id, name="Feeder", asset_type="generic")
        mine_id = mine.id
    refused(db, lambda s: c.update_asset(s, beta, mine_id, {"upstream_id": ids["asset"]}),
            "upstream_id", "no asset")


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda s, a, i: c.create_sensor(s, a, asset_id=i["asset"], name="demand", unit="MW"),
     "name", "already a sensor on this asset called 'demand'"),
    (lambda s, a, i: c.create_sensor(s, a, asset_id=i["asset"], name="load", unit="zorkmids"),
     "unit", "unknown unit"),
    (lambda s, a, i: c.create_sensor(s, a, asset_id=i["asset"], name="load", unit="MW",
                                     normal_min=5, normal_max=1), "normal_min", "above the normal maximum"),
    (lambda s, a, i: c.create_sensor(s, a, asset_id=i["asset"], name="load", unit="MW",
                                     interval_s=0), "interval_s", "whole seconds"),
    (lambda s, a, i: c.create_asset(s, a, site_id=i["site"], name="Feeder 7", asset_type="generic"),
     "name", "already an asset on this site"),
    (lambda s, a, i: c.create_asset(s, a, site_id=i["site"], name="X", asset_type="windmill"),
     "asset_type", "unknown type 'windmill'"),
    (lambda s, a, i: c.create_asset(s, a, site_id=i["site"], name="B", asset_type="boiler",
                                    parameters={"burner_kw": "lots"}), "parameters.burner_kw",
     "not a number"),
    (lambda s, a, i: c.update_asset(s, a, i["asset"], {"asset_type": "boiler"}), "asset_type",
     "cannot change"),
    (lambda s, a, i: c.update_asset(s, a, i["asset"], {"formulas": [
        {"name": "p", "unit": "kW", "formula": "flow * 2"}]}), "formulas", "unknown name 'flow'"),
    (lambda s, a, i: c.update_asset(s, a, i["asset"], {"formulas": [
        {"name": "p", "unit": "kW", "formula": "demand / 0.0"}]}), "formulas", "constant zero"),
    (lambda s, a, i: c.update_asset(s, a, i["asset"], {"formulas": []}), "formulas",
     "still a forecast target"),
    (lambda s, a, i: c.update_asset(s, a, i["asset"], {"forecast_targets": ["wind"]}),
     "forecast_targets", "neither a sensor nor a calculation"),
    (lambda s, a, i: c.update_asset(s, a, i["asset"], {"upstream_id": i["asset"]}), "upstream_id",
     "cycle"),
    (lambda s, a, i: c.update_sensor(s, a, i["sensor"], {"name": "load"}), "name",
     "'energy_mwh' reads it"),
    (lambda s, a, i: c.delete_site(s, a, i["site"]), "id", "retire the site"),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(  # type: ignore[no-untyped-def]
        db: Database, two, change, field, words) -> None:
    actor = two[0]
    ids = estate(db, actor)
    refused(db, lambda session: change(session, actor, ids), field, words)


def test_history_is_retired_not_deleted_and_retired_plant_leaves_the_schedule(  # type: ignore[no-untyped-def]
        db: Database, two) -> None:
    actor = two[0]
    ids = estate(db, actor)
    with db.Session() as session, session.begin():
        session.add(SensorReading(sensor_id=ids["sensor"], ts=utc(2024, 10, 1), value=1.0))
    assert scheduled_assets(db, None, None, None) == [(ids["asset"], None)]  # generic: calculated
    assert scheduled_assets(db, None, None, "x") == [(ids["asset"], "demand"),  # its own targets
                                                     (ids["asset"], "energy_mwh")]
    with db.Session() as session, session.begin():
        with pytest.raises(c.CatalogueError, match="retire it instead"):
            c.delete_sensor(session, actor, ids["sensor"])
        with pytest.raises(c.CatalogueError, match="retire it instead"):
            c.delete_asset(session, actor, ids["asset"])
        c.retire_asset(session, actor, ids["asset"])
    assert scheduled_assets(db, None, None, None) == []
    with db.Session() as session:
        assert c.list_assets(session, actor.supplier_id) == []
        assert [a.id for a in c.list_assets(session, actor.supplier_id, retired=True)] == [ids["asset"]]
        assert session.get(Sensor, ids["sensor"]) is not None  # the history stays
        actions = list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions[-1] == "asset.retire" and "sensor.create" in actions


def test_a_built_in_type_keeps_its_default_targets_until_its_catalogue_chooses(  # type: ignore[no-untyped-def]
        db: Database, two) -> None:
    actor = two[0]
    with db.Session() as session, session.begin():
        site = c.create_site(session, actor, name="Heat")
        boiler = c.create_asset(session, actor, site_id=site.id, name="B1", asset_type="boiler")
        boiler_id = boiler.id
        assert {s.name for s in boiler.sensors} >= {"water_temperature", "pressure"}
    assert scheduled_assets(db, "boiler", None, "water_temperature") == [(boiler_id, "water_temperature")]
    with db.Session() as session, session.begin():
        c.create_sensor(session, actor, asset_id=boiler_id, name="return_temperature", unit="°C")
        c.update_asset(session, actor, boiler_id, {
            "formulas": [{"name": "delta_t", "unit": "K",
                          "formula": "water_temperature - return_temperature"}],
            "forecast_targets": ["delta_t", "pressure"]})
    assert scheduled_assets(db, "boiler", None, "water_temperature") == []  # its own choice now
    assert scheduled_assets(db, None, None, "x") == [(boiler_id, "delta_t"), (boiler_id, "pressure")]
    assert scheduled_assets(db, "boiler", None, None) == [(boiler_id, None)]  # still calculated


def test_an_exported_estate_imports_into_another_supplier_as_the_same_catalogue(
        any_db: Database) -> None:
    db = any_db
    alpha, beta = actors(db)
    ids = estate(db, alpha)
    with db.Session() as session, session.begin():
        boiler = c.create_asset(session, alpha, site_id=ids["site"], name="B1", asset_type="boiler",
                                upstream_id=ids["asset"], parameters={"burner_kw": 400})
        c.retire_sensor(session, alpha, boiler.sensors[0].id)
    with db.Session() as session:
        exported = estate_file.export(session, alpha.supplier_id)
    with db.Session() as session, session.begin():
        counts = estate_file.apply(session, beta, exported)
    assert counts.created == {"site": 1, "asset": 2, "sensor": 1}
    with db.Session() as session:
        assert estate_file.export(session, beta.supplier_id) == exported
        assert session.scalar(select(func.count()).select_from(Site)) == 2
    with db.Session() as session, session.begin():
        again = estate_file.apply(session, beta, exported)
    assert again.created == {} and again.updated == {}


@pytest.mark.parametrize("unit", ["{}", "C(", "k/0", "10**10**10**10", "9^9^9", "' OR '1'='1",
                                  "m3/h", "zorkmids", "", "x" * 17])
def test_a_unit_pint_cannot_read_safely_is_refused_at_once(unit: str) -> None:
    import time

    started = time.monotonic()
    with pytest.raises(c.CatalogueError) as caught:
        c.check_unit(unit)
    assert caught.value.field == "unit" and time.monotonic() - started < 1.0


@pytest.mark.parametrize("unit", ["MW", "m³/h", "°C", "kWh", "1", "%", "L/min", "W/m²", "s^-1",
                                  "kg*m/s^2", "fraction", "bar"])
def test_the_units_people_write_are_accepted(unit: str) -> None:
    assert c.check_unit(unit) == unit
