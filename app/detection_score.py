"""How well anomaly detection finds injected faults: a plan of labelled faults, its simulation,
and precision and recall per fault kind. Used by ``bench/anomalies.py`` and the tests.

The plan cuts the simulated time into segments of :data:`SEGMENT` and puts one fault in each,
the fault kinds taking turns (every kind the type can show: the sensor faults on every type, a
leak or overuse where its physics shows them), at a random time with at least
:data:`QUIET_BEFORE` of healthy data before it and :data:`QUIET_AFTER` after. Durations and
magnitudes are drawn from :data:`DURATIONS` and :func:`magnitude`. Segments are simulated one
after the other, each from the state the last ended in, except that water a boiler lost to a
leak is topped up between segments (its pressure would otherwise stay low for the rest of the
run, and one alert would "find" every later fault).

Scoring, per fault kind:

* a fault is *found* (recall) when an alert of its kind (:data:`FINDS`) overlaps the fault's
  window on a sensor the fault moves (its own sensor for a sensor fault; the sensors its
  physics moves for a leak or overuse);
* an alert of a kind is *right* (precision) when it overlaps a fault of that kind on its
  sensor, in the fault's window or the :data:`AFTERMATH` of a physical fault (a tank refills and
  water reheats after the leak has stopped).

A drift is found when any alert on its sensor overlaps it (a sensor drifting past a limit has
been found; ``found_as_kind`` counts those found by a drift alert), and precision is counted
over the drift alerts (kind ``drift``). Each found fault's delay runs from its start to when the
first alert that found it was noticed. The model-based checks learn from the reference days
of healthy history simulated before the plan (:func:`evaluate`). Sensor faults are not put on a sensor that rests at one exact value most of the time
(:data:`NOT_OBSERVABLE`): stuck there, it reads what a healthy one reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from app.anomalies import Finding, detect
from app.simulation import FAULT_KINDS, PHYSICAL_FAULTS, Fault, simulate
from app.twins import AssetType, asset_type
from settings import AnomalySettings

SEGMENT = timedelta(hours=12)
QUIET_BEFORE = timedelta(hours=3)
QUIET_AFTER = timedelta(hours=2)
AFTERMATH = timedelta(hours=1)
#: (shortest, longest) fault window, by kind
DURATIONS: dict[str, tuple[timedelta, timedelta]] = {
    "leak": (timedelta(minutes=60), timedelta(minutes=180)),
    "stuck_sensor": (timedelta(minutes=45), timedelta(minutes=180)),
    "drift": (timedelta(minutes=120), timedelta(minutes=240)),
    "spike": (timedelta(minutes=10), timedelta(minutes=60)),
    "overuse": (timedelta(minutes=60), timedelta(minutes=180)),
}
#: (shortest, longest) leak, as the fraction of the flow lost, by asset type
LEAKS: dict[str, tuple[float, float]] = {
    "pipeline": (0.08, 0.3),
    "pressure_tank": (0.05, 0.3),
    "water_dispenser": (0.03, 0.2),
    "boiler": (0.003, 0.02),
}
#: (asset type, sensor) -> why no sensor fault is put on it
NOT_OBSERVABLE: dict[tuple[str, str], str] = {
    ("water_dispenser", "flow"): "reads exactly 0 whenever nothing is drawn (most of the time)",
}
#: The alerts that are each kind of fault (precision is counted over them).
RAISES: dict[str, Callable[[Finding], bool]] = {
    "leak": lambda f: f.classification == "leakage",
    "stuck_sensor": lambda f: f.kind == "flat_line",
    "spike": lambda f: f.kind == "spike",
    "overuse": lambda f: f.classification == "overuse",
    "drift": lambda f: f.kind == "drift",
}
#: The alerts that find each kind of fault (recall): its own kind, except that a drift is
#: found by any alert on its sensor (a sensor drifting past a limit has been found).
FINDS: dict[str, Callable[[Finding], bool]] = {**RAISES, "drift": lambda f: True}
SCORED = ("leak", "stuck_sensor", "spike", "overuse", "drift")


def fault_kinds(kind: AssetType) -> list[str]:
    """The faults a type can show, in :data:`FAULT_KINDS` order."""
    return [k for k in FAULT_KINDS if k not in PHYSICAL_FAULTS or k in kind.physical_faults]


def sensors_for_faults(kind: AssetType) -> list[str]:
    return [s.name for s in kind.sensors if (kind.name, s.name) not in NOT_OBSERVABLE]


def magnitude(fault: str, kind: AssetType, sensor: str | None, rng: np.random.Generator) -> float:
    """A random magnitude: a leak of :data:`LEAKS`; overuse x1.5-3; a spike 0.5-1.5 normal-range
    widths and a drift 0.1-0.3 widths an hour, either way."""
    if fault == "leak":
        return float(rng.uniform(*LEAKS.get(kind.name, (0.05, 0.3))))
    if fault == "overuse":
        return float(rng.uniform(1.5, 3.0))
    sign = float(rng.choice([-1.0, 1.0]))
    if fault == "spike":
        return sign * float(rng.uniform(0.5, 1.5))
    if fault == "drift":
        spec = kind.sensor(sensor or kind.sensors[0].name)
        width = (spec.normal_max or 1.0) - (spec.normal_min or 0.0)
        return sign * float(rng.uniform(0.1, 0.3)) * width
    return 1.0


def plan(kind: AssetType, start: datetime, days: float, seed: int) -> list[tuple[datetime, datetime, Fault]]:
    """Segments (start, end, its fault) covering ``days`` from ``start``."""
    rng = np.random.default_rng(seed)
    kinds, sensors = fault_kinds(kind), sensors_for_faults(kind)
    out = []
    count = int(timedelta(days=days) / SEGMENT)
    for number in range(count):
        begin = start + number * SEGMENT
        fault = kinds[number % len(kinds)]
        shortest, longest = DURATIONS[fault]
        length = shortest + (longest - shortest) * float(rng.uniform())
        latest = SEGMENT - QUIET_AFTER - length
        at = begin + QUIET_BEFORE + (latest - QUIET_BEFORE) * float(rng.uniform())
        sensor = None if fault in PHYSICAL_FAULTS else str(rng.choice(sensors))
        size = magnitude(fault, kind, sensor, rng)
        out.append((begin, begin + SEGMENT, Fault(fault, at.replace(microsecond=0),
                                                  (at + length).replace(microsecond=0), sensor, size)))
    return out


def run_plan(asset_type_name: str, segments: Sequence[tuple[datetime, datetime, Fault]],
             seed: int, warmup: timedelta = timedelta(0)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The simulated readings and the fault labels of a plan, segment after segment, after
    ``warmup`` of healthy readings (the history a twin has before it is judged)."""
    frames, labels = [], []
    state: dict[str, float] | None = None
    if warmup > timedelta(0) and segments:
        first = segments[0][0]
        result = simulate(asset_type_name, {}, first - warmup, first, seed=seed)
        frames.append(result.frame)
        state = result.state
    for begin, end, fault in segments:
        if state is not None and "water_lost_l" in state:
            state = {**state, "water_lost_l": 0.0}  # topped up between segments
        result = simulate(asset_type_name, {}, begin, end, seed=seed, faults=[fault], initial_state=state)
        frames.append(result.frame)
        labels.append(result.labels)
        state = result.state
    return pd.concat(frames), pd.concat(labels, ignore_index=True)


