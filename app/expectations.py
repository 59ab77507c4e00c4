"""What the twin expects each sensor of an asset to read, learnt from the asset's own history.

Two expectations of a quantity (a sensor, or a calculation that measures what the asset uses):

* **usual** - by the time alone: what it reads at this time of day, on a weekday or at a
  weekend. It is what the asset is expected to use; doing more than usual departs from it.
* **consistent** - the time, plus what the asset's other sensors read at the same moment (each,
  its square: a pressure drop goes with the square of a flow, and its mean over the hour
  before: a store cools with what was drawn from it a while ago), plus what the type's physics
  expects of it (:attr:`AssetType.expectations` and the models of its ``Expected`` rules:
  eps-NTU, Darcy-Weisbach, a sealed system's pressure). It is what the other sensors say the
  sensor should read. A sensor that drifts departs from it; the whole asset working harder
  does not, as every sensor moves together.

Each is a ridge regression (the closed form of scikit-learn's ``Ridge``) fitted per UTC day on
the ``reference_days`` before that day and used for that day alone, so the expectation follows
slow, healthy change (a season) and a day is judged by a model that has not seen it. The fit is
trimmed: fitted once, readings more than :data:`TRIM` robust standard deviations from it (the
faults in the reference) dropped, fitted again, up to three times. What the regression still
misses at each block of the day (weekdays and weekends apart: a flow clipped at zero, office
hours) is its median residual there over the reference, added back. A day with less than
``min_reference_days`` of history before it is not judged. The spread that residuals are
measured against is that of the reference's residuals, averaged over blocks of
``block_minutes`` (the CUSUM's unit) and taken robustly (1.4826 x the median absolute
deviation), never below ``min_sigma_fraction`` of the sensor's normal range.

What this cannot know: a fault that has lasted longer than the reference becomes "usual" once
it fills most of it (the alert it raised stays until someone looks), and calendar features are
in UTC, so a pattern kept in local time moves an hour at the clock change until a week has
passed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from app.calculations import Carry
from settings import ResidualSettings

#: Readings this many robust standard deviations from the first fit are left out of the second.
TRIM = 4.0
#: At most this many fits after the first, each leaving out what the one before put further
#: than :data:`TRIM` from it.
TRIM_ROUNDS = 3
#: The regression is fitted on at most about this many of the reference's readings, evenly
#: spaced (a week of minutes is 10,080; forty-odd coefficients need far fewer).
MAX_FIT_ROWS = 3000
#: How much larger a model's error is taken to be on a day it has not seen than on its
#: reference, until enough days it had not seen say (its early days).
UNSEEN = 1.3
#: The fewest reference days of a kind (weekdays, weekends) whose own daily shape is used.
SHAPE_DAYS = 3
#: The most autocorrelation the spread is inflated for (x4.4).
MAX_RHO = 0.9
#: How far beyond the reference's range of an input (a share of that range) the consistency
#: model is still trusted.
GUARD_MARGIN = 0.1
MAD_TO_SD = 1.4826
RIDGE_ALPHA = 1.0
DAY_NS = 86_400 * 10**9

#: expectation(frame, parameters) -> a sensor's expected series (or None: does not apply)
Physics = Callable[[pd.DataFrame, Mapping[str, Any]], "pd.Series | None"]


@dataclass(frozen=True)
class Expectation:
    """A quantity (``actual``) against what is expected of it, both on the frame's index;
    ``sigma`` is the spread of block-mean residuals in the reference each row was judged by
    (NaN where nothing is expected); ``inputs`` names what it is expected from."""

    name: str
    actual: pd.Series
    expected: pd.Series
    sigma: pd.Series
    inputs: tuple[str, ...]

    @property
    def residual(self) -> pd.Series:
        return self.actual - self.expected


def calendar(index: pd.DatetimeIndex, harmonics: int) -> np.ndarray:
    """Time-of-day harmonics, a weekend flag, and the harmonics again at weekends (UTC)."""
    stamps = pd.DatetimeIndex(index)
    day = np.asarray(stamps.hour * 3600 + stamps.minute * 60 + stamps.second, dtype=float) / 86_400.0
    weekend = np.asarray(stamps.day_of_week >= 5, dtype=float)
    columns = [weekend]
    for k in range(1, harmonics + 1):
        angle = 2.0 * np.pi * k * day
        wave = [np.sin(angle), np.cos(angle)]
        columns += wave + [weekend * w for w in wave]
    return np.column_stack(columns) if columns else np.empty((len(stamps), 0))


def _long_run(means: np.ndarray) -> float:
    """The spread that block means of residuals accumulate with: their robust standard
    deviation, inflated for their lag-one autocorrelation rho (an AR(1)'s long-run spread,
    sqrt((1 + rho) / (1 - rho))): a thermostat's cycles or a model's slow errors make
    neighbouring blocks alike, and a CUSUM would add them up as if they were news."""
    spread = _robust_sd(means)
    good = means[np.isfinite(means)]
    if not np.isfinite(spread) or len(good) < 10:
        return spread
    centred = np.clip(good - np.median(good), -4 * spread, 4 * spread)
    denominator = float(centred @ centred)
    rho = float(centred[1:] @ centred[:-1]) / denominator if denominator > 0 else 0.0
    rho = min(max(rho, 0.0), MAX_RHO)
    return spread * float(np.sqrt((1 + rho) / (1 - rho)))


def _robust_sd(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float("nan")
    spread = MAD_TO_SD * float(np.median(np.abs(values - np.median(values))))
    return spread if spread > 0 else float(np.std(values))


def _ridge(xs: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """(intercept, coefficients) of a ridge regression with an intercept: what
    ``sklearn.linear_model.Ridge(alpha=RIDGE_ALPHA)`` fits, solved in closed form. Written out
    because a twin fits thousands of these small ones (a model a sensor a day), and
    scikit-learn's checks on each call took longer than the solve."""
    centre, level = xs.mean(axis=0), float(y.mean())
    centred = xs - centre
    gram = centred.T @ centred + RIDGE_ALPHA * np.eye(xs.shape[1])
    coefficients = np.linalg.solve(gram, centred.T @ (y - level))
    return level - float(centre @ coefficients), coefficients


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray] | None:
    """A ridge fit on standardised inputs (the constant ones dropped), trimmed (see the
    module docstring): (intercept, coefficients, kept columns, their mean and scale)."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    keep = scale > 1e-12
    xs = (x[:, keep] - mean[keep]) / scale[keep]
    intercept, coefficients = _ridge(xs, y) if keep.any() else (float(y.mean()), np.empty(0))
    chosen = np.ones(len(y), dtype=bool)
    for _ in range(TRIM_ROUNDS):  # a fault that recurs pulls the first fit towards it
        residual = y - intercept - xs @ coefficients
        spread = _robust_sd(residual[chosen])
        if not (np.isfinite(spread) and spread > 0):
            break
        close = np.abs(residual) <= TRIM * spread
        if close.sum() < 10 or np.array_equal(close, chosen):
            break
        chosen = close
        intercept, coefficients = (_ridge(xs[chosen], y[chosen]) if keep.any()
                                   else (float(y[chosen].mean()), np.empty(0)))
    return intercept, coefficients, keep, np.vstack([mean[keep], scale[keep]])


def _predict(fitted: tuple[float, np.ndarray, np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    intercept, coefficients, keep, (mean, scale) = fitted
    return intercept + ((x[:, keep] - mean) / scale) @ coefficients


def block_starts(index: pd.DatetimeIndex, block: pd.Timedelta) -> np.ndarray:
    """Each reading's block (epoch ns of the block's start)."""
    stamps = pd.DatetimeIndex(index).as_unit("ns").asi8
    return stamps - stamps % block.value


def _block_means(values: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """The mean of ``values`` in each block (``blocks`` sorted), NaN for a block of NaNs."""
    if not len(values):
        return np.empty(0)
    _, position = np.unique(blocks, return_inverse=True)
    good = np.isfinite(values)
    counts = np.bincount(position[good], minlength=position.max() + 1)
    sums = np.bincount(position[good], weights=values[good], minlength=position.max() + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def _slots(stamps: np.ndarray, block: pd.Timedelta) -> tuple[np.ndarray, np.ndarray]:
    """Each time's block of the UTC day, and whether it falls at a weekend."""
    weekday = ((stamps // DAY_NS) + 3) % 7  # 1970-01-01 was a Thursday: Monday is 0
    return (stamps % DAY_NS) // block.value, weekday >= 5


def _shape(residual: np.ndarray, stamps: np.ndarray, block: pd.Timedelta) -> np.ndarray:
    """The median residual of each block of the day (weekdays and weekends apart: rows 0 and 1)
    over the reference: the daily shape the harmonics miss (a flow clipped at zero, office
    hours). NaN where the reference has no reading."""
    slots, weekend = _slots(stamps, block)
    table = np.full((2, -(-DAY_NS // block.value)), np.nan)
    days = pd.Series(stamps // DAY_NS).groupby(weekend).nunique()
    if days.min() < SHAPE_DAYS or len(days) < 2:  # too few days of a kind: one shape for all
        medians = pd.Series(residual).groupby(slots).median()
        table[:, medians.index.to_numpy(dtype=int)] = medians.to_numpy()
        return table
    medians = pd.Series(residual).groupby([weekend, slots]).median()
    for (w, slot), value in zip(medians.index, medians.to_numpy(), strict=True):
        table[int(w), int(slot)] = value
    return table


def _shape_at(shape: np.ndarray, stamps: np.ndarray, block: pd.Timedelta) -> np.ndarray:
    slots, weekend = _slots(stamps, block)
    own, other = shape[weekend.astype(int), slots], shape[1 - weekend.astype(int), slots]
    return np.where(np.isfinite(own), own, np.where(np.isfinite(other), other, 0.0))


def _outside(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rows of ``x`` with an input outside what the reference saw of it (its 0.1 % to 99.9 %
    quantiles, widened by a tenth of that span): a regression there would extrapolate."""
    if x.shape[1] == 0 or len(reference) == 0:
        return np.zeros(len(x), dtype=bool)
    low, high = np.quantile(reference, [0.001, 0.999], axis=0)
    margin = GUARD_MARGIN * (high - low)
    return ((x < low - margin) | (x > high + margin)).any(axis=1)


def fit_by_day(x: np.ndarray, y: np.ndarray, index: pd.DatetimeIndex, settings: ResidualSettings,
               interval: pd.Timedelta, floor: float,
               guarded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(expected, sigma) at each row of a sorted ``index``: each UTC day from a model fitted on
    the reference days before it (see the module docstring); NaN where none could be, and
    where an input among the ``guarded`` columns of ``x`` (the other sensors) is outside what
    the reference saw: the asset is somewhere its model has not been (overloaded, or an input
    sensor has drifted), and a drift of this sensor cannot be told there."""
    stamps = pd.DatetimeIndex(index).as_unit("ns").asi8
    expected = np.full(len(y), np.nan)
    sigma = np.full(len(y), np.nan)
    if len(y) == 0:
        return expected, sigma
    block = pd.Timedelta(minutes=settings.block_minutes)
    blocks = block_starts(index, block)
    reference = int(settings.reference_days * DAY_NS)
    least = 0.5 * settings.min_reference_days * DAY_NS / max(interval.value, 1)
    usable = np.isfinite(y) & np.isfinite(x).all(axis=1)
    unseen: list[tuple[int, np.ndarray]] = []  # each judged day's block residuals
    least_blocks = settings.min_reference_days * 1440.0 / settings.block_minutes
    first_day = stamps[0] - stamps[0] % DAY_NS
    for day in range(first_day, stamps[-1] + 1, DAY_NS):
        begin, end = np.searchsorted(stamps, [day, day + DAY_NS])
        if begin == end:
            continue
        ref_begin = int(np.searchsorted(stamps, day - reference))
        rows = np.arange(ref_begin, begin)[usable[ref_begin:begin]]
        weekend = bool(_slots(np.array([day]), block)[1][0])
        if not (_slots(stamps[rows], block)[1] == weekend).any():
            continue  # a weekend judged by weekdays alone (or the reverse) is not judged
        if len(rows) < least or stamps[begin - 1] - stamps[ref_begin] < (
                settings.min_reference_days * DAY_NS - 2 * interval.value):
            continue
        fitted = _fit(x[rows[::max(1, len(rows) // MAX_FIT_ROWS)]],
                      y[rows[::max(1, len(rows) // MAX_FIT_ROWS)]])
        if fitted is None:
            continue
        residual = y[rows] - _predict(fitted, x[rows])
        # The daily shape from the readings the fit kept: a fault that comes back at the
        # same time of day must not become part of the shape.
        first = _robust_sd(residual)
        kept = (np.abs(residual) <= TRIM * first) if np.isfinite(first) and first > 0 else np.ones(len(rows), bool)
        shape = _shape(residual[kept], stamps[rows][kept], block)
        residual = residual - _shape_at(shape, stamps[rows], block)
        spread = _long_run(_block_means(residual, blocks[rows]))
        # The fit has seen its reference, so its residuals there understate its error on a
        # day it has not seen: where the days before were judged too, their errors say.
        judged = [m for when, m in unseen if when >= day - reference]
        if sum(len(m) for m in judged) >= least_blocks:
            spread = max(spread, _long_run(np.concatenate(judged)))
        elif np.isfinite(spread):
            spread *= UNSEEN
        today = np.arange(begin, end)[usable[begin:end]]
        if not len(today):
            continue
        if guarded is not None and guarded.any():
            today = today[~_outside(x[today][:, guarded], x[rows][:, guarded])]
        expected[today] = _predict(fitted, x[today]) + _shape_at(shape, stamps[today], block)
        sigma[begin:end] = max(spread if np.isfinite(spread) else 0.0, floor)
        unseen.append((day, _block_means(y[today] - expected[today], blocks[today])))
    return expected, sigma


class Expectations:
    """The expectations of one frame's quantities, each computed once (rules share them).

    ``quantities`` are the uses the type measures with a calculation (its ``uses`` that are not
    sensors), computed by the type's ``calculate``; ``physics`` the physics expectations per
    sensor; ``normal`` each sensor's normal range (for the spread's floor)."""

    def __init__(self, frame: pd.DataFrame, settings: ResidualSettings, interval: pd.Timedelta,
                 sensors: tuple[str, ...], normal: Mapping[str, tuple[float | None, float | None]],
                 physics: Mapping[str, tuple[Physics, ...]] | None = None,
                 parameters: Mapping[str, Any] | None = None,
                 derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> None:
        self.frame = frame
        self.settings = settings
        self.interval = interval
        self.sensors = tuple(s for s in sensors if s in frame)
        self.normal = normal
        self.physics = physics or {}
        self.parameters = dict(parameters or {})
        self._derive = derive
        self._derived: pd.DataFrame | None = None
        self._calendar: np.ndarray | None = None
        self._cache: dict[tuple[str, str], Expectation | None] = {}

    def _time(self) -> np.ndarray:
        if self._calendar is None:
            self._calendar = calendar(pd.DatetimeIndex(self.frame.index), self.settings.harmonics)
        return self._calendar

    def _hour(self) -> int:
        return max(1, int(round(pd.Timedelta(hours=1) / self.interval)))

    def quantity(self, name: str) -> pd.Series | None:
        """A sensor's readings, or a calculation of them (the type's), on the frame's index."""
        if name in self.frame:
            return self.frame[name].astype(float)
        if self._derive is None:
            return None
        if self._derived is None:
            try:
                self._derived = self._derive(self.frame)
            except (KeyError, ValueError):
                self._derived = pd.DataFrame(index=self.frame.index)
        return self._derived[name].astype(float) if name in self._derived else None

    def _floor(self, name: str, values: pd.Series) -> float:
        low, high = self.normal.get(name, (None, None))
        if low is not None and high is not None and high > low:
            width = high - low
        else:
            finite = values[np.isfinite(values)]
            width = float(finite.abs().median()) if len(finite) else 0.0
        return max(self.settings.min_sigma_fraction * width, 1e-9)

    def _expect(self, name: str, x: np.ndarray, inputs: tuple[str, ...],
                guarded: np.ndarray | None = None) -> Expectation | None:
        actual = self.quantity(name)
        if actual is None or actual.notna().sum() == 0:
            return None
        expected, sigma = fit_by_day(x, actual.to_numpy(dtype=float), pd.DatetimeIndex(self.frame.index),
                                     self.settings, self.interval, self._floor(name, actual), guarded)
        if not np.isfinite(expected).any():
            return None
        index = self.frame.index
        return Expectation(name, actual, pd.Series(expected, index=index),
                           pd.Series(sigma, index=index), inputs)

    def usual(self, name: str) -> Expectation | None:
        """``name`` by the time of day and week alone."""
        key = ("usual", name)
        if key not in self._cache:
            self._cache[key] = self._expect(name, self._time(), ())
        return self._cache[key]

    def consistent(self, sensor: str) -> Expectation | None:
        """``sensor`` by the time, the asset's other sensors now, and the type's physics; the
        usual expectation when there is nothing else to go by."""
        key = ("consistent", sensor)
        if key in self._cache:
            return self._cache[key]
        columns, inputs = [self._time()], []
        for other in self.sensors:
            if other == sensor:
                continue
            series = self.frame[other].astype(float).ffill()
            values = series.to_numpy()
            # and what it read over the last hour: a store cools with what was drawn from it
            # a while ago, a boiler fires at what its water cooled to since
            recent = series.rolling(self._hour(), min_periods=1).mean().to_numpy()
            columns += [values[:, None], (values ** 2)[:, None], recent[:, None]]
            inputs.append(other)
        for model in self.physics.get(sensor, ()):
            try:
                predicted = model(self.frame, self.parameters)
            except (KeyError, ValueError, ZeroDivisionError):
                predicted = None
            if predicted is not None:
                columns.append(np.asarray(predicted, dtype=float)[:, None])
                inputs.append("physics")
        x = np.hstack(columns)
        guarded = np.zeros(x.shape[1], dtype=bool)
        guarded[self._time().shape[1]:] = True  # the other sensors and the physics
        result = (self._expect(sensor, x, tuple(inputs), guarded) if inputs
                  else self.usual(sensor))
        self._cache[key] = result
        return result


def derive_with(calculate: Callable[..., tuple[pd.DataFrame, Carry]],
                parameters: Mapping[str, Any]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A type's calculations of a frame, as :class:`Expectations` derives a use from them."""
    def derive(frame: pd.DataFrame) -> pd.DataFrame:
        built, _ = calculate(frame, Carry(), dict(parameters))
        return built
    return derive
