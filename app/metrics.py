"""Performance metrics of an asset over a stretch of its readings: pure functions of a wide
frame (a column per sensor, a UTC ``DatetimeIndex``), the asset's parameters and its anomaly
episodes. docs/metrics.md gives each formula with a worked example (the same as its test).

Each reading stands for the time until the next one, but never for more than the typical
spacing (the median): a gap in the data counts as no time rather than as time spent in
whatever state came before it. Percentages are 0-100, as shown and as banded in settings.

The water dispenser has every metric. Other asset types have the two that need only anomaly
episodes and their sensors' normal ranges (mean time between anomalies, time to recover);
the rest say "not applicable" rather than inventing numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from app.twins import ASSET_TYPES
from settings import BandSettings, MetricsSettings

Band = Literal["good", "warning", "bad"]
#: An anomaly episode: when it started, and when it ended (None while it lasts).
Span = tuple[datetime, datetime | None]

DEFAULT_SETPOINT_C = 60.0
NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class Metric:
    """One metric: its value in ``unit`` (None when it cannot be computed: ``detail`` says
    why), the formula it comes from, and its status band from settings."""

    key: str
    name: str
    value: float | None
    unit: str
    formula: str
    band: Band | None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "value": self.value, "unit": self.unit,
                "formula": self.formula, "band": self.band, "detail": self.detail}


@dataclass(frozen=True)
class Definition:
    key: str
    name: str
    unit: str
    formula: str


DEFINITIONS: dict[str, Definition] = {d.key: d for d in (
    Definition("availability", "Availability", "%",
               "time ready to serve (level ≥ minimum and temperature within ± tolerance of the "
               "setpoint) ÷ time covered by readings"),
    Definition("performance", "Performance", "%",
               "litres served ÷ (rated flow × time spent serving), at most 100 %"),
    Definition("quality", "Quality", "%",
               "draws whose every reading was within ± tolerance of the setpoint ÷ draws"),
    Definition("oee", "OEE", "%", "availability × performance × quality"),
    Definition("energy_per_litre", "Energy per litre", "kWh/L",
               "heater energy (Σ power × time) ÷ litres served (Σ flow × time)"),
    Definition("thermal_variation", "Thermal variation", "°C",
               "standard deviation of the temperature readings taken while serving"),
    Definition("non_productive", "Non-productive consumption", "%",
               "heater energy with no draw in the idle window before it ÷ all heater energy"),
    Definition("peak_flow_ratio", "Peak flow ratio", "×",
               "highest flow ÷ mean flow while serving"),
    Definition("mtba", "Mean time between anomalies", "h",
               "time covered by readings ÷ anomaly episodes that started in it"),
    Definition("recovery", "Time to recover", "min",
               "mean, over episodes that ended, of the time from the episode's start to the "
               "first reading in band at or after its end"),
)}


def classify(value: float | None, band: BandSettings) -> Band | None:
    """The status band of ``value`` (None for no value)."""
    if value is None or not np.isfinite(value):
        return None
    if band.higher_is_better:
        return "good" if value >= band.good else "warning" if value >= band.warning else "bad"
    return "good" if value <= band.good else "warning" if value <= band.warning else "bad"


def _metric(key: str, value: float | None, settings: MetricsSettings, detail: str = "",
            band: Band | None = None) -> Metric:
    definition = DEFINITIONS[key]
    if band is None and value is not None:
        band = classify(value, getattr(settings.bands, key))
    return Metric(key, definition.name, value, definition.unit, definition.formula, band, detail)


def not_applicable(key: str, why: str = NOT_APPLICABLE) -> Metric:
    definition = DEFINITIONS[key]
    return Metric(key, definition.name, None, definition.unit, definition.formula, None, why)


# -- the readings' time ---------------------------------------------------------------------


def _nanoseconds(index: pd.DatetimeIndex) -> np.ndarray:
    return pd.DatetimeIndex(index).as_unit("ns").asi8  # whatever resolution the index has


def durations_s(index: pd.DatetimeIndex, interval_s: float | None = None) -> np.ndarray:
    """Seconds each reading stands for: until the next reading, at most the typical spacing
    (``interval_s``, or the median spacing); the last reading stands for the typical spacing."""
    if len(index) == 0:
        return np.array([], dtype=float)
    seconds = _nanoseconds(index) / 1e9
    gaps = np.diff(seconds)
    typical = interval_s if interval_s is not None else (float(np.median(gaps)) if len(gaps) else 60.0)
    return np.minimum(np.append(gaps, typical), typical)


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype=float)


@dataclass(frozen=True)
class DispenserState:
    """The dispenser's readings classified once: what each reading says about its state."""

    seconds: np.ndarray  # time each reading stands for
    ready: np.ndarray  # level >= minimum and temperature in band
    in_spec: np.ndarray  # temperature in band
    serving: np.ndarray  # flow above the draw threshold

    @property
    def draws(self) -> list[np.ndarray]:
        """Each draw (a run of consecutive serving readings) as the positions of its readings."""
        positions = np.flatnonzero(self.serving)
        if not len(positions):
            return []
        return np.split(positions, np.flatnonzero(np.diff(positions) > 1) + 1)


