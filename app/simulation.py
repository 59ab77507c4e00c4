"""Physical simulation of an asset, with faults injected on request and labelled.

:func:`simulate` runs an asset type's simulator (its module in :mod:`app.twins`: clean physics
plus measurement noise) over a time range and adds the faults asked for:

* physical faults, which the physics must show, are handed to the simulator as time-varying
  inputs (see :mod:`app.twins.physics`): ``leak`` loses ``magnitude`` (a fraction) of a flow
  (the pipeline's outlet flow falls below its inlet and its pressure drop falls; a tank's or the
  dispenser's level falls with no draw; the boiler's pressure falls); ``overuse`` multiplies
  what consumers demand by ``magnitude`` (flow and power rise). A type says which it can show
  and on which sensors in ``AssetType.physical_faults``;
* sensor faults, the same for every type, are applied to the readings afterwards:
  ``stuck_sensor`` holds the reading from before the fault, ``drift`` adds ``magnitude`` units
  per hour since the fault began, ``spike`` adds a few points ``magnitude`` normal-range widths
  high.

Every fault that touches the range is labelled (kind, sensor, start, end, and the sensors it
visibly moves) so anomaly detection can be scored against the truth. A physical fault's effect
can outlast its window (a tank refills, water reheats); its label is the cause's window.

A simulation is deterministic for a seed and resumable: the state it ends with, passed as
``initial_state``, continues it exactly (to the ODE solver's tolerance), and randomness is keyed
to the clock, so simulating [a, c) equals simulating [a, b) and then [b, c). A stuck sensor is
the one exception: in a later chunk it holds that chunk's first reading. :func:`initial_state_from`
resumes from what the database holds instead, and :func:`write` stores a result through the one
bulk path for sensor readings.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from app.db import Database
from app.db.models import Asset, Sensor, SensorReading
from app.ingest import write_sensor_readings
from app.twins import AssetType, physics
from app.twins import asset_type as lookup_type

log = logging.getLogger(__name__)

FAULT_KINDS = ("leak", "stuck_sensor", "drift", "spike", "overuse")
PHYSICAL_FAULTS = ("leak", "overuse")
#: How many points a spike fault adds to its window (fewer if the window has fewer readings).
SPIKES_PER_FAULT = 3
LABEL_COLUMNS = ["kind", "sensor", "start", "end", "sensors", "magnitude"]


@dataclass(frozen=True)
class Fault:
    """A fault to inject over [start, end) (UTC, timezone-aware).

    ``sensor`` is the sensor a stuck_sensor, drift or spike fault affects (default: the type's
    first); ``magnitude`` is kind-specific: leak, the fraction of a flow lost; drift, units per
    hour; spike, the size in normal-range widths; overuse, the multiplier of demand (above 1).
    """

    kind: str
    start: datetime
    end: datetime
    sensor: str | None = None
    magnitude: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r} (known: {', '.join(FAULT_KINDS)})")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a fault's start and end must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"the {self.kind} fault ends ({self.end.isoformat()}) "
                             "before it starts")
        if not math.isfinite(self.magnitude):
            raise ValueError(f"the {self.kind} fault's magnitude must be a finite number")
        if self.kind == "overuse" and self.magnitude <= 1.0:
            raise ValueError("overuse multiplies demand by its magnitude: give one above 1, e.g. 2")
        if self.kind == "leak" and self.magnitude <= 0.0:
            raise ValueError("a leak's magnitude is the fraction of the flow lost: above 0")


@dataclass(frozen=True)
class SimulationResult:
    """``frame``: a column per sensor (floats) on a UTC index at the interval; ``labels``: one
    row per injected fault (:data:`LABEL_COLUMNS`; ``sensor`` is None for a fault of the whole
    asset); ``state``: the physical state at the end, to resume from."""

    frame: pd.DataFrame
    labels: pd.DataFrame
    state: dict[str, float]


def sample_times(start: datetime, end: datetime, interval_s: int) -> pd.DatetimeIndex:
    """``start + k x interval`` in [start, end), UTC, with the interval as its ``freq``."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    if interval_s < 1:
        raise ValueError("the interval must be at least one second")
    step = timedelta(seconds=interval_s)
    periods = -(-(end - start) // step)
    first = pd.Timestamp(start).tz_convert("UTC")
    return pd.date_range(first, periods=periods, freq=step, name="ts")


def _window(times: pd.DatetimeIndex, fault: Fault) -> np.ndarray:
    return np.asarray((times >= pd.Timestamp(fault.start)) & (times < pd.Timestamp(fault.end)))


def _check(kind: AssetType, fault: Fault) -> str | None:
    """The sensor a fault applies to (None for a physical fault); a clear error if it cannot."""
    if fault.kind in PHYSICAL_FAULTS:
        if fault.kind not in kind.physical_faults:
            can = ", ".join(kind.physical_faults) or "none"
            raise ValueError(f"a {kind.label.lower()} cannot show a {fault.kind} fault "
                             f"(physical faults it can show: {can})")
        return None
    sensor = fault.sensor or kind.sensors[0].name
    kind.sensor(sensor)  # KeyError naming the type and sensor
    return sensor


def _physical_inputs(faults: Sequence[Fault], times: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """The demand multiplier and the fraction lost at each row, from the physical faults."""
    demand, leak = np.ones(len(times)), np.zeros(len(times))
    for fault in faults:
        window = _window(times, fault)
        if fault.kind == "overuse":
            demand[window] *= fault.magnitude
        elif fault.kind == "leak":
            leak[window] += fault.magnitude
    return {physics.DEMAND: demand, physics.LEAK: leak}


def _spike_rows(times: pd.DatetimeIndex, fault: Fault, seed: int) -> np.ndarray:
    """Rows of ``times`` that a spike fault hits: up to :data:`SPIKES_PER_FAULT` moments drawn
    in the fault's window from the seed and the fault alone (not from the simulated range, so a
    chunk hits the rows the whole range would), each at the first row at or after it (the last
    row before it when no row follows inside the window)."""
    began = pd.Timestamp(fault.start)
    key = [seed, zlib.crc32(f"spike:{fault.sensor}".encode()), int(began.timestamp())]
    span = (fault.end - fault.start).total_seconds()
    offsets = np.random.default_rng(key).uniform(0.0, span, SPIKES_PER_FAULT)
    moments = began.value + (offsets * 1e9).astype(np.int64)  # epoch ns
    stamps = times.as_unit("ns").asi8
    after = np.searchsorted(stamps, moments, side="left")
    before = np.searchsorted(stamps, moments, side="right") - 1
    inside = _window(times, fault)
    rows = [a if a < len(times) and inside[a] else b for a, b in zip(after, before, strict=True)]
    return np.unique([row for row in rows if 0 <= row < len(times) and inside[row]]).astype(int)


def _range_width(kind: AssetType, sensor: str, values: np.ndarray) -> float:
    spec = kind.sensor(sensor)
    if spec.normal_min is not None and spec.normal_max is not None:
        return spec.normal_max - spec.normal_min
    return float(np.ptp(values)) or 1.0


def _apply_sensor_fault(frame: pd.DataFrame, kind: AssetType, fault: Fault, sensor: str,
                        seed: int) -> bool:
    """Apply a stuck_sensor, drift or spike fault to ``frame`` in place; whether it hit a row."""
    times = pd.DatetimeIndex(frame.index)
    window = _window(times, fault)
    if not window.any():
        return False
    values = frame[sensor].to_numpy(copy=True)
    first = int(np.argmax(window))
    if fault.kind == "stuck_sensor":
        values[window] = values[first - 1] if first > 0 else values[first]
    elif fault.kind == "drift":
        since = physics.epoch_seconds(times[window]) - pd.Timestamp(fault.start).timestamp()
        hours = since / 3600.0
        values[window] += fault.magnitude * hours
    else:
        on_sensor = Fault(fault.kind, fault.start, fault.end, sensor, fault.magnitude)
        rows = _spike_rows(times, on_sensor, seed)
        if not len(rows):
            return False
        values[rows] += fault.magnitude * _range_width(kind, sensor, values)
    frame[sensor] = values
    return True


def simulate(asset_type: str, parameters: dict[str, Any], start: datetime, end: datetime, *,
             interval_s: int = 60, seed: int = 0, faults: Sequence[Fault] = (),
             initial_state: dict[str, float] | None = None) -> SimulationResult:
    """Simulate an asset of ``asset_type`` with ``parameters`` (over its type's defaults) at
    ``start + k x interval_s`` in [start, end), injecting ``faults``; see the module docstring.

    ``initial_state`` is a previous result's ``state`` (or :func:`initial_state_from`); without
    it the type starts from its design point (at setpoint, full). Raises ValueError for a
    bad range, an unknown fault, or a physical fault the type cannot show; KeyError for an
    unknown type or sensor.
    """
    kind = lookup_type(asset_type)
    if kind.simulate is None:
        raise ValueError(f"the {kind.label.lower()} has no simulator")
    if seed < 0:
        raise ValueError("the seed must be zero or more")
    times = sample_times(start, end, interval_s)
    targets = [_check(kind, fault) for fault in faults]
    inputs = _physical_inputs([f for f in faults if f.kind in PHYSICAL_FAULTS], times)
    # A scenario may set a demand or a leak of its own; faults come on top of it.
    inputs[physics.DEMAND] *= physics.input_array(parameters, physics.DEMAND, len(times), 1.0)
    inputs[physics.LEAK] += physics.input_array(parameters, physics.LEAK, len(times), 0.0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(kind.name.encode())]))
    frame, state = kind.simulate({**kind.default_parameters, **parameters, **inputs}, times, rng,
                                 dict(initial_state) if initial_state else None)
    labels = []
    for fault, sensor in zip(faults, targets, strict=True):
        if sensor is None:
            hit = bool(_window(times, fault).any())
            affected = kind.physical_faults[fault.kind]
        else:
            hit = _apply_sensor_fault(frame, kind, fault, sensor, seed)
            affected = (sensor,)
        if hit:
            labels.append({"kind": fault.kind, "sensor": sensor,
                           "start": max(pd.Timestamp(fault.start), times[0]).tz_convert("UTC"),
                           "end": min(pd.Timestamp(fault.end), pd.Timestamp(end)).tz_convert("UTC"),
                           "sensors": affected, "magnitude": fault.magnitude})
    # Object columns: a sensor stays None for a fault of the whole asset (not NaN).
    table = pd.DataFrame({name: pd.Series([row[name] for row in labels], dtype=object)
                          for name in LABEL_COLUMNS})
    return SimulationResult(frame, table, state)


