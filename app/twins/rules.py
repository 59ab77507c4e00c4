"""Anomaly rules: what an asset type checks its sensors for (its ``anomaly_rules``).

A rule names the sensors it reads and the kind of check; the *values* it checks against come
from the settings (``anomaly.static[asset type][sensor]`` for static limits, ``anomaly.*`` for
the adaptive and stuck-sensor checks), so a site can tune them without a code change. A rule
whose limit is not in the settings, or whose sensor the frame lacks, checks nothing.

:meth:`check` marks each reading that breaks the rule (a boolean series on the frame's index)
and says how long a run of marked readings must last to count; :mod:`app.anomalies` turns the
runs into episodes, classifies them and writes the alert text. Each rule's ``describe`` says
what happened in an episode in plain words, e.g. "Outlet flow 12 % below inlet flow for 25
minutes".

The rules:

* :class:`Threshold` - a static limit: above ``high``, below ``low``, or further than
  ``setpoint_band`` from the asset's setpoint parameter; optionally only when broken for
  ``for_minutes``.
* :class:`AtMostFor` - at or below ``at_most`` for ``for_minutes`` or longer (a flow that has
  stopped).
* :class:`Imbalance` - the downstream flow short of the upstream flow by more than the fraction
  ``imbalance``, over ``for_minutes`` (what goes in does not come out: a leak).
* :class:`Balance` - a store (a tank's level) losing more than its meters account for, by the
  mass balance, over ``for_minutes`` (water leaving through no meter: a leak).
* :class:`Expected` - a reading further than ``deviation`` from what the type's physics expects
  of it given the other sensors (a sealed boiler's pressure below what its temperature gives).
* :class:`FlatLine` - the reading exactly unchanged for ``anomaly.flat_minutes`` (and at least
  :data:`FLAT_READINGS` readings): a live
  measurement always carries some noise, a stuck sensor repeats its last value.
* :class:`Spike` - the adaptive check: a rolling z-score against the ``anomaly.zscore_window``
  readings before beyond ``anomaly.zscore_threshold`` (or a reading outside what the sensor
  can read), back within ``anomaly.spike_max_minutes``.
* :class:`Drift` - the model-based check every sensor gets: the sensor against what the other
  sensors, the physics and the time of day say it should read (:mod:`app.expectations`),
  watched by a CUSUM (:mod:`app.changes`); a departure that grows from nothing is a drift.
* :class:`Overuse` - what the asset uses (a sensor, or a calculation of its sensors) against
  what it is expected to use at that time, by a one-sided CUSUM: ``anomaly.residuals
  .overuse_ratio`` times it or more for ``overuse_minutes`` is overuse.

Where a check needs the type's physics (what a tank's level says its pressure must be, whether
a pressure drop puts a loss along a pipe or at a meter), the type module passes it in as a
plain function of the frame and the asset's parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from app import plain_text
from app.changes import Departure, cusum, threshold_for
from app.expectations import Expectation, Expectations, block_starts
from settings import AnomalySettings, SensorLimits

Severity = Literal["critical", "warning"]
Describe = Callable[[pd.DataFrame], str]


@dataclass(frozen=True)
class RuleContext:
    """What a rule checks a frame with: the asset's parameters, the anomaly settings, the
    static limits of its type, the sensors' units and normal ranges (min, max), and the
    frame's reading interval."""

    parameters: Mapping[str, Any]
    settings: AnomalySettings
    static: Mapping[str, SensorLimits]
    units: Mapping[str, str]
    normal: Mapping[str, tuple[float | None, float | None]]
    interval: pd.Timedelta
    #: what the twin expects of each sensor in this frame (the model-based rules read it)
    expectations: Expectations | None = None

    def limits(self, sensor: str) -> SensorLimits | None:
        return self.static.get(sensor)

    def readings(self, minutes: float) -> int:
        """How many readings span ``minutes`` at the frame's interval (at least 1)."""
        return max(1, int(round(pd.Timedelta(minutes=minutes) / self.interval)))


@dataclass(frozen=True)
class Check:
    """The readings a rule marks in a frame. A run of consecutive marked readings counts when
    it lasts at least ``min_minutes`` (and at most ``max_minutes``, if set); ``describe`` puts
    an episode's readings (the frame's rows from its first to its last marked reading) into
    words."""

    mask: pd.Series
    describe: Describe
    min_minutes: float = 0.0
    max_minutes: float | None = None
    #: the readings at which the rule raised the alarm (a CUSUM past its threshold), where it
    #: is not simply a run lasting ``min_minutes``
    alarms: pd.Series | None = None
    #: how far each reading departs, in standard deviations (a model-based rule's evidence)
    strength: pd.Series | None = None


