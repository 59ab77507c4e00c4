"""What-if scenarios: an asset's simulator run under up to four sets of parameters, compared
by their KPIs (energy, cost, average temperature, OEE, litres) and their temperature over time.

A scenario is simulated from scratch (:func:`app.simulation.simulate`) and never touches the
asset's real history: nothing here writes sensor readings or calculations. Every scenario of
a run starts at the same moment (midnight on a Monday) with the same seed, so two scenarios
differ only by their parameters, and a run gives the same numbers every time.

Runs whose longest scenario simulates at most ``whatif.inline_max_hours`` are simulated in
the request (:func:`submit` returns the result). Longer ones go to the workers: a ``jobs`` row
records their progress, the task ``twin.whatif.run`` calls :func:`run_job`, and the request and
the result are kept in ``<home>/whatif/<job id>.json`` (the workers and the portal share the
data home; on several machines, a shared volume).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import jobs
from app.db import Database
from app.db.models import Asset, Job, Site, Tariff
from app.metrics import by_key, compute
from app.model_registry import owned_asset
from app.queue import QueueUnavailable, TaskQueue
from app.simulation import simulate
from app.tariffs import LONDON, to_pence
from app.twins import ASSET_TYPES
from app.twins.boiler import GAS_KWH_PER_M3
from settings import Settings

log = logging.getLogger(__name__)

TASK = "twin.whatif.run"
JOB_KIND = "whatif"
MAX_SCENARIOS = 4
#: Midnight on a Monday: every scenario starts here, whatever day it is run.
START = datetime(2024, 1, 1, tzinfo=UTC)
#: Points of each scenario's temperature curve (means over equal slices of its readings).
CURVE_POINTS = 600
#: Simulated in slices of this many hours, so a long run reports its progress as it goes.
SLICE_HOURS = 24.0
FUEL = {"water_dispenser": "electricity", "boiler": "gas"}
TEMPERATURE = {"water_dispenser": "temperature", "boiler": "water_temperature"}

Progress = Callable[[int, str], None]


class ScenarioError(ValueError):
    """Scenarios a person can fix; ``str()`` says what to change."""


@dataclass(frozen=True)
class Field:
    """One parameter a scenario sets: how the page shows it and which asset types have it."""

    name: str
    label: str
    unit: str
    types: tuple[str, ...]
    minimum: float = -math.inf
    maximum: float = math.inf
    step: float | None = None
    options: tuple[tuple[str, str], ...] = ()  # (value, label) for a choice


DURATIONS = (("6", "6 hours"), ("24", "1 day"), ("72", "3 days"), ("168", "1 week"), ("720", "30 days"))
#: The dispenser simulator's heater regimes (app/twins/water_dispenser.py).
REGIMES = (("thermostat", "Thermostat, always"), ("eco", "Thermostat in office hours only"),
           ("always_on", "Always on (no thermostat)"), ("off", "Off"))
DISPENSER, BOILER = ("water_dispenser",), ("boiler",)
FIELDS: tuple[Field, ...] = (
    Field("users", "Users", "people", DISPENSER, 0, 200, 1),
    Field("setpoint_c", "Setpoint", "°C", DISPENSER + BOILER, 40, 95, 0.5),
    Field("flow_l_per_min", "Flow rate of a draw", "L/min", DISPENSER, 0.05, 5, 0.05),
    Field("heater_regime", "Heater regime", "", DISPENSER, options=REGIMES),
    Field("load_kw", "Heat demand", "kW", BOILER, 0, 2000, 10),
    Field("ambient_c", "Ambient temperature", "°C", DISPENSER + BOILER, -20, 45, 0.5),
    Field("duration_hours", "Duration", "", DISPENSER + BOILER, options=DURATIONS),
)
FIELD = {f.name: f for f in FIELDS}


def fields_of(asset_type: str) -> list[Field]:
    return [f for f in FIELDS if asset_type in f.types]


@dataclass(frozen=True)
class Scenario:
    name: str
    values: dict[str, Any]  # field name -> value, only the asset type's fields

    @property
    def hours(self) -> float:
        return float(self.values["duration_hours"])

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "values": self.values}

    @classmethod
    def of(cls, data: dict[str, Any]) -> Scenario:
        return cls(data["name"], dict(data["values"]))


@dataclass(frozen=True)
class WhatIfAsset:
    id: int
    label: str
    asset_type: str


# -- choosing ---------------------------------------------------------------------------------


def whatif_assets(session: Session, supplier_id: int) -> list[WhatIfAsset]:
    """The supplier's assets that have a what-if simulator (dispensers and boilers)."""
    rows = session.execute(
        select(Asset.id, Asset.name, Asset.asset_type, Site.name).join(Site, Site.id == Asset.site_id)
        .where(Site.supplier_id == supplier_id, Asset.asset_type.in_(list(FUEL)))
        .order_by(Site.name, Asset.name))
    return [WhatIfAsset(i, f"{site} · {name} ({ASSET_TYPES[kind].label.lower()})", kind)
            for i, name, kind, site in rows]