# -- the database ---------------------------------------------------------------------------


def _asset(db: Database, asset_id: int) -> tuple[Asset, dict[str, int]]:
    """The asset and its sensors' ids by name; LookupError if there is no such asset."""
    with db.Session() as session:
        asset = session.get(Asset, asset_id)
        if asset is None:
            raise LookupError(f"no asset with id {asset_id}")
        rows = session.execute(select(Sensor.name, Sensor.id).where(Sensor.asset_id == asset_id))
        sensors = {name: sensor_id for name, sensor_id in rows}
        session.expunge(asset)
    return asset, sensors


def initial_state_from(db: Database, asset_id: int,
                       before: datetime | None = None) -> dict[str, float] | None:
    """The newest stored reading of each of the asset's sensors (before ``before``, if given),
    by sensor name: the state a simulation resumes from (each type reads the sensors that carry
    its state: a temperature, a level). None when there are no such readings. One primary-key
    seek per sensor, on the sensor source."""
    asset, sensors = _asset(db, asset_id)
    names = {spec.name for spec in lookup_type(asset.asset_type).sensors}
    state: dict[str, float] = {}
    with db.sensors_engine.connect() as conn:
        for name, sensor_id in sensors.items():
            if name not in names:
                continue
            query = select(SensorReading.value).where(SensorReading.sensor_id == sensor_id)
            if before is not None:
                query = query.where(SensorReading.ts < before)
            value = conn.scalar(query.order_by(SensorReading.ts.desc()).limit(1))
            if value is not None:
                state[name] = float(value)
    return state or None