@dataclass
class Score:
    """One fault kind's counts: faults injected and found; alerts raised and right."""

    faults: int = 0
    found: int = 0
    alerts: int = 0
    right: int = 0
    missed: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    #: hours from each found fault's start to the first alert that found it
    delays: list[float] = field(default_factory=list)
    #: found by an alert of the fault's own kind (for drift, where any alert finds it)
    found_as_kind: int = 0

    @property
    def recall(self) -> float | None:
        return self.found / self.faults if self.faults else None

    @property
    def precision(self) -> float | None:
        return self.right / self.alerts if self.alerts else None

    def add(self, other: Score) -> None:
        self.faults += other.faults
        self.found += other.found
        self.alerts += other.alerts
        self.right += other.right
        self.missed += other.missed
        self.wrong += other.wrong
        self.delays += other.delays
        self.found_as_kind += other.found_as_kind

    @property
    def median_delay(self) -> float | None:
        return float(np.median(self.delays)) if self.delays else None


def _overlaps(finding: Finding, start: Any, end: Any) -> bool:
    return finding.start < end and finding.end >= start


def score(findings: Sequence[Finding], labels: pd.DataFrame, where: str = "") -> dict[str, Score]:
    """Precision and recall counts per fault kind (see the module docstring)."""
    scores = {k: Score() for k in FAULT_KINDS}
    rows = labels.to_dict("records")
    for row in rows:
        moved = set(row["sensors"])
        hit = [f for f in findings if f.sensor in moved and FINDS[row["kind"]](f)
               and _overlaps(f, row["start"], row["end"])]
        scores[row["kind"]].faults += 1
        if hit:
            scores[row["kind"]].found += 1
            first = min((f.noticed or f.start) for f in hit)
            scores[row["kind"]].delays.append(max(0.0, (pd.Timestamp(first) - pd.Timestamp(row["start"]))
                                                  / pd.Timedelta(hours=1)))
            if any(RAISES[row["kind"]](f) for f in hit):
                scores[row["kind"]].found_as_kind += 1
        else:
            scores[row["kind"]].missed.append(f"{where}{row['kind']} on {'/'.join(sorted(moved))} "
                                              f"{row['start']:%d %b %H:%M}-{row['end']:%H:%M} "
                                              f"x{row['magnitude']:.3g}")
    for finding in findings:
        for kind in SCORED:
            if not RAISES[kind](finding):
                continue
            scores[kind].alerts += 1
            right = any(r["kind"] == kind and finding.sensor in set(r["sensors"]) and _overlaps(
                finding, r["start"], r["end"] + (AFTERMATH if kind in PHYSICAL_FAULTS else timedelta(0)))
                for r in rows)
            if right:
                scores[kind].right += 1
            else:
                scores[kind].wrong.append(f"{where}{finding.start:%d %b %H:%M}-{finding.end:%H:%M} "
                                          f"{finding.message}")
    return scores


def evaluate(asset_type_name: str, start: datetime, days: float, seed: int,
             settings: AnomalySettings) -> dict[str, Score]:
    """Simulate a plan for one type and seed after the reference days of healthy history the
    model-based checks learn from (alerts there count as wrong), detect, and score."""
    kind = asset_type(asset_type_name)
    warmup = timedelta(days=settings.residuals.reference_days)
    frame, labels = run_plan(asset_type_name, plan(kind, start, days, seed), seed, warmup)
    findings = detect(kind, {}, frame, settings)
    return score(findings, labels, where=f"{asset_type_name} seed {seed}: ")


def summary_row(scores: dict[str, Score]) -> dict[str, Any]:
    return {kind: {"faults": s.faults, "found": s.found, "alerts": s.alerts, "right": s.right,
                   "recall": s.recall, "precision": s.precision} for kind, s in scores.items()}