def _parameters(asset: Asset) -> dict[str, Any]:
    kind = ASSET_TYPES[asset.asset_type]
    return {**kind.default_parameters, **(asset.parameters or {})}


def presets(session: Session, supplier_id: int, asset_id: int) -> tuple[str, list[dict[str, Any]]]:
    """The asset's type and four starting scenarios: as it is, then one change each, so a first
    Run already shows what each parameter does."""
    asset = owned_asset(session, supplier_id, asset_id)
    if asset.asset_type not in FUEL:
        raise ScenarioError("This asset has no what-if simulator: choose a dispenser or a boiler.")
    p = _parameters(asset)
    today = {f.name: p.get(f.name) for f in fields_of(asset.asset_type)} | {"duration_hours": "24"}
    if asset.asset_type == "water_dispenser":
        changes = [("As it is", {}), ("Twice the users", {"users": int(p["users"]) * 2}),
                   ("Setpoint 5 °C lower", {"setpoint_c": float(p["setpoint_c"]) - 5}),
                   ("Eco heating", {"heater_regime": "eco"})]
    else:
        changes = [("As it is", {}), ("Demand up a half", {"load_kw": round(float(p["load_kw"]) * 1.5)}),
                   ("Setpoint 10 °C lower", {"setpoint_c": float(p["setpoint_c"]) - 10}),
                   ("Cold plant room", {"ambient_c": 0.0})]
    return asset.asset_type, [{"name": name, "values": {**today, **change}} for name, change in changes]