def _readings(frame: pd.DataFrame, sensors: dict[str, int]) -> Iterator[pd.DataFrame]:
    ts = pd.Series(frame.index, copy=False)
    for name in frame.columns:
        if name in sensors:
            yield pd.DataFrame({"sensor_id": np.full(len(frame), sensors[name], dtype=np.int64),
                                "ts": ts, "value": frame[name].to_numpy(dtype=float)})


def write(db: Database, asset_id: int, result: SimulationResult, *,
          progress: Callable[[int], None] | None = None) -> int:
    """Store the result's readings for the asset's sensors of the same names through
    :func:`app.ingest.write_sensor_readings` (idempotent: a re-run replaces); returns the rows
    written. A simulated sensor the asset lacks is skipped with a warning."""
    _, sensors = _asset(db, asset_id)
    missing = [name for name in result.frame.columns if name not in sensors]
    if missing:
        log.warning("asset %s has no sensor %s: those simulated readings are not stored",
                    asset_id, ", ".join(missing))
    written = write_sensor_readings(db.sensors_engine, _readings(result.frame, sensors),
                                    chunk_rows=db.settings.ingest.chunk_rows, progress=progress)
    return written.rows


def simulate_asset(db: Database, asset_id: int, start: datetime, end: datetime, *,
                   interval_s: int = 60, seed: int | None = None, faults: Sequence[Fault] = (),
                   resume: bool = True) -> SimulationResult:
    """Simulate a stored asset with its own parameters, resuming from its newest readings
    before ``start`` (unless ``resume`` is false). ``seed`` defaults to the asset's id, so
    assets differ."""
    asset, _ = _asset(db, asset_id)
    state = initial_state_from(db, asset_id, before=start) if resume else None
    return simulate(asset.asset_type, dict(asset.parameters or {}), start, end,
                    interval_s=interval_s, seed=asset_id if seed is None else seed, faults=faults,
                    initial_state=state)
