"""What-if scenarios: each parameter moves the KPIs the way the physics says, runs are
reproducible, nothing reaches the asset's history, and long runs go through a real worker."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from celery.contrib.testing.worker import start_worker
from sqlalchemy import func, select

from app import whatif
from app.db import Database
from app.db.migrate import upgrade
from app.db.models import Calculation, Job, SensorReading, Tariff
from app.ingest import write_sensor_readings
from app.model_registry import AssetNotFound
from app.queue import TaskQueue
from app.twins import asset_type
from layouts import ids
from settings import Settings
from tests.conftest import Tenant, add_plant, add_tenant, dash_as, make_settings, utc
from tests.test_workers import wait_for
from workers.celery_app import create_celery

DISPENSER = asset_type("water_dispenser").default_parameters
BOILER = asset_type("boiler").default_parameters
DAY = {"setpoint_c": 60.0, "flow_l_per_min": 0.2, "heater_regime": "thermostat", "ambient_c": 21.0,
       "duration_hours": "24"}


def form(name: str, **values: Any) -> dict[str, Any]:
    return {"name": name, **DAY, "users": 3, **values}


def run(settings: Settings, *forms: dict[str, Any], kind: str = "water_dispenser") -> dict[str, dict[str, Any]]:
    scenarios = whatif.parse(kind, list(forms), settings)
    base = DISPENSER if kind == "water_dispenser" else BOILER
    found = whatif.run_scenarios(kind, dict(base), scenarios, settings, Decimal("24.50"))
    return {s["name"]: s for s in found}


def test_more_users_draw_more_water_and_use_more_energy(settings: Settings) -> None:
    found = run(settings, form("3 users"), form("12 users", users=12))
    few, many = found["3 users"]["kpis"], found["12 users"]["kpis"]
    assert many["litres"] > 2 * few["litres"]
    assert many["energy_kwh"] > few["energy_kwh"]
    assert many["cost_pence"] > few["cost_pence"]


def test_a_higher_setpoint_keeps_the_tank_hotter_at_a_higher_cost(settings: Settings) -> None:
    found = run(settings, form("55", setpoint_c=55), form("70", setpoint_c=70))
    cool, hot = found["55"]["kpis"], found["70"]["kpis"]
    assert hot["avg_temperature_c"] > cool["avg_temperature_c"] + 10
    assert hot["energy_kwh"] > cool["energy_kwh"]


def test_eco_heating_saves_energy_when_the_office_is_empty(settings: Settings) -> None:
    found = run(settings, form("always", heater_regime="thermostat"), form("eco", heater_regime="eco"))
    assert found["eco"]["kpis"]["energy_kwh"] < found["always"]["kpis"]["energy_kwh"]


def test_the_cost_is_the_energy_at_the_unit_rate_in_whole_pence(settings: Settings) -> None:
    kpis = run(settings, form("A"))["A"]["kpis"]
    assert kpis["cost_pence"] == int((Decimal(str(kpis["energy_kwh"])) * Decimal("24.50")).quantize(Decimal(1),
                                                                                                   "ROUND_HALF_UP"))
    assert 0 < kpis["oee_pct"] <= 100 and 55 < kpis["avg_temperature_c"] < 62


def test_a_boiler_uses_more_gas_for_more_heat_demand(settings: Settings) -> None:
    base = {"setpoint_c": 80.0, "ambient_c": 15.0, "duration_hours": "6"}
    found = run(settings, {"name": "250 kW", "load_kw": 250, **base}, {"name": "400 kW", "load_kw": 400, **base},
                kind="boiler")
    assert found["400 kW"]["kpis"]["energy_kwh"] > 1.3 * found["250 kW"]["kpis"]["energy_kwh"]
    assert found["250 kW"]["kpis"]["oee_pct"] is None and found["250 kW"]["kpis"]["litres"] is None


def test_the_same_scenarios_give_the_same_results_every_time(settings: Settings) -> None:
    first = run(settings, form("A"), form("B", users=8))
    assert run(settings, form("A"), form("B", users=8)) == first


def test_a_long_scenario_simulated_in_slices_is_one_continuous_run(settings: Settings) -> None:
    frame = whatif.simulate_scenario("water_dispenser", dict(DISPENSER), 60, settings)
    assert len(frame) == 60 * 60 and frame.index.is_monotonic_increasing and frame.index.is_unique
    assert frame.index[0] == pd.Timestamp(whatif.START)


def test_the_curve_is_cut_to_at_most_600_means() -> None:
    index = pd.date_range(whatif.START, periods=1441, freq="1min")
    curve = whatif.curve(pd.DataFrame({"temperature": range(1441)}, index=index, dtype=float), "temperature")
    assert len(curve["hours"]) <= 600 and curve["hours"][0] == pytest.approx(1 / 60, abs=1e-4)  # mean of 0, 1, 2 min
    assert curve["values"][-1] == 1440.0  # the last slice, shorter, is kept


@pytest.mark.parametrize(("change", "message"), [
    ({"users": None}, "A: users: enter a number from 0 to 200 people."),
    ({"setpoint_c": 120}, "A: setpoint: enter a number from 40 to 95 °C."),
    ({"setpoint_c": "warm"}, "A: setpoint: enter a number from 40 to 95 °C."),
    ({"heater_regime": "turbo"}, "A: heater regime: choose one of the options."),
    ({"duration_hours": "9999"}, "A: duration: choose one of the options."),
])
def test_a_scenario_to_fix_names_the_scenario_and_the_field(settings: Settings, change, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(whatif.ScenarioError) as raised:
        whatif.parse("water_dispenser", [form("A", **change)], settings)
    assert str(raised.value) == message


def test_scenarios_need_their_own_names_and_at_most_four(settings: Settings) -> None:
    with pytest.raises(whatif.ScenarioError, match="its own name"):
        whatif.parse("water_dispenser", [form("A"), form("A")], settings)
    with pytest.raises(whatif.ScenarioError, match="at most 4"):
        whatif.parse("water_dispenser", [form(str(n)) for n in range(5)], settings)


# -- with a database ------------------------------------------------------------------------


def history(db: Database) -> tuple[int, int]:
    with db.Session() as session:
        return (session.scalar(select(func.count()).select_from(SensorReading)) or 0,
                session.scalar(select(func.count()).select_from(Calculation)) or 0)


def dispenser_with_history(db: Database, tenant: Tenant) -> int:
    plant = add_plant(db, ["temperature", "level", "flow", "power"], supplier_id=tenant.supplier_id,
                      name="Alpha Office", asset_type="water_dispenser")
    times = pd.date_range(utc(2024, 6, 1), periods=30, freq="1min")
    with db.sensors_engine.begin() as conn:
        write_sensor_readings(conn, pd.concat([pd.DataFrame({"sensor_id": s, "ts": times, "value": 1.0})
                                               for s in plant.sensor_ids]))
    with db.Session() as session, session.begin():
        session.add(Calculation(asset_id=plant.asset_id, ts=times[0], name="energy_kwh", value=1.0))
    return plant.asset_id


class NoQueue(TaskQueue):
    def __init__(self) -> None:  # a run in the request must not reach for the queue
        pass

    def send(self, name: str, *args: Any) -> str:
        raise AssertionError("a short run was sent to the workers")


def test_a_short_run_answers_at_once_and_writes_nothing_to_the_history(db: Database, settings: Settings,
                                                                       tenants: tuple[Tenant, Tenant]) -> None:
    asset_id = dispenser_with_history(db, tenants[0])
    before = history(db)
    done = whatif.submit(db, settings, NoQueue(), supplier_id=tenants[0].supplier_id, user_id=None,
                         asset_id=asset_id, forms=[form("A"), form("B", users=9)])
    assert done.job_id is None and done.result is not None
    assert [s["name"] for s in done.result["scenarios"]] == ["A", "B"]
    assert history(db) == before == (120, 1)


def test_another_suppliers_asset_cannot_be_simulated(db: Database, settings: Settings,
                                                     tenants: tuple[Tenant, Tenant]) -> None:
    asset_id = dispenser_with_history(db, tenants[0])
    with pytest.raises(AssetNotFound):
        whatif.submit(db, settings, NoQueue(), supplier_id=tenants[1].supplier_id, user_id=None,
                      asset_id=asset_id, forms=[form("A")])
    with db.Session() as session:
        assert whatif.whatif_assets(session, tenants[1].supplier_id) == []
        with pytest.raises(AssetNotFound):
            whatif.presets(session, tenants[1].supplier_id, asset_id)


def test_presets_start_from_the_asset_and_change_one_thing_each(db: Database, tenants: tuple[Tenant, Tenant]) -> None:
    asset_id = dispenser_with_history(db, tenants[0])
    with db.Session() as session:
        kind, scenarios = whatif.presets(session, tenants[0].supplier_id, asset_id)
    assert kind == "water_dispenser" and len(scenarios) == 4
    first = scenarios[0]["values"]
    assert first["users"] == 3 and first["setpoint_c"] == 60.0 and first["heater_regime"] == "thermostat"
    changed = [{k for k, v in s["values"].items() if v != first[k]} for s in scenarios[1:]]
    assert changed == [{"users"}, {"setpoint_c"}, {"heater_regime"}]


def columns_request(dependencies: list[dict[str, Any]], count: str) -> dict[str, Any]:
    """The body Dash's renderer posts when "Scenarios to compare" changes: the callback's
    pattern-matching output expanded to the four columns, sent in a list when the callback
    declares its outputs as one (its id starts with "..") and bare otherwise."""
    dep = next(d for d in dependencies if ids.WHATIF_COLUMN in d["output"])
    matches = [{"id": {"scenario": n, "type": ids.WHATIF_COLUMN}, "property": "style"}
               for n in range(whatif.MAX_SCENARIOS)]
    return {"output": dep["output"], "outputs": [matches] if dep["output"].startswith("..") else matches,
            "inputs": [{"id": ids.WHATIF_COUNT, "property": "value", "value": count}], "state": [],
            "changedPropIds": [f"{ids.WHATIF_COUNT}.value"]}


def test_choosing_how_many_scenarios_shows_that_many_columns(client, tenants) -> None:  # type: ignore[no-untyped-def]
    caller = dash_as(client, tenants[0], "operator")
    for count in ("1", "3", "4"):  # not refused as a request matching no callback (it was a 400)
        response = client.post("/_dash-update-component", json=columns_request(caller.dependencies, count))
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        styles = {json.loads(key)["scenario"]: props["style"] for key, props in response.get_json()["response"].items()}
        assert [n for n, style in sorted(styles.items()) if style.get("display") != "none"] == list(range(int(count)))


def test_the_cost_uses_the_suppliers_tariff_in_force_or_the_default(db: Database, settings: Settings,
                                                                   tenants: tuple[Tenant, Tenant]) -> None:
    with db.Session() as session, session.begin():
        session.add(Tariff(supplier_id=tenants[0].supplier_id, code="E1", name="Net", fuel="electricity",
                           unit_rate_p_per_kwh=Decimal("20"), standing_charge_p_per_day=Decimal("50"),
                           vat_rate=Decimal("0.05"), prices_include_vat=False, valid_from=date(2024, 1, 1)))
    with db.Session() as session:
        rate, source = whatif.unit_rate(session, settings, tenants[0].supplier_id, "electricity", date(2024, 6, 1))
        assert rate == Decimal("21.00") and "tariff E1" in source  # 20 p + 5 % VAT
        rate, source = whatif.unit_rate(session, settings, tenants[0].supplier_id, "gas", date(2024, 6, 1))
        assert rate == Decimal("6.24") and source.startswith("default gas rate")
        rate, _ = whatif.unit_rate(session, settings, tenants[0].supplier_id, "electricity", date(2023, 6, 1))
        assert rate == Decimal("24.50")  # before the tariff starts


def test_a_long_run_goes_to_a_real_worker_with_progress_and_writes_nothing_to_the_history(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, whatif__inline_max_hours=6)
    db = Database(settings)
    upgrade(db.engine)
    tenant = add_tenant(db, "Alpha Energy")
    asset_id = dispenser_with_history(db, tenant)
    before = history(db)
    forms = [form("A", duration_hours="72"), form("B", users=9, duration_hours="72")]
    celery = create_celery(settings)
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        done = whatif.submit(db, settings, TaskQueue(settings), supplier_id=tenant.supplier_id, user_id=None,
                             asset_id=asset_id, forms=forms)
        assert done.result is None and done.job_id is not None
        state = wait_for(lambda: (s := whatif.job_state(db, settings, tenant.supplier_id, done.job_id))
                         and not s.running and s, timeout_s=60)
    assert state.status == "done" and state.progress == 100, state.message
    assert [s["name"] for s in state.result["scenarios"]] == ["A", "B"]
    # The worker's numbers are the ones a run in the request gives.
    inline = whatif.run_scenarios("water_dispenser", {**DISPENSER, "rated_power_kw": 90.0},
                                  whatif.parse("water_dispenser", forms, settings), settings, Decimal("24.50"))
    assert state.result["scenarios"] == inline
    with db.Session() as session:
        job = session.get_one(Job, done.job_id)
        assert job.kind == "whatif" and job.task_id and job.message == "Simulated 2 scenarios"
    assert history(db) == before
    # Another supplier cannot see the run.
    other = add_tenant(db, "Beta Power")
    assert whatif.job_state(db, settings, other.supplier_id, done.job_id) is None
    db.engine.dispose()


def test_a_finished_job_is_not_run_again(db: Database, settings: Settings, tenants: tuple[Tenant, Tenant]) -> None:
    with db.Session() as session, session.begin():
        job = Job(supplier_id=tenants[0].supplier_id, kind="whatif", status="done", progress=100)
        session.add(job)
        session.flush()
        job_id = job.id
    assert whatif.run_job(db, settings, job_id) == "skipped"


def test_progress_is_reported_as_each_slice_is_simulated(settings: Settings) -> None:
    heard: list[tuple[int, str]] = []
    scenarios = whatif.parse("water_dispenser", [form("A", duration_hours="72"), form("B", duration_hours="24")],
                             settings)
    whatif.run_scenarios("water_dispenser", dict(DISPENSER), scenarios, settings, Decimal(1),
                         lambda pct, text: heard.append((pct, text)))
    assert heard == [(25, "Simulating A: 24 of 72 h"), (50, "Simulating A: 48 of 72 h"),
                     (75, "Simulating A: 72 of 72 h"), (99, "Simulating B: 24 of 24 h")]
    assert timedelta(hours=whatif.SLICE_HOURS) == timedelta(days=1)