class Rule(Protocol):
    """What every rule has: the kind of alert it raises (``kind``), the sensor the alert is on,
    the sensors it reads (``reads``: a sensor error on one of them explains its findings away),
    the severity of an alert, and :meth:`check`."""

    kind: str
    sensor: str
    severity: Severity

    @property
    def reads(self) -> tuple[str, ...]: ...

    def check(self, frame: pd.DataFrame, context: RuleContext) -> Check | None: ...


def label(sensor: str, unit: str = "") -> str:
    """``outlet_flow`` -> ``Outlet flow``; a last word that only spells ``unit`` is left out
    (``heat_input_kw`` in kW -> ``Heat input``)."""
    return plain_text.words(sensor, unit)


def number(value: float) -> str:
    """A reading as people write it: 3 significant figures, never an exponent."""
    return plain_text.number(value)


UNITLESS = plain_text.UNITLESS


def quantity(value: float, unit: str) -> str:
    """A value and its unit for a message, in the unit prefix that reads best (0.404 W, not
    4.04e-04 kW)."""
    return plain_text.quantity(value, unit)


def minutes_text(minutes: float) -> str:
    if minutes < 90:
        whole = max(1, round(minutes))
        return f"{whole} minute{'s' if whole != 1 else ''}"
    hours = minutes / 60
    return f"{hours:.1f} hours" if hours < 48 else f"{hours / 24:.1f} days"


def span_minutes(episode: pd.DataFrame, interval: pd.Timedelta) -> float:
    """How long an episode lasted: from its first reading to the end of its last one's interval."""
    return float((episode.index[-1] - episode.index[0] + interval) / pd.Timedelta(minutes=1))


@dataclass(frozen=True)
class Threshold:
    """A static limit on one sensor: ``bound`` "high" (above ``high``), "low" (below ``low``)
    or "setpoint" (further than ``setpoint_band`` from the parameter ``setpoint``).

    ``consumption`` marks a sensor that measures what the asset uses (power, fuel, water
    drawn): above its limit is overuse. ``drawn_by`` names the flow that explains a low level
    or a temperature below its setpoint (water drawn is replaced by cold water): low while
    nothing was drawn means water is leaving another way. For a temperature, ``refill`` names
    the parameters (inlet temperature, store litres) that say how much a litre drawn cools it,
    and ``heated_by`` the heater's power sensor: a store below its setpoint while its
    thermostat leaves the heater off is not cold, its thermometer reads low.
    """

    sensor: str
    bound: Literal["high", "low", "setpoint"]
    consumption: bool = False
    drawn_by: str | None = None
    setpoint: str = "setpoint_c"
    refill: tuple[str, str] | None = None
    heated_by: str | None = None
    severity: Severity = "warning"

    @property
    def kind(self) -> str:
        return {"high": "high", "low": "low", "setpoint": "off_setpoint"}[self.bound]

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(s for s in (self.sensor, self.drawn_by, self.heated_by) if s is not None)

    def check(self, frame: pd.DataFrame, context: RuleContext) -> Check | None:
        limits = context.limits(self.sensor)
        if self.sensor not in frame or limits is None:
            return None
        values = frame[self.sensor]
        unit = context.units.get(self.sensor, "")
        name = label(self.sensor)
        if self.bound == "high" and limits.high is not None:
            high = limits.high

            def above(episode: pd.DataFrame) -> str:
                return (f"{name} above {quantity(high, unit)} for "
                        f"{minutes_text(span_minutes(episode, context.interval))} "
                        f"(highest {quantity(episode[self.sensor].max(), unit)})")

            return Check(values > high, above, limits.for_minutes)
        if self.bound == "low" and limits.low is not None:
            low = limits.low

            def below(episode: pd.DataFrame) -> str:
                return (f"{name} below {quantity(low, unit)} for "
                        f"{minutes_text(span_minutes(episode, context.interval))} "
                        f"(lowest {quantity(episode[self.sensor].min(), unit)})")

            return Check(values < low, below, limits.for_minutes)
        if self.bound == "setpoint" and limits.setpoint_band is not None:
            if self.setpoint not in context.parameters:
                return None
            setpoint, band = float(context.parameters[self.setpoint]), limits.setpoint_band

            def off(episode: pd.DataFrame) -> str:
                worst = episode[self.sensor] - setpoint
                far = float(worst.loc[worst.abs().idxmax()]) if worst.notna().any() else 0.0
                side = "above" if far > 0 else "below"
                return (f"{name} more than {quantity(band, unit)} from the "
                        f"{quantity(setpoint, unit)} setpoint for "
                        f"{minutes_text(span_minutes(episode, context.interval))} "
                        f"(at worst {quantity(abs(far), unit)} {side})")

            return Check((values - setpoint).abs() > band, off, limits.for_minutes)
        return None


