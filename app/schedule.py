"""The pipeline's schedule, ``prediction_models/prediction_schedule.json``: per asset (or every
asset of a type) and target, when to calculate, train, predict and validate.

    {"version": 1, "entries": [
      {"asset_type": "boiler", "target": "water_temperature",
       "calculate": {"every": "5m"}, "train": {"cron": "15 2 * * *"},
       "predict": {"every": "10m"}, "validate": {"every": "30m"}}]}

An entry may say ``"mode": "surrogate"``: its target (a calculation) is then estimated from
the asset's concurrent sensor readings rather than forecast from its past (the default mode,
``"forecast"``). An entry names ``asset_type`` (all assets of that type) or ``asset`` (one asset id), or is the
``{"catalogue": true, ...}`` entry: every asset whose catalogue entry chooses its own forecast
targets (those leave their type's entries), and the calculations of generic assets. Each stage
is ``{"every": "<n>s|m|h|d"}`` or ``{"cron": "<minute> <hour> <day> <month> <weekday>"}`` (UTC)
and may be left out. The file is validated as a whole when beat starts: a mistake stops it
with a message naming the entry and what to fix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.twins import ASSET_TYPES

SCHEDULE_FILE = Path(__file__).resolve().parent.parent / "prediction_models" / "prediction_schedule.json"
STAGES = ("calculate", "train", "predict", "validate")
_EVERY = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class ScheduleError(ValueError):
    """The schedule file is wrong; ``str()`` names the entry and the fix."""


@dataclass(frozen=True)
class When:
    every: timedelta | None = None
    cron: tuple[str, str, str, str, str] | None = None

    def describe(self) -> str:
        return f"every {self.every}" if self.every else f"cron {' '.join(self.cron or ())}"


@dataclass(frozen=True)
class Entry:
    asset_type: str | None
    asset_id: int | None
    target: str | None  # None: the catalogue entry, whose targets each asset chooses
    stages: dict[str, When]
    mode: str = "forecast"

    @property
    def label(self) -> str:
        if self.target is None:
            return "catalogue targets"
        who = self.asset_type if self.asset_type else f"asset {self.asset_id}"
        return f"{who}/{self.target}" + ("" if self.mode == "forecast" else f" ({self.mode})")


def _when(value: Any, where: str) -> When:
    if not isinstance(value, dict) or len(value) != 1 or not ({"every", "cron"} & set(value)):
        raise ScheduleError(f"{where}: give exactly one of {{\"every\": \"10m\"}} or {{\"cron\": \"0 2 * * *\"}}")
    if "every" in value:
        match = _EVERY.match(str(value["every"]).strip())
        if not match or int(match.group(1)) == 0:
            raise ScheduleError(f"{where}: 'every' must look like 30s, 10m, 2h or 1d, not {value['every']!r}")
        return When(every=timedelta(**{_UNITS[match.group(2)]: int(match.group(1))}))
    fields = str(value["cron"]).split()
    if len(fields) != 5 or not all(re.fullmatch(r"[\d*/,\-]+", f) for f in fields):
        raise ScheduleError(f"{where}: 'cron' needs five fields (minute hour day month weekday), "
                            f"not {value['cron']!r}")
    return When(cron=tuple(fields))  # type: ignore[arg-type]


def parse(data: Any, source: str = "prediction_schedule.json") -> list[Entry]:
    """Validate the schedule document and return its entries."""
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("entries"), list):
        raise ScheduleError(f"{source}: expected {{\"version\": 1, \"entries\": [...]}}")
    unknown = set(data) - {"version", "entries"}
    if unknown:
        raise ScheduleError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
    entries = []
    for number, raw in enumerate(data["entries"], start=1):
        where = f"{source} entry {number}"
        if not isinstance(raw, dict):
            raise ScheduleError(f"{where}: each entry must be an object")
        unknown = set(raw) - {"asset_type", "asset", "target", "catalogue", "mode", *STAGES}
        if unknown:
            raise ScheduleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        if "catalogue" in raw:
            if raw["catalogue"] is not True or {"asset_type", "asset", "target"} & set(raw):
                raise ScheduleError(f"{where}: the catalogue entry is {{\"catalogue\": true}} with "
                                    "stages only: each asset's catalogue entry names its targets")
            stages = {stage: _when(raw[stage], f"{where} ({stage})") for stage in STAGES if stage in raw}
            if not stages:
                raise ScheduleError(f"{where}: give at least one of {', '.join(STAGES)}")
            entries.append(Entry(None, None, None, stages))
            continue
        if ("asset_type" in raw) == ("asset" in raw):
            raise ScheduleError(f"{where}: name either 'asset_type' or 'asset' (an asset id)")
        asset_type = raw.get("asset_type")
        if asset_type is not None and asset_type not in ASSET_TYPES:
            raise ScheduleError(f"{where}: unknown asset_type {asset_type!r} "
                                f"(known: {', '.join(sorted(ASSET_TYPES))})")
        asset_id = raw.get("asset")
        if asset_id is not None and (not isinstance(asset_id, int) or isinstance(asset_id, bool)):
            raise ScheduleError(f"{where}: 'asset' must be an asset id (a whole number)")
        target = raw.get("target")
        if not isinstance(target, str) or not target.strip():
            raise ScheduleError(f"{where}: 'target' must name a sensor or calculation")
        if asset_type is not None:
            kind = ASSET_TYPES[asset_type]
            known = {s.name for s in kind.sensors} | set(kind.calculations)
            if target not in known:
                raise ScheduleError(f"{where}: {asset_type} has no sensor or calculation {target!r}")
        mode = raw.get("mode", "forecast")
        if mode not in ("forecast", "surrogate"):
            raise ScheduleError(f"{where}: 'mode' is \"forecast\" or \"surrogate\", not {mode!r}")
        if mode == "surrogate" and asset_type is not None and target not in ASSET_TYPES[asset_type].calculations:
            raise ScheduleError(f"{where}: a surrogate estimates a calculation from the sensors; "
                                f"{target!r} is not a calculation of {asset_type}")
        stages = {stage: _when(raw[stage], f"{where} ({stage})") for stage in STAGES if stage in raw}
        if not stages:
            raise ScheduleError(f"{where}: give at least one of {', '.join(STAGES)}")
        entries.append(Entry(asset_type, asset_id, target, stages, mode))
    return entries


def load(path: Path | None = None) -> list[Entry]:
    """The schedule in ``path`` (settings' ``pipeline.schedule_file``; the packaged file by default)."""
    path = path or SCHEDULE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScheduleError(f"{path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ScheduleError(f"{path} is not valid JSON at line {exc.lineno}: {exc.msg}") from None
    return parse(data, path.name)


def targets_for(entries: list[Entry], asset_type: str, asset_id: int,
                chosen: list[str] | None = None) -> list[str]:
    """The targets forecast for an asset: those its catalogue entry chose (``chosen``, the
    asset's ``forecast_targets``), else the schedule's for its type or for it."""
    if chosen is not None:
        return list(dict.fromkeys(chosen))
    return list(dict.fromkeys(target for target, _ in slots_for(entries, asset_type, asset_id, chosen)))


def slots_for(entries: list[Entry], asset_type: str, asset_id: int,
              chosen: list[str] | None = None) -> list[tuple[str, str]]:
    """The (target, mode) pairs modelled for an asset: its catalogue entry's chosen targets
    (forecasts), else the schedule's entries for its type or for it."""
    if chosen is not None:
        return [(target, "forecast") for target in dict.fromkeys(chosen)]
    found = [(e.target, e.mode) for e in entries if e.target is not None
             and (e.asset_type == asset_type or e.asset_id == asset_id)]
    return list(dict.fromkeys(found))