def dispenser_state(frame: pd.DataFrame, parameters: dict[str, Any], settings: MetricsSettings,
                    interval_s: float | None = None) -> DispenserState:
    setpoint = float(parameters.get("setpoint_c", DEFAULT_SETPOINT_C))
    temperature = _column(frame, "temperature")
    in_spec = np.abs(temperature - setpoint) <= settings.temperature_tolerance_c
    ready = in_spec & (_column(frame, "level") >= settings.min_level)
    serving = _column(frame, "flow") > settings.draw_flow_l_per_min
    return DispenserState(durations_s(frame.index, interval_s), ready, in_spec, serving)


# -- the dispenser's metrics ----------------------------------------------------------------


def availability(state: DispenserState, settings: MetricsSettings) -> Metric:
    planned = state.seconds.sum()
    if planned == 0:
        return _metric("availability", None, settings, "no readings in this range")
    return _metric("availability", 100 * state.seconds[state.ready].sum() / planned, settings)


def litres(frame: pd.DataFrame, seconds: np.ndarray) -> float:
    """Litres served: Σ flow (L/min) × minutes."""
    return float((_column(frame, "flow") * seconds / 60).sum())


def heater_kwh(frame: pd.DataFrame, seconds: np.ndarray) -> np.ndarray:
    """Heater energy of each reading: power (kW) × hours."""
    return _column(frame, "power") * seconds / 3600


def performance(frame: pd.DataFrame, state: DispenserState, parameters: dict[str, Any],
                settings: MetricsSettings) -> Metric:
    serving_min = state.seconds[state.serving].sum() / 60
    if serving_min == 0:
        return _metric("performance", None, settings, "no water drawn in this range")
    rated = float(parameters.get("flow_l_per_min") or settings.rated_flow_l_per_min)
    value = min(1.0, litres(frame, state.seconds) / (rated * serving_min))
    return _metric("performance", 100 * value, settings, f"rated flow {rated:g} L/min")


def quality(state: DispenserState, settings: MetricsSettings) -> Metric:
    draws = state.draws
    if not draws:
        return _metric("quality", None, settings, "no water drawn in this range")
    good = sum(bool(state.in_spec[d].all()) for d in draws)
    return _metric("quality", 100 * good / len(draws), settings, f"{good} of {len(draws)} draws in spec")


def oee(a: Metric, p: Metric, q: Metric, settings: MetricsSettings) -> Metric:
    if a.value is None or p.value is None or q.value is None:
        missing = next(m for m in (a, p, q) if m.value is None)
        return _metric("oee", None, settings, f"{missing.name.lower()}: {missing.detail}")
    return _metric("oee", a.value * p.value * q.value / 10_000, settings)


def energy_per_litre(frame: pd.DataFrame, state: DispenserState, settings: MetricsSettings) -> Metric:
    served = litres(frame, state.seconds)
    if served == 0:
        return _metric("energy_per_litre", None, settings, "no water drawn in this range")
    energy = float(heater_kwh(frame, state.seconds).sum())
    return _metric("energy_per_litre", energy / served, settings, f"{energy:.3g} kWh for {served:.3g} L")


def thermal_variation(frame: pd.DataFrame, state: DispenserState, settings: MetricsSettings) -> Metric:
    served = _column(frame, "temperature")[state.serving]
    if not len(served):
        return _metric("thermal_variation", None, settings, "no water drawn in this range")
    return _metric("thermal_variation", float(np.std(served)), settings)  # population (ddof 0)


def non_productive(frame: pd.DataFrame, state: DispenserState, settings: MetricsSettings) -> Metric:
    energy = heater_kwh(frame, state.seconds)
    total = float(energy.sum())
    if total == 0:
        return _metric("non_productive", None, settings, "the heater used no energy in this range")
    seconds = _nanoseconds(frame.index) / 1e9
    # The time of the last serving reading at or before each reading (-inf before the first).
    last_draw = np.maximum.accumulate(np.where(state.serving, seconds, -np.inf))
    idle = seconds - last_draw >= settings.idle_after_minutes * 60
    return _metric("non_productive", 100 * float(energy[idle].sum()) / total, settings,
                   f"idle after {settings.idle_after_minutes:g} min without a draw")


def peak_flow_ratio(frame: pd.DataFrame, state: DispenserState, settings: MetricsSettings) -> Metric:
    flow = _column(frame, "flow")
    if not state.serving.any():
        return _metric("peak_flow_ratio", None, settings, "no water drawn in this range")
    served = flow[state.serving]
    mean = float((served * state.seconds[state.serving]).sum() / state.seconds[state.serving].sum())
    return _metric("peak_flow_ratio", float(served.max()) / mean, settings)


# -- anomaly episodes -----------------------------------------------------------------------


def _window(index: pd.DatetimeIndex, seconds: np.ndarray) -> tuple[pd.Timestamp, pd.Timestamp]:
    return index[0], index[-1] + pd.Timedelta(seconds=float(seconds[-1]))