@dataclass(frozen=True)
class AtMostFor:
    """At or below ``at_most`` for ``for_minutes`` or longer (both from the settings)."""

    sensor: str
    severity: Severity = "warning"
    kind: str = "at_most"

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.sensor,)

    def check(self, frame: pd.DataFrame, context: RuleContext) -> Check | None:
        limits = context.limits(self.sensor)
        if self.sensor not in frame or limits is None or limits.at_most is None:
            return None
        at_most, unit = limits.at_most, context.units.get(self.sensor, "")

        def stopped(episode: pd.DataFrame) -> str:
            return (f"{label(self.sensor)} at most {quantity(at_most, unit)} for "
                    f"{minutes_text(span_minutes(episode, context.interval))}")

        return Check(frame[self.sensor] <= at_most, stopped, limits.for_minutes)


@dataclass(frozen=True)
class Imbalance:
    """``downstream`` short of ``upstream`` by more than the fraction ``imbalance`` (settings,
    under the downstream sensor) of the upstream flow, on ``for_minutes`` rolling medians:
    noise on two meters must not look like a leak, nor must one wild reading. Flows below
    ``min_flow`` (the fraction of a stopped flow means nothing) are not judged.

    ``explain(episode, parameters)``, from the type's physics, may tell a meter that reads
    wrong from a real loss: it returns (classification, reason), or None for a leak."""

    upstream: str
    downstream: str
    min_flow: float = 1e-6
    explain: Callable[[pd.DataFrame, Mapping[str, Any]], tuple[str, str] | None] | None = None
    severity: Severity = "warning"  # a leak is critical whatever the rule says
    kind: str = "imbalance"

    @property
    def sensor(self) -> str:
        return self.downstream

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.upstream, self.downstream)

    def check(self, frame: pd.DataFrame, context: RuleContext) -> Check | None:
        limits = context.limits(self.downstream)
        if (self.upstream not in frame or self.downstream not in frame or limits is None
                or limits.imbalance is None):
            return None
        window = context.readings(max(limits.for_minutes, 1.0))
        inflow = frame[self.upstream].rolling(window, min_periods=window).median()
        outflow = frame[self.downstream].rolling(window, min_periods=window).median()
        short = ((inflow - outflow) / inflow.where(inflow > self.min_flow)).fillna(0.0)
        # A median over the limit proves the loss lasted: its window's readings that are short
        # themselves are the episode (a median over-runs the loss by up to half a window).
        over = (short > limits.imbalance).astype(float)
        proven = over[::-1].rolling(window, min_periods=1).max()[::-1] > 0
        inlet, outlet = frame[self.upstream], frame[self.downstream]
        each = ((inlet - outlet) / inlet.where(inlet > self.min_flow)).fillna(0.0)
        marked = proven & (each > limits.imbalance)

        def leaking(episode: pd.DataFrame) -> str:
            lost = 1 - episode[self.downstream].sum() / max(episode[self.upstream].sum(), self.min_flow)
            return (f"{label(self.downstream)} {lost:.0%} below "
                    f"{label(self.upstream).lower()} for "
                    f"{minutes_text(span_minutes(episode, context.interval))}")

        return Check(marked, leaking)


#: The fewest equal readings in a row that count as a stuck sensor, whatever the cadence.
FLAT_READINGS = 4


@dataclass(frozen=True)
class FlatLine:
    """The reading exactly unchanged for ``anomaly.flat_minutes`` or longer. ``resting`` lists
    values a healthy sensor legitimately sits at (a flow of 0 while nothing is drawn), which
    are not judged."""

    sensor: str
    resting: tuple[float, ...] = ()
    severity: Severity = "warning"
    kind: str = "flat_line"

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.sensor,)

    def check(self, frame: pd.DataFrame, context: RuleContext) -> Check | None:
        if self.sensor not in frame:
            return None
        values = frame[self.sensor]
        same = values.diff().abs() <= 1e-12 * np.maximum(1.0, values.abs())
        # A run of n equal readings has n - 1 zero differences: mark its first reading too.
        flat = same | same.shift(-1, fill_value=False)
        for rest in self.resting:
            flat &= ~np.isclose(values, rest, rtol=0, atol=1e-12)
        unit = context.units.get(self.sensor, "")

        def stuck(episode: pd.DataFrame) -> str:
            return (f"{label(self.sensor)} stuck at {quantity(episode[self.sensor].iloc[-1], unit)} "
                    f"for {minutes_text(span_minutes(episode, context.interval))}")

        # At a slow cadence two equal readings are chance (half-hourly demand rounded to
        # 100 MW repeats itself): a stuck sensor must also repeat FLAT_READINGS readings.
        readings = FLAT_READINGS * context.interval / pd.Timedelta(minutes=1)
        return Check(flat, stuck, max(context.settings.flat_minutes, readings))


