"""One asset as the pipeline twins it: its type, completed by what its catalogue entry adds.

A built-in type declares fixed sensors, calculations and anomaly rules; a supplier may add
sensors to any asset and formulas to compute, and a generic asset has nothing else. This module
puts the two together once per run (:func:`load`):

* the asset's live sensors (retired ones are left out) and each one's reporting interval;
* the type's sensors the catalogue lacks (``missing``): the type's own calculations wait for
  them, everything else goes on;
* the asset's formulas, checked (:mod:`app.plant.formulas`);
* an *effective* :class:`~app.twins.base.AssetType` for anomaly detection: the type's rules,
  plus for every sensor the type does not know a flat-line check, a spike check and its normal
  range as static limits.

:func:`calculate_batch` computes one batch: the type's calculations when it has all its
sensors, then the formulas (which may read the type's calculations), with running totals
carried across batches.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.calculations import Carry
from app.db.models import Asset, Sensor
from app.generator import SignalSpec
from app.plant.formulas import Formula, FormulaError, evaluate, parse_all
from app.twins import asset_type
from app.twins.base import AssetType, SensorSpec
from app.twins.rules import FlatLine, Spike, Threshold
from settings import SensorLimits

#: The slowest reporting interval a sensor may be assumed to have when none is known.
DEFAULT_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class AssetTwin:
    """What the pipeline needs of one asset."""

    asset_id: int
    base: AssetType
    kind: AssetType  # the effective type: base plus the catalogue's sensors and limits
    sensors: dict[int, str]  # live sensors: id -> name
    intervals: dict[str, int | None]  # name -> reporting interval in seconds, None if unknown
    formulas: tuple[Formula, ...]
    parameters: dict[str, Any]
    missing: tuple[str, ...]  # the type's sensors the catalogue lacks
    problems: tuple[str, ...]  # what stops part of the twin, in words

    @property
    def interval(self) -> timedelta:
        """The slowest known reporting interval of the asset's sensors."""
        known = [v for v in self.intervals.values() if v]
        return timedelta(seconds=max(known)) if known else DEFAULT_INTERVAL

    @property
    def fastest(self) -> timedelta:
        """The fastest known reporting interval of the asset's sensors."""
        known = [v for v in self.intervals.values() if v]
        return timedelta(seconds=min(known)) if known else DEFAULT_INTERVAL

    @property
    def calculation_units(self) -> dict[str, str]:
        units = dict(self.base.calculations) if not self.missing else {}
        units.update({f.name: f.unit for f in self.formulas})
        return units


def _extra_rules(specs: list[SensorSpec]) -> tuple[tuple[Any, ...], dict[str, SensorLimits]]:
    rules: list[Any] = []
    limits: dict[str, SensorLimits] = {}
    for spec in specs:
        rules += [FlatLine(spec.name), Spike(spec.name)]
        if spec.normal_max is not None:
            rules.append(Threshold(spec.name, "high"))
        if spec.normal_min is not None:
            rules.append(Threshold(spec.name, "low"))
        if spec.normal_min is not None or spec.normal_max is not None:
            limits[spec.name] = SensorLimits(low=spec.normal_min, high=spec.normal_max)
    return tuple(rules), limits


def effective_type(base: AssetType, sensors: list[Sensor]) -> AssetType:
    """``base`` with the sensors it does not declare added: units, normal ranges, and the
    checks every sensor gets (flat line, spike, its normal range as static limits)."""
    known = {spec.name for spec in base.sensors}
    extra = [SensorSpec(s.name, s.unit, s.normal_min, s.normal_max, SignalSpec(0.0, 0.0))
             for s in sensors if s.name not in known]
    if not extra:
        return base
    rules, limits = _extra_rules(extra)
    return dataclasses.replace(base, sensors=base.sensors + tuple(extra),
                               anomaly_rules=tuple(base.anomaly_rules) + rules,
                               limits={**base.limits, **limits})


def load(session: Session, asset: Asset) -> AssetTwin:
    """The asset's twin as the catalogue describes it now."""
    base = asset_type(asset.asset_type)
    live = list(session.scalars(select(Sensor).where(Sensor.asset_id == asset.id,
                                                     Sensor.retired_at.is_(None))
                                .order_by(Sensor.id)))
    names = [s.name for s in live]
    missing = tuple(spec.name for spec in base.sensors if spec.name not in names)
    problems: list[str] = []
    if missing:
        problems.append(f"the {base.label.lower()}'s own calculations wait for its sensors "
                        f"{', '.join(missing)}")
    try:
        formulas = tuple(parse_all(list(asset.formulas or ()), names,
                                   [] if missing else list(base.calculations),
                                   list({**base.default_parameters, **(asset.parameters or {})})))
    except FormulaError as exc:
        formulas = ()
        problems.append(f"its formulas are not calculated: {exc}")
    return AssetTwin(asset.id, base, effective_type(base, live), {s.id: s.name for s in live},
                     {s.name: s.interval_s for s in live}, formulas,
                     {**base.default_parameters, **(asset.parameters or {})}, missing,
                     tuple(problems))


def calculate_batch(twin: AssetTwin, wide: pd.DataFrame, carry: Carry) -> tuple[pd.DataFrame, Carry, list[str]]:
    """One batch's calculations (the type's, then the formulas'), the carry after it, and
    notes on what could not be calculated in it."""
    notes: list[str] = []
    wide = wide.reindex(columns=list(twin.sensors.values()))
    frames = []
    carry_after = carry
    if twin.base.sensors and not twin.missing:
        empty = [spec.name for spec in twin.base.sensors if wide[spec.name].isna().all()]
        if empty:
            notes.append(f"no readings of {', '.join(empty)} in this range: the "
                         f"{twin.base.label.lower()}'s own calculations skipped it")
        else:
            built, carry_after = twin.base.calculate(wide, carry, twin.parameters)
            frames.append(built)
    built_in = frames[0] if frames else None
    if twin.formulas:
        own = evaluate(twin.formulas, wide, carry, built_in, twin.parameters)
        frames.append(own)
        totals = dict(carry_after.totals)
        for formula in twin.formulas:
            if formula.integrals:
                for column in own.columns:
                    if column == formula.name or str(column).startswith(f"{formula.name}__integral"):
                        totals[str(column)] = float(own[column].iloc[-1])
        carry_after = Carry(wide.index[-1].to_pydatetime(), totals)
    frame = pd.concat(frames, axis=1) if frames else pd.DataFrame(index=wide.index)
    if not frames and not wide.empty:
        carry_after = Carry(wide.index[-1].to_pydatetime(), dict(carry.totals))
    return frame, carry_after, notes