def episodes_in(spans: Sequence[Span], index: pd.DatetimeIndex, seconds: np.ndarray) -> list[Span]:
    """The episodes that started within the readings' time."""
    if not len(index):
        return []
    first, end = _window(index, seconds)
    return [s for s in spans if first <= pd.Timestamp(s[0]) < end]


def mtba(index: pd.DatetimeIndex, seconds: np.ndarray, spans: Sequence[Span],
         settings: MetricsSettings) -> Metric:
    hours = float(seconds.sum()) / 3600
    if hours == 0:
        return _metric("mtba", None, settings, "no readings in this range")
    count = len(episodes_in(spans, index, seconds))
    if count == 0:
        return _metric("mtba", None, settings, f"no anomaly in {hours:.3g} h", band="good")
    return _metric("mtba", hours / count, settings, f"{count} episode{'s' * (count != 1)} in {hours:.3g} h")


def recovery(index: pd.DatetimeIndex, seconds: np.ndarray, in_band: np.ndarray,
             spans: Sequence[Span], settings: MetricsSettings) -> Metric:
    found = episodes_in(spans, index, seconds)
    if not found:
        return _metric("recovery", None, settings, "no anomaly in this range")
    times = _nanoseconds(index)
    waits, open_ = [], 0
    for start, end in found:
        if end is None:
            open_ += 1
            continue
        after = np.flatnonzero((times >= pd.Timestamp(end).value) & in_band)
        if not len(after):
            open_ += 1
            continue
        waits.append((times[after[0]] - pd.Timestamp(start).value) / 60e9)
    note = f"{open_} not back in band yet" if open_ else f"{len(waits)} episode{'s' * (len(waits) != 1)}"
    if not waits:
        return _metric("recovery", None, settings, note)
    return _metric("recovery", float(np.mean(waits)), settings, note)


def sensors_in_range(frame: pd.DataFrame, asset_type: str) -> np.ndarray:
    """Readings at which every sensor of the frame is within its normal range."""
    kind = ASSET_TYPES[asset_type]
    ok = np.ones(len(frame), dtype=bool)
    for spec in kind.sensors:
        if spec.name not in frame:
            continue
        values = _column(frame, spec.name)
        if spec.normal_min is not None:
            ok &= values >= spec.normal_min
        if spec.normal_max is not None:
            ok &= values <= spec.normal_max
    return ok


# -- all of them ----------------------------------------------------------------------------

DISPENSER_KEYS = ("availability", "performance", "quality", "oee", "energy_per_litre",
                  "thermal_variation", "non_productive", "peak_flow_ratio")
DISPENSER_SENSORS = ("temperature", "level", "flow", "power")


def dispenser_metrics(frame: pd.DataFrame, parameters: dict[str, Any], spans: Sequence[Span],
                      settings: MetricsSettings, interval_s: float | None = None) -> list[Metric]:
    """Every metric of a water dispenser over ``frame``."""
    frame = frame.dropna(subset=list(DISPENSER_SENSORS))
    state = dispenser_state(frame, parameters, settings, interval_s)
    a = availability(state, settings)
    p = performance(frame, state, parameters, settings)
    q = quality(state, settings)
    return [
        a, p, q, oee(a, p, q, settings),
        energy_per_litre(frame, state, settings),
        thermal_variation(frame, state, settings),
        non_productive(frame, state, settings),
        peak_flow_ratio(frame, state, settings),
        mtba(frame.index, state.seconds, spans, settings),
        recovery(frame.index, state.seconds, state.ready, spans, settings),
    ]


def generic_metrics(asset_type: str, frame: pd.DataFrame, spans: Sequence[Span],
                    settings: MetricsSettings, interval_s: float | None = None) -> list[Metric]:
    """An asset type without dispenser physics: the episode metrics, the rest not applicable."""
    frame = frame.dropna(how="all")
    seconds = durations_s(frame.index, interval_s)
    why = f"{NOT_APPLICABLE} to a {ASSET_TYPES[asset_type].label.lower()}"
    return [*(not_applicable(key, why) for key in DISPENSER_KEYS),
            mtba(frame.index, seconds, spans, settings),
            recovery(frame.index, seconds, sensors_in_range(frame, asset_type), spans, settings)]


def compute(asset_type: str, frame: pd.DataFrame, parameters: dict[str, Any], spans: Sequence[Span],
            settings: MetricsSettings, interval_s: float | None = None) -> list[Metric]:
    """Every metric of an asset of ``asset_type`` over ``frame`` (see docs/metrics.md)."""
    if asset_type != "water_dispenser":
        return generic_metrics(asset_type, frame, spans, settings, interval_s)
    missing = [name for name in DISPENSER_SENSORS if name not in frame.columns]
    if missing:
        why = f"needs readings of the dispenser's {', '.join(missing)}"
        seconds = durations_s(frame.index, interval_s)
        return [*(not_applicable(key, why) for key in DISPENSER_KEYS),
                mtba(frame.index, seconds, spans, settings), not_applicable("recovery", why)]
    return dispenser_metrics(frame, parameters, spans, settings, interval_s)


def by_key(metrics: Sequence[Metric]) -> dict[str, Metric]:
    return {m.key: m for m in metrics}