@dataclass(frozen=True)
class Spike:
    """The adaptive check, a rolling z-score: each reading against the mean and standard
    deviation of the ``anomaly.zscore_window`` readings before it. A reading beyond
    ``anomaly.zscore_threshold`` deviations, or outside what the sensor can physically read
    (``within``: bounds, each a number or the name of a parameter, e.g. the heater's rating),
    starts a run; the run is a spike when, after at most ``anomaly.spike_max_minutes``, the
    readings are back: within half the threshold of the baseline from before the run. A lasting
    change (a step, a refill, a heater switching on) is not a spike.

    ``floor`` is the smallest standard deviation the baseline is trusted with, as a fraction
    of the sensor's normal range (of the window's mean magnitude without one): a window of
    identical readings (a stopped flow) must not make the next small change a huge z-score."""

    sensor: str
    floor: float = 0.05
    within: tuple[float | str | None, float | str | None] = (None, None)
    severity: Severity = "warning"
    kind: str = "spike"

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.sensor,)

    def _bound(self, bound: float | str | None, context: RuleContext, default: float) -> float:
        if bound is None:
            return default
        return float(context.parameters[bound]) if isinstance(bound, str) else float(bound)

    def check(self, frame: pd.DataFrame, context: RuleContext) -> Check | None:
        if self.sensor not in frame:
            return None
        settings = context.settings
        values = frame[self.sensor].astype(float)
        window = settings.zscore_window
        past = values.shift(1).rolling(window, min_periods=window)
        mean, std = past.mean(), past.std()
        low, high = context.normal.get(self.sensor, (None, None))
        floor = (self.floor * (high - low) if low is not None and high is not None and high > low
                 else self.floor * mean.abs())
        scale = np.maximum(std, floor).where(lambda s: s > 0)
        least = self._bound(self.within[0], context, -np.inf)
        most = self._bound(self.within[1], context, np.inf)
        raw, base, spread = values.to_numpy(), mean.to_numpy(), scale.to_numpy()
        inside = (raw >= least) & (raw <= most)
        z = np.abs(raw - base) / spread
        positions = np.flatnonzero((z > settings.zscore_threshold) | ~inside)
        marked = np.zeros(len(raw), dtype=bool)
        longest = context.readings(settings.spike_max_minutes)
        resume = 0
        for first in positions:
            if first < resume:
                continue
            # Follow the run against the baseline from before it (the window's own statistics
            # are soon spoiled by the spike itself), for at most a window: a run not back by
            # then is a lasting change, and the readings it has put in the window are no base.
            centre, limit = base[first], settings.zscore_threshold * spread[first]
            known = bool(np.isfinite(centre) and np.isfinite(limit))

            def away(i: int) -> bool:
                return bool(not inside[i] or (known and abs(raw[i] - centre) > limit))

            def back(i: int) -> bool:
                return bool(inside[i] and (not known or abs(raw[i] - centre) <= limit / 2))

            last = first
            while last + 1 < len(raw) and last - first < window and away(last + 1):
                last += 1
            if last + 1 < len(raw) and back(last + 1) and last - first < longest:
                marked[first:last + 1] = True
            resume = last + 1
        unit = context.units.get(self.sensor, "")

        def jumped(episode: pd.DataFrame) -> str:
            start = int(values.index.get_indexer([episode.index[0]])[0])
            before = float(base[start])
            if not np.isfinite(before):  # no baseline yet: out of the sensor's range
                worst = float(episode[self.sensor].iloc[0])
                return (f"{label(self.sensor)} read {quantity(worst, unit)}, outside what it can "
                        f"read, and came back within "
                        f"{minutes_text(span_minutes(episode, context.interval))}")
            deviation = (episode[self.sensor] - before).abs()
            worst = float(episode[self.sensor].loc[deviation.idxmax()])
            sigmas = abs(worst - before) / spread[start]
            return (f"{label(self.sensor)} jumped to {quantity(worst, unit)}, "
                    f"{sigmas:.0f} standard deviations from its previous {window} readings "
                    f"(mean {quantity(before, unit)}), and came back within "
                    f"{minutes_text(span_minutes(episode, context.interval))}")

        return Check(pd.Series(marked, index=values.index), jumped, 0.0, settings.spike_max_minutes)


