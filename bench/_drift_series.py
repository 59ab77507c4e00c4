"""The real-data drift check of ``bench/anomalies.py``: a linear drift injected into a real
measured series, and what :func:`app.anomalies.detect` makes of it.

The series is ``taylor`` of ``bench/_forecast_series.py``: half-hourly electricity demand of
England and Wales, 5 June to 27 August 2000, in MW, as shipped by pmdarima
(``pmdarima.datasets.load_taylor``, read from the installed package, nothing downloaded). It
is the only installed real series that is sub-hourly and has a daily pattern; it is one
sensor, so the twin's consistency model has no other sensor to lean on (its expectation is
the time of day and the weekday alone).

It is wrapped as a generic asset (:func:`app.plant.twin.effective_type` on the ``generic``
type) with one sensor, ``demand``, whose normal range is the series' 1%-99% quantile span
widened by :data:`NORMAL_MARGIN` of that span each side (what an operator would set from a
look at the history); the sensor gets the checks every added sensor gets (flat line, spike,
its normal range as static limits) and the model-based drift check.

Each trial puts a drift on the sensor: from its start the reading departs linearly, ``rate``
x the 1%-99% span an hour, either way, for :data:`DRIFT_LENGTH`, then reads true again (the
sensor is fixed). Detection runs on the :data:`WINDOW` ending :data:`AFTER` after the drift's
start (so the model-based checks have a week of history before it), and the same window
without the drift counts the false alerts. A drift is found when a finding on its sensor
overlaps its window and was noticed after it began (the delay is to that ``noticed``); found
as drift when such a finding is of kind ``drift``. :func:`false_alerts` also counts the
findings on the whole series without any drift.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from app.anomalies import Finding, detect
from app.plant.twin import effective_type
from app.twins import AssetType, asset_type
from settings import AnomalySettings

DRIFT_LENGTH = timedelta(hours=6)
WINDOW = timedelta(days=12)
AFTER = timedelta(hours=12)
#: The earliest a drift starts: this much of the series before it.
HISTORY = timedelta(days=8)
NORMAL_MARGIN = 0.1
FILE = "pmdarima/datasets/taylor.py (load_taylor)"


@dataclass(frozen=True)
class RealSeries:
    name: str
    frame: pd.DataFrame  # UTC index, a column per sensor
    kind: AssetType
    spans: dict[str, float]  # each sensor's 1%-99% quantile span
    origin: str
    description: str


def taylor() -> RealSeries:
    from _forecast_series import taylor as source

    found = source()
    frame = found.readings.to_frame("demand").asfreq(found.step)  # already regular: a check
    frame = frame.interpolate(limit_area="inside")
    spans, sensors = {}, []
    for column in frame.columns:
        low, high = (float(v) for v in frame[column].quantile([0.01, 0.99]))
        spans[column] = high - low
        margin = NORMAL_MARGIN * (high - low)
        sensors.append(types.SimpleNamespace(name=column, unit=found.unit, normal_min=low - margin,
                                             normal_max=high + margin))
    kind = effective_type(asset_type("generic"), sensors)
    return RealSeries("taylor", frame, kind, spans, found.origin, found.description)


@dataclass
class Trial:
    sensor: str
    start: pd.Timestamp
    rate: float  # signed, in the sensor's unit an hour
    found_any: bool
    found_drift: bool
    delay_any_h: float | None
    delay_drift_h: float | None
    clean_findings: int
    clean_drift_findings: int
    window_days: float
    findings: list[str]


def _window(series: RealSeries, at: pd.Timestamp) -> pd.DataFrame:
    end = at + AFTER
    return series.frame.loc[max(series.frame.index[0], end - WINDOW):end].iloc[:-1]


def _delay(hits: list[Finding], at: pd.Timestamp) -> float | None:
    if not hits:
        return None
    first = min(pd.Timestamp(f.noticed or f.start) for f in hits)
    return max(0.0, (first - at) / pd.Timedelta(hours=1))


def trial(series: RealSeries, sensor: str, at: pd.Timestamp, rate: float,
          settings: AnomalySettings, clean: list[Finding] | None = None) -> tuple[Trial, list[Finding]]:
    """One drift of ``rate`` (unit an hour) on ``sensor`` from ``at``; ``clean``: the findings
    of the drift-free window when known already (the same window for another rate)."""
    window = _window(series, at)
    if clean is None:
        clean = detect(series.kind, {}, window, settings)
    drifted = window.copy()
    hours = (drifted.index - at) / pd.Timedelta(hours=1)
    inside = (drifted.index >= at) & (drifted.index < at + DRIFT_LENGTH)
    drifted.loc[inside, sensor] += rate * np.asarray(hours)[inside]
    findings = detect(series.kind, {}, drifted, settings)
    end = at + DRIFT_LENGTH
    # A finding the rule had noticed before the drift began is an alert the data raised anyway.
    hits = [f for f in findings if f.sensor == sensor and pd.Timestamp(f.start) < end
            and pd.Timestamp(f.end) >= at and pd.Timestamp(f.noticed or f.start) >= at]
    drifts = [f for f in hits if f.kind == "drift"]
    days = (window.index[-1] - window.index[0]) / pd.Timedelta(days=1)
    return Trial(sensor, at, rate, bool(hits), bool(drifts), _delay(hits, at), _delay(drifts, at),
                 len(clean), sum(f.kind == "drift" for f in clean), days,
                 [f"{f.kind}/{f.classification} {f.start:%d %b %H:%M}-{f.end:%H:%M}" for f in hits]), clean


def starts(series: RealSeries, count: int, seed: int) -> list[pd.Timestamp]:
    """``count`` drift starts spread evenly over the series after its first :data:`HISTORY`
    (and early enough for :data:`AFTER` of readings after them), each at a random time of day
    on the half hour."""
    rng = np.random.default_rng(seed)
    first = series.frame.index[0] + HISTORY
    last = series.frame.index[-1] - AFTER - timedelta(days=1)
    days = np.linspace(0, (last - first) / pd.Timedelta(days=1), count)
    return [(first + pd.Timedelta(days=float(np.floor(d))) + pd.Timedelta(minutes=30 * int(rng.integers(48))))
            for d in days]


def run(series: RealSeries, rates: list[float], count: int, seed: int,
        settings: AnomalySettings) -> dict[float, list[Trial]]:
    """For each rate (a share of the sensor's 1%-99% span an hour), ``count`` trials, the
    sensors taking turns, each drift upwards or downwards at random."""
    rng = np.random.default_rng(seed)
    sensors = list(series.frame.columns)
    out: dict[float, list[Trial]] = {rate: [] for rate in rates}
    for number, at in enumerate(starts(series, count, seed)):
        sensor = sensors[number % len(sensors)]
        sign = float(rng.choice([-1.0, 1.0]))
        clean = None
        for rate in rates:
            found, clean = trial(series, sensor, at, sign * rate * series.spans[sensor], settings, clean)
            out[rate].append(found)
    return out


def false_alerts(series: RealSeries, settings: AnomalySettings) -> tuple[list[Finding], float]:
    """The findings on the whole drift-free series, and the days the model-based checks judge
    (those after the first ``min_reference_days``)."""
    findings = detect(series.kind, {}, series.frame, settings)
    index = series.frame.index
    days = (index[-1] - index[0]) / pd.Timedelta(days=1) - settings.residuals.min_reference_days
    return findings, days