def parse(asset_type: str, forms: Sequence[dict[str, Any]], settings: Settings) -> list[Scenario]:
    """Scenarios from the page's forms (name + a value per field); :class:`ScenarioError`
    naming the scenario and field to fix."""
    if not forms:
        raise ScenarioError("Add at least one scenario.")
    if len(forms) > MAX_SCENARIOS:
        raise ScenarioError(f"Compare at most {MAX_SCENARIOS} scenarios.")
    out = []
    for number, form in enumerate(forms, start=1):
        name = str(form.get("name") or "").strip()[:40] or f"Scenario {number}"
        values: dict[str, Any] = {}
        for field in fields_of(asset_type):
            raw = form.get(field.name)
            where = f"{name}: {field.label.lower()}"
            if field.options:
                if str(raw) not in {v for v, _ in field.options}:
                    raise ScenarioError(f"{where}: choose one of the options.")
                values[field.name] = str(raw)
                continue
            # The browser sends nothing for a number outside the field's min and max: one
            # message for both.
            try:
                value = float(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                value = math.nan
            if not (field.minimum <= value <= field.maximum):
                raise ScenarioError(f"{where}: enter a number from {field.minimum:g} to {field.maximum:g}"
                                    f"{' ' + field.unit if field.unit else ''}.")
            values[field.name] = int(value) if field.step == 1 else value
        if float(values["duration_hours"]) > settings.whatif.max_hours:
            raise ScenarioError(f"{name}: simulate at most {settings.whatif.max_hours:g} hours.")
        out.append(Scenario(name, values))
    if len({s.name for s in out}) != len(out):
        raise ScenarioError("Give each scenario its own name.")
    return out


# -- simulating -------------------------------------------------------------------------------


def simulation_parameters(base: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """The simulator's parameters: the asset's own, with the scenario's values over them."""
    return {**base, **{k: v for k, v in scenario.values.items() if k != "duration_hours"}}


def _seconds(frame: pd.DataFrame, interval_s: int) -> np.ndarray:
    return np.full(len(frame), float(interval_s))


def kpis(asset_type: str, frame: pd.DataFrame, parameters: dict[str, Any], unit_rate_p: Decimal,
         settings: Settings) -> dict[str, Any]:
    """Energy (kWh), its cost (whole pence), mean temperature (°C), OEE (%) and litres served
    of one simulated scenario; None where the asset type has no such thing."""
    hours = _seconds(frame, settings.whatif.interval_s) / 3600
    if asset_type == "water_dispenser":
        energy = float((frame["power"].to_numpy(dtype=float) * hours).sum())
        litres: float | None = float((frame["flow"].to_numpy(dtype=float) * hours * 60).sum())
        found = by_key(compute(asset_type, frame, parameters, [], settings.metrics,
                               interval_s=settings.whatif.interval_s))
        oee, per_litre = found["oee"].value, found["energy_per_litre"].value
    else:
        energy = float((frame["fuel_flow"].to_numpy(dtype=float) * GAS_KWH_PER_M3 * hours).sum())
        litres = oee = per_litre = None
    temperature = frame[TEMPERATURE[asset_type]].to_numpy(dtype=float)
    return {"energy_kwh": energy, "cost_pence": to_pence(Decimal(str(energy)) * unit_rate_p),
            "avg_temperature_c": float(np.nanmean(temperature)) if len(temperature) else None,
            "oee_pct": oee, "litres": litres, "kwh_per_litre": per_litre}


def curve(frame: pd.DataFrame, column: str, points: int = CURVE_POINTS) -> dict[str, list[float]]:
    """The column as at most ``points`` means of equal slices, against hours from the start."""
    hours = (pd.DatetimeIndex(frame.index) - START).total_seconds().to_numpy() / 3600
    values = frame[column].to_numpy(dtype=float)
    size = max(1, math.ceil(len(values) / points))
    cut = len(values) // size * size
    x, y = hours[:cut].reshape(-1, size).mean(axis=1), values[:cut].reshape(-1, size).mean(axis=1)
    if cut < len(values):
        x, y = np.append(x, hours[cut:].mean()), np.append(y, values[cut:].mean())
    return {"hours": [round(float(v), 4) for v in x], "values": [round(float(v), 3) for v in y]}


def simulate_scenario(asset_type: str, parameters: dict[str, Any], hours: float, settings: Settings,
                      on_slice: Callable[[float], None] | None = None) -> pd.DataFrame:
    """The scenario's simulated readings, in slices of :data:`SLICE_HOURS` carrying the state
    over (``on_slice`` hears the hours done after each). The simulators' randomness is keyed to
    the clock, so slices give the same readings as one pass would."""
    frames, state, done = [], None, 0.0
    while done < hours:
        step = min(SLICE_HOURS, hours - done)
        start = START + timedelta(hours=done)
        result = simulate(asset_type, parameters, start, start + timedelta(hours=step),
                          interval_s=settings.whatif.interval_s, seed=settings.whatif.seed,
                          initial_state=state)
        frames.append(result.frame)
        state, done = result.state, done + step
        if on_slice is not None:
            on_slice(done)
    return pd.concat(frames) if len(frames) > 1 else frames[0]


def run_scenarios(asset_type: str, base: dict[str, Any], scenarios: Sequence[Scenario], settings: Settings,
                  unit_rate_p: Decimal, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Each scenario simulated, with its KPIs and temperature curve (JSON-ready)."""
    total = sum(s.hours for s in scenarios)
    before = 0.0
    out = []
    for scenario in scenarios:
        parameters = simulation_parameters(base, scenario)

        def heard(done: float, scenario: Scenario = scenario, before: float = before) -> None:
            if progress is not None:
                progress(min(99, int(100 * (before + done) / total)),
                         f"Simulating {scenario.name}: {done:g} of {scenario.hours:g} h")

        frame = simulate_scenario(asset_type, parameters, scenario.hours, settings, heard)
        before += scenario.hours
        out.append({**scenario.as_dict(), "kpis": kpis(asset_type, frame, parameters, unit_rate_p, settings),
                    "temperature": curve(frame, TEMPERATURE[asset_type])})
    return out


# -- pricing ----------------------------------------------------------------------------------


def unit_rate(session: Session, settings: Settings, supplier_id: int, fuel: str,
              today: date) -> tuple[Decimal, str]:
    """Pence per kWh, VAT included, of the supplier's tariff for ``fuel`` in force today (the
    first by code when there are several), or the settings' default; and where it came from."""
    row = session.scalar(
        select(Tariff).where(Tariff.supplier_id == supplier_id, Tariff.fuel == fuel, Tariff.valid_from <= today,
                             or_(Tariff.valid_to.is_(None), Tariff.valid_to > today))
        .order_by(Tariff.code, Tariff.valid_from.desc()).limit(1))
    if row is None:
        default = settings.whatif.electricity_p_per_kwh if fuel == "electricity" else settings.whatif.gas_p_per_kwh
        return default, f"default {fuel} rate {default} p/kWh (the supplier has no {fuel} tariff in force)"
    rate = Decimal(row.unit_rate_p_per_kwh)
    gross = rate if row.prices_include_vat else rate * (1 + Decimal(row.vat_rate))
    return gross, f"tariff {row.code}: {gross.quantize(Decimal('0.01'))} p/kWh including VAT"


# -- one run, in the request or on the workers --------------------------------------------------


def _run(session: Session, settings: Settings, supplier_id: int, asset_id: int,
         scenarios: Sequence[Scenario], progress: Progress | None) -> dict[str, Any]:
    asset = owned_asset(session, supplier_id, asset_id)
    rate, source = unit_rate(session, settings, supplier_id, FUEL[asset.asset_type],
                             datetime.now(LONDON).date())
    kind = ASSET_TYPES[asset.asset_type]
    results = run_scenarios(asset.asset_type, _parameters(asset), scenarios, settings, rate, progress)
    return {"asset_id": asset.id, "asset": asset.name, "asset_type": asset.asset_type,
            "type_label": kind.label, "unit_rate_p": str(rate), "rate_source": source,
            "fuel": FUEL[asset.asset_type], "scenarios": results}


@dataclass(frozen=True)
class Submitted:
    """What :func:`submit` did: the result (run in the request) or the job watching it."""

    result: dict[str, Any] | None = None
    job_id: int | None = None


def submit(db: Database, settings: Settings, queue: TaskQueue, *, supplier_id: int, user_id: int | None,
           asset_id: int, forms: Sequence[dict[str, Any]]) -> Submitted:
    """Run the scenarios now when they are short, else queue them for the workers.

    Raises :class:`ScenarioError` for scenarios to fix, ``AssetNotFound`` for an asset that is
    not the supplier's, ``QueueUnavailable`` when the workers' queue does not answer (the job is
    then marked failed)."""
    with db.Session() as session:
        asset = owned_asset(session, supplier_id, asset_id)
        if asset.asset_type not in FUEL:
            raise ScenarioError("This asset has no what-if simulator: choose a dispenser or a boiler.")
        scenarios = parse(asset.asset_type, forms, settings)
        if max(s.hours for s in scenarios) <= settings.whatif.inline_max_hours:
            return Submitted(result=_run(session, settings, supplier_id, asset.id, scenarios, None))
    with db.Session() as session, session.begin():
        job = jobs.create_job(session, supplier_id=supplier_id, kind=JOB_KIND, asset_id=asset_id,
                              user_id=user_id, message="Waiting for a worker")
        job_id = job.id
    _write(settings, job_id, {"asset_id": asset_id, "scenarios": [s.as_dict() for s in scenarios],
                              "result": None})
    try:
        task_id = queue.send(TASK, job_id)  # only after the job row has committed
    except QueueUnavailable as exc:
        with db.Session() as session, session.begin():
            jobs.finish(session, job_id, str(exc), failed=True)
        raise
    with db.Session() as session, session.begin():
        session.get_one(Job, job_id).task_id = task_id
    return Submitted(job_id=job_id)


def run_job(db: Database, settings: Settings, job_id: int) -> str:
    """The workers' half: simulate a queued run, recording progress in its job, and store its
    result. Idempotent: a finished job is left alone, and a rerun gives the same result."""
    with db.Session() as session:
        job = session.get(Job, job_id)
        if job is None or job.kind != JOB_KIND or job.status in ("done", "failed"):
            return "skipped"
        supplier_id = job.supplier_id
    path = _path(settings, job_id)
    try:
        request = json.loads(path.read_text(encoding="utf-8"))
        scenarios = [Scenario.of(s) for s in request["scenarios"]]
        jobs.set_progress(db, job_id, 0, "Simulating")
        with db.Session() as session:
            result = _run(session, settings, supplier_id, int(request["asset_id"]), scenarios,
                          lambda pct, text: jobs.set_progress(db, job_id, pct, text))
    except Exception as exc:
        log.exception("what-if job %s failed", job_id)
        with db.Session() as session, session.begin():
            jobs.finish(session, job_id, f"The simulation failed: {exc}", failed=True)
        raise
    _write(settings, job_id, {**request, "result": result})
    with db.Session() as session, session.begin():
        jobs.finish(session, job_id, f"Simulated {len(scenarios)} scenarios")
    return "done"


@dataclass(frozen=True)
class JobState:
    status: str  # queued | running | done | failed
    progress: int
    message: str
    result: dict[str, Any] | None

    @property
    def running(self) -> bool:
        return self.status in jobs.ACTIVE


def job_state(db: Database, settings: Settings, supplier_id: int, job_id: int) -> JobState | None:
    """A what-if job of the supplier, with its result once done; None for anyone else's."""
    with db.Session() as session:
        job = jobs.owned_job(session, supplier_id, job_id, JOB_KIND)
        if job is None:
            return None
        state = (job.status, job.progress, job.message or job.status)
    result = None
    if state[0] == "done":
        try:
            result = json.loads(_path(settings, job_id).read_text(encoding="utf-8")).get("result")
        except (OSError, ValueError):
            return JobState("failed", 100, "The run's result is no longer stored: run it again.", None)
    return JobState(state[0], state[1], state[2], result)


def _path(settings: Settings, job_id: int) -> Path:
    return settings.home_dir / "whatif" / f"{int(job_id)}.json"


def _write(settings: Settings, job_id: int, data: dict[str, Any]) -> None:
    jobs.write_json(_path(settings, job_id), data)