@dataclass(frozen=True)
class Balance:
    """A store against the meters that fill and empty it. By the mass balance
    A dh/dt = Q_in - Q_out, what the ``level`` lost beyond what ``inflow`` minus ``outflow``
    accounts for is leaving through no meter. The balance is drawn over ``for_minutes`` (the
    level as the median of a few readings at each end, the flows summed between them) and
    flagged when the loss is more than ``imbalance`` x the mean outflow. A = parameter
    ``volume`` / parameter ``height`` (m3 and m; flows in m3/h)."""

    level: str
    inflow: str
    outflow: str
    volume: str = "volume_m3"
    height: str = "height_m"
    severity: Severity = "warning"  # a leak is critical whatever the rule says
    kind: str = "imbalance"

    @property
    def sensor(self) -> str:
        return self.level

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.level, self.inflow, self.outflow)

    def check(self, frame: pd.DataFrame, context: RuleContext) -> Check | None:
        limits = context.limits(self.level)
        if (any(name not in frame for name in (self.level, self.inflow, self.outflow))
                or limits is None or limits.imbalance is None):
            return None
        try:
            area = float(context.parameters[self.volume]) / float(context.parameters[self.height])
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return None
        window = max(context.readings(max(limits.for_minutes, 5.0)), 7)
        ends = max(3, window // 6) | 1  # readings whose median is the level at each end
        between = window - ends  # readings from one end's middle to the other's
        hours = context.interval / pd.Timedelta(hours=1)
        level = frame[self.level].rolling(ends, min_periods=ends).median()
        stored = area * (level - level.shift(between))
        flowed = ((frame[self.inflow] - frame[self.outflow]) * hours).rolling(
            between, min_periods=between).sum().shift((ends - 1) // 2)
        loss = (flowed - stored) / (between * hours)  # m3/h gone through no meter
        outflow = frame[self.outflow].rolling(window, min_periods=window).mean().clip(lower=1e-9)
        proven = loss > limits.imbalance * outflow
        # A balance speaks for the middle of its window.
        marked = proven.shift(-(window // 2), fill_value=False).astype(bool)
        centred = loss.shift(-(window // 2))

        def losing(episode: pd.DataFrame) -> str:
            rate = float(centred.reindex(episode.index).mean())
            return (f"{label(self.level)} falling as if {quantity(rate, 'm³/h')} more left than "
                    f"{label(self.outflow).lower()} shows, for "
                    f"{minutes_text(span_minutes(episode, context.interval))}")

        # A loss seen for a few minutes is the balance's noise, not yet a leak.
        return Check(marked, losing, min_minutes=max(limits.for_minutes, 5.0) / 2)


@dataclass(frozen=True)
class Expected:
    """A reading against what the type's physics expects of it given the other sensors it
    ``uses`` (``model(frame, parameters)``; None when the physics does not apply to this asset):
    more than ``deviation`` below it (``bound="low"``), above it ("high") or either ("both")
    for ``for_minutes``. ``meaning`` is the class such a departure implies and ``because`` why,
    in words (a sealed boiler's pressure below what its temperature gives: "water is leaking
    out of the sealed system")."""

    sensor: str
    model: Callable[[pd.DataFrame, Mapping[str, Any]], pd.Series | None]
    uses: tuple[str, ...] = ()
    bound: Literal["low", "high", "both"] = "low"
    meaning: str = "other"
    because: str = "the physics of the asset cannot explain it"
    severity: Severity = "warning"
    kind: str = "deviation"

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.sensor, *self.uses)

    def check(self, frame: pd.DataFrame, context: RuleContext) -> Check | None:
        limits = context.limits(self.sensor)
        if (any(name not in frame for name in self.reads) or limits is None
                or limits.deviation is None):
            return None
        expected = self.model(frame, context.parameters)
        if expected is None:
            return None
        gap = frame[self.sensor] - expected
        low, high = gap < -limits.deviation, gap > limits.deviation
        marked = low if self.bound == "low" else high if self.bound == "high" else low | high
        unit = context.units.get(self.sensor, "")

        def departed(episode: pd.DataFrame) -> str:
            worst = gap.reindex(episode.index)
            far = float(worst.loc[worst.abs().idxmax()]) if worst.notna().any() else 0.0
            side = "below" if far < 0 else "above"
            return (f"{label(self.sensor)} up to {quantity(abs(far), unit)} {side} what the "
                    f"physics expects for "
                    f"{minutes_text(span_minutes(episode, context.interval))}")

        return Check(marked, departed, limits.for_minutes)


# -- model-based rules ----------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """One expectation's departures: the block residuals' CUSUM mapped back to readings."""

    expectation: Expectation
    threshold: float
    departures: list[Departure]
    blocks: np.ndarray  # each block's start, epoch ns
    rows: np.ndarray  # each reading's block position
    means: pd.Series  # each block's mean residual
    sigmas: pd.Series  # each block's spread

    def span(self, departure: Departure) -> np.ndarray:
        """The positions of the readings from the departure's change point to its last alarm."""
        return np.flatnonzero((self.rows >= departure.start) & (self.rows <= departure.end))

    def alarm(self, departure: Departure) -> int:
        """The position of the last reading of the block the departure first alarmed in."""
        return int(np.flatnonzero(self.rows <= departure.alarm)[-1])


def watch(expectation: Expectation, settings: AnomalySettings,
          directions: tuple[int, ...] = (1, -1)) -> Watched:
    """The CUSUM of an expectation's block-mean residuals in standard deviations."""
    model = settings.residuals
    block = pd.Timedelta(minutes=model.block_minutes)
    starts = block_starts(pd.DatetimeIndex(expectation.actual.index), block)
    frame = pd.DataFrame({"b": starts, "r": expectation.residual.to_numpy(),
                          "s": expectation.sigma.to_numpy()})
    grouped = frame.groupby("b", sort=True)
    means, spread = grouped["r"].mean(), grouped["s"].first()
    z = (means / spread).to_numpy()
    blocks = means.index.to_numpy()
    rows = np.searchsorted(blocks, starts)
    per_day = 1440.0 / model.block_minutes
    h = threshold_for(model.false_alarm_days * per_day, model.cusum_k)
    return Watched(expectation, h, cusum(z, model.cusum_k, h, directions), blocks, rows,
                   means.reset_index(drop=True), spread.reset_index(drop=True))


def _hours(index: pd.Index) -> np.ndarray:
    stamps = pd.DatetimeIndex(index).as_unit("ns").asi8
    return (stamps - stamps[0]) / 3.6e12


def _line(values: np.ndarray, hours: np.ndarray) -> tuple[float, float, float]:
    """Least-squares ``values = start + slope x hours``: (start, slope, squared error)."""
    good = np.isfinite(values)
    values, hours = values[good], hours[good]
    if len(values) < 3 or np.ptp(hours) == 0:
        return float(np.nanmean(values)) if len(values) else 0.0, 0.0, np.inf
    slope, start = np.polyfit(hours, values, 1)
    return float(start), float(slope), float(np.sum((values - start - slope * hours) ** 2))


#: A departure is a ramp only when a ramp fits it with at least this factor less error than a
#: step (the two look alike over a short, nearly straight stretch of a daily cycle).
SCALED_TOLERANCE = 1.25


#: Candidate onsets a departure's shape is fitted from (spread over its first 80 %).
ONSETS = 24


def grows(residual: np.ndarray, hours: np.ndarray, expected: np.ndarray | None = None,
          margin: float = 1.0) -> bool:
    """Whether a departure grows from nothing (a drift) rather than jumping (a step) or
    scaling what is expected (``expected`` given: the asset doing more, not a sensor).

    Both shapes are fitted by least squares, each from its best onset (the CUSUM's change
    point can come early, after a stretch of slightly high readings): a ramp ``a (t - onset)``
    after the onset, and a step ``c`` (or ``c x expected``) after it; nothing before it. It
    grows when the ramp fits better by ``margin`` (a drift check asks only that it fit better;
    the overuse check, before it calls a rise a drift, that it fit clearly better:
    :data:`SCALED_TOLERANCE`)."""
    good = np.isfinite(residual) & np.isfinite(hours)
    if expected is not None:
        good &= np.isfinite(expected)
    r, t = residual[good], hours[good]
    if len(r) < 3 or np.ptp(t) == 0:
        return False
    e = expected[good] if expected is not None else np.ones(len(r))
    ramp = step = float(np.sum(r ** 2))
    for onset in np.linspace(t[0], t[0] + 0.8 * (t[-1] - t[0]), ONSETS):
        after = t >= onset
        x = np.where(after, t - onset, 0.0)
        if float(x @ x) > 0:
            ramp = min(ramp, float(np.sum((r - (x @ r) / (x @ x) * x) ** 2)))
        y = np.where(after, e, 0.0)
        if float(y @ y) > 0:
            step = min(step, float(np.sum((r - (y @ r) / (y @ y) * y) ** 2)))
    return ramp * margin < step


def explained(consistent: Expectation | None, rows: np.ndarray, departure: np.ndarray) -> bool:
    """Whether the asset's other sensors account for a departure from the usual: the asset is
    somewhere its consistency model has not been (no expectation for most of it: an input
    beyond what the reference saw), or that model departs by less than half as much. Then a
    use that grows is the asset doing more, not its meter drifting."""
    if consistent is None:
        return False
    own = consistent.residual.to_numpy()[rows]
    if np.isnan(own).mean() >= 0.5:
        return True
    return float(np.nanmean(np.abs(own))) < 0.5 * float(np.nanmean(np.abs(departure)))


def _since(index: pd.Index) -> str:
    return f"{pd.Timestamp(index[0]):%d %b %H:%M} UTC"


#: A sensor that reads one exact value, or sits within :data:`SWITCH_RESOLUTION` of its normal
#: range of one of two values at least half that range apart, this share of the time or more is
#: intermittent (a flow at 0 while nothing is drawn; a heater off or at its rating).
RESTING_SHARE = 0.5
SWITCH_RESOLUTION = 0.005


def intermittent(values: pd.Series, normal: tuple[float | None, float | None] = (None, None)) -> bool:
    """Whether a sensor rests at a value or switches between two: on/off and random, no
    regression says what it should read from one minute to the next, so it gets no drift
    check (its flat lines, spikes and limits are still watched)."""
    finite = values[np.isfinite(values)]
    if len(finite) < 10:
        return False
    if float(finite.value_counts(normalize=True).iloc[0]) >= RESTING_SHARE:
        return True
    low, high = normal
    width = (high - low) if low is not None and high is not None and high > low else float(np.ptp(finite))
    if width <= 0:
        return True
    bins = (finite / (SWITCH_RESOLUTION * width)).round().value_counts(normalize=True)
    if len(bins) < 2:
        return True
    (first, second), share = bins.index[:2], float(bins.iloc[:2].sum())
    return share >= RESTING_SHARE and abs(first - second) * SWITCH_RESOLUTION >= 0.5


@dataclass(frozen=True)
class Drift:
    """The sensor departing, ever further, from what the twin expects of it: from the other
    sensors, the type's physics and the time of day (its *consistent* expectation). To be the
    sensor's own fault and not another's, its usual pattern (the time alone) must depart the
    same way at the same time, by a CUSUM of its own: a drifting flow meter misleads the
    expectation of the pressure drop too, but the pressure drop itself reads what it always
    reads."""

    sensor: str
    consumption: bool = False
    severity: Severity = "warning"
    kind: str = "drift"

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.sensor,)

    def check(self, frame: pd.DataFrame, context: RuleContext) -> Check | None:
        if (self.sensor not in frame or context.expectations is None
                or intermittent(frame[self.sensor], context.normal.get(self.sensor, (None, None)))):
            return None
        consistent = context.expectations.consistent(self.sensor)
        if consistent is None:
            return None
        usual = context.expectations.usual(self.sensor)
        watched = watch(consistent, context.settings)
        own = watch(usual, context.settings) if usual is not None and usual is not consistent else None
        residual = consistent.residual.to_numpy()
        low, high = context.normal.get(self.sensor, (None, None))
        least = (context.settings.residuals.min_drift_fraction * (high - low)
                 if low is not None and high is not None and high > low else 0.0)
        marked, alarms = np.zeros(len(frame), dtype=bool), np.zeros(len(frame), dtype=bool)
        for departure in watched.departures:
            rows = watched.span(departure)
            if len(rows) < 3:
                continue
            hours = _hours(frame.index[rows])
            scaled = consistent.expected.to_numpy()[rows] if self.consumption else None
            if not grows(residual[rows], hours, scaled):
                continue
            reached = np.abs(watched.means.to_numpy()[departure.start:departure.end + 1])
            if not np.isfinite(reached).any() or np.nanmax(reached) < least:
                continue  # its 10-minute means never moved 2 % of the range: no drift to act on
            raised = watched.alarm(departure)
            if own is not None:  # the sensor's own usual pattern must depart the same way
                same = [other for other in own.departures if other.direction == departure.direction
                        and len(np.intersect1d(own.span(other), rows))]
                if not same:
                    continue
                raised = max(raised, min(own.alarm(other) for other in same))
            marked[rows] = True
            alarms[min(raised, rows[-1])] = True
        unit = context.units.get(self.sensor, "")
        name = label(self.sensor)
        threshold = watched.threshold

        def drifted(episode: pd.DataFrame) -> str:
            part = consistent.residual.reindex(episode.index).to_numpy()
            start, slope, _ = _line(part, _hours(episode.index))
            tail = part[-max(1, len(part) // 10):]
            now = float(np.nanmean(tail)) if np.isfinite(tail).any() else 0.0
            side = "above" if now > 0 else "below"
            sigma = float(consistent.sigma.reindex(episode.index).median())
            ground = ("its usual pattern and the other sensors say" if consistent.inputs
                      else "its usual pattern says")
            return (f"{name} drifting: {quantity(abs(now), unit)} {side} what {ground} it "
                    f"should read, changing {quantity(abs(slope), unit)} an hour, since "
                    f"{_since(episode.index)} (the change point); its CUSUM passed "
                    f"{threshold:.1f} x its {quantity(sigma, unit)} spread")

        z = (watched.means / watched.sigmas).abs().to_numpy()[watched.rows]
        return Check(pd.Series(marked, index=frame.index), drifted,
                     alarms=pd.Series(alarms, index=frame.index), strength=pd.Series(z, index=frame.index))


@dataclass(frozen=True)
class Overuse:
    """What the asset uses (``quantity``: a sensor or one of the type's calculations; the alert
    is on ``sensor``) above what it is expected to use at that time of day and week, by a
    one-sided CUSUM; a departure counts when the asset used ``overuse_ratio`` times what was
    expected or more over it, for ``overuse_minutes`` or longer, and it does not grow from
    nothing unless the other sensors account for it (a meter that drifts alone is
    :class:`Drift`)."""

    quantity: str
    sensor: str
    severity: Severity = "warning"
    kind: str = "overuse"

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.sensor,)

    def check(self, frame: pd.DataFrame, context: RuleContext) -> Check | None:
        if context.expectations is None:
            return None
        usual = context.expectations.usual(self.quantity)
        if usual is None:
            return None
        settings = context.settings.residuals
        consistent = (context.expectations.consistent(self.quantity)
                      if self.quantity == self.sensor else None)
        watched = watch(usual, context.settings, directions=(1,))
        actual, expected = usual.actual.to_numpy(), usual.expected.to_numpy()
        marked, alarms = np.zeros(len(frame), dtype=bool), np.zeros(len(frame), dtype=bool)
        for departure in watched.departures:
            rows = watched.span(departure)
            if len(rows) < 2:
                continue
            minutes = span_minutes(frame.iloc[rows[[0, -1]]], context.interval)
            used, meant = float(np.nanmean(actual[rows])), float(np.nanmean(expected[rows]))
            if minutes < settings.overuse_minutes or not meant > 0 or used < settings.overuse_ratio * meant:
                continue
            more = actual[rows] - expected[rows]
            if (grows(more, _hours(frame.index[rows]), expected[rows], SCALED_TOLERANCE)
                    and not explained(consistent, rows, more)):
                continue
            marked[rows] = True
            # raised once it had lasted long enough, and the CUSUM had alarmed
            enough = rows[0] + max(0, int(np.searchsorted(
                _hours(frame.index[rows]) * 60.0, settings.overuse_minutes)) - 1)
            alarms[max(watched.alarm(departure), min(enough, rows[-1]))] = True
        unit = context.units.get(self.quantity, context.units.get(self.sensor, ""))
        name = label(self.quantity, unit)

        def used_more(episode: pd.DataFrame) -> str:
            used = float(usual.actual.reindex(episode.index).mean())
            meant = float(usual.expected.reindex(episode.index).mean())
            return (f"{name} {used / meant:.2g} x what the twin expects at this time of day for "
                    f"{minutes_text(span_minutes(episode, context.interval))} (on average "
                    f"{quantity(used, unit)} against {quantity(meant, unit)}), since "
                    f"{_since(episode.index)}")

        return Check(pd.Series(marked, index=frame.index), used_more, settings.overuse_minutes,
                     alarms=pd.Series(alarms, index=frame.index))


#: Every rule class, for documentation and tests.
RULES: tuple[type, ...] = (Threshold, AtMostFor, Imbalance, Balance, Expected, FlatLine, Spike,
                           Drift, Overuse)
