"""Fit, backtest and choose what forecasts a target: pure functions on a regular series, no
database (the service in :mod:`app.forecasting.service` stores and serves what they return).

Candidates are scikit-learn estimators in the direct strategy (one per horizon step, see
:mod:`app.forecasting.features`): a gradient-boosted tree ensemble and a ridge regression.
Baselines are always there: persistence (the last value), and seasonal naive (the same time a
day, and a week, before the forecast time) when the history holds them.

All of them are judged the same way, by a rolling-origin backtest at the horizons actually
served: the estimators are fitted on the history before the backtest period, then every step
of that period is an origin and each method forecasts ``1..H`` steps from it. The scores per
horizon (MAE, RMSE, MAPE with its floor, interval coverage) are what the Models page shows; a
model is served only if its mean MAE beats the best baseline's, otherwise the best baseline
serves.

Intervals are split-conformal *per horizon* and *locally scaled*: each backtest error at
horizon ``h`` is divided by how much the series was moving at its origin (the mean absolute
step change over the last :data:`SCALE_STEPS` steps), the conformal quantile of those ratios
is taken, and a served interval is that quantile times the movement at its own origin. A +1 h
forecast is less sure than a +10 min one, and a forecast made while demand ramps up, or while a
total grows fast, less sure than one made in a quiet hour: with one fixed width per horizon
the quiet hours were over-covered and the busy ones under-covered. Where movement does not
foretell error (a heater that switches on from a flat line, a total whose increments are noisy
however fast it grows), the scaled interval misleads; the other calibration takes the quantile
per part of the day instead (:data:`DAY_BLOCKS` blocks of the site's clock, when the backtest
holds :data:`MIN_BLOCK_ERRORS` errors in each): errors in the morning ramp are not those of
the night. Each method keeps whichever calibration covered closest to nominal in its backtest. The coverage shown is honest: quantiles from the first
half of the backtest, hits counted on the second half.

Neither skforecast (its out-of-sample residuals are pooled over steps, and it
needs a gap-free series) nor MAPIE (one-step time series methods) calibrates per horizon, so
the quantile is computed here; it is a few lines.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from app.forecasting.features import DAY, WEEK, Calendar, Layout, design, layout, origin_features

BASELINES = ("persistence", "seasonal_daily", "seasonal_weekly")
MODELS = ("gbm", "ridge")
#: OpenMP and BLAS threads a fit or forecast may use. One: the gradient-boosted trees' OpenMP
#: threads spin while they wait, and beside another busy process on this two-core machine one
#: 3,000-row fit took 90 s with two threads against 3 s with one (ridge's BLAS: 5.2 s against
#: 1.9 s for a year's backtest). Parallelism comes from the workers (Celery runs several tasks
#: at once), not from inside a fit.
THREADS = 1


def bounded_threads(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=THREADS):
            return function(*args, **kwargs)
    return bounded


class NotEnoughHistory(ValueError):
    """Too little usable history to fit and backtest; ``str()`` says how much there is."""


def estimator(kind: str) -> RegressorMixin:
    if kind == "gbm":
        return HistGradientBoostingRegressor(max_iter=200, learning_rate=0.08, max_leaf_nodes=31,
                                             min_samples_leaf=20, l2_regularization=1.0,
                                             early_stopping=False, random_state=0)
    if kind == "ridge":
        # A linear model extrapolates: given the level of a growing total it would carry the
        # level's trend into every forecast, so it sees only changes (trees keep the level,
        # which they cannot extrapolate, to know e.g. a temperature near its limit).
        return make_pipeline(ColumnTransformer([("changes", "passthrough", _without_level)]),
                             SimpleImputer(strategy="median", keep_empty_features=True),
                             StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    raise ValueError(f"unknown model {kind!r}")


def _without_level(frame: pd.DataFrame) -> list[str]:
    """The columns but the levels (the target's, and its input sensors'): changes only."""
    return [column for column in frame.columns
            if column != "level" and not (column.startswith("x_") and not column.endswith("_d1"))]


#: the steps over which an origin's movement (its local scale) is averaged
SCALE_STEPS = 6
#: parts of the day an unscaled interval is calibrated for separately, and the least errors
#: each part needs (else one quantile serves the whole day)
DAY_BLOCKS = 4
MIN_BLOCK_ERRORS = 20


def day_block(times: pd.DatetimeIndex, calendar: Calendar) -> np.ndarray:
    """The part of the site's day (0..DAY_BLOCKS-1) each time falls in."""
    return (times.tz_convert(calendar.tz).hour * DAY_BLOCKS // 24).to_numpy()


def _block_quantiles(ratio: np.ndarray, blocks: np.ndarray | None, coverage: float) -> list[float]:
    """One conformal quantile per part of the day, or the pooled one for every part when a part
    has too few errors."""
    pooled = conformal_half_width(ratio, coverage)
    if blocks is None:
        return [pooled] * DAY_BLOCKS
    counts = np.bincount(blocks, minlength=DAY_BLOCKS)
    if counts.min() < MIN_BLOCK_ERRORS:
        return [pooled] * DAY_BLOCKS
    return [conformal_half_width(ratio[blocks == b], coverage) for b in range(DAY_BLOCKS)]


def local_scale(values: np.ndarray, floor: float | None = None) -> tuple[np.ndarray, float]:
    """How much the series moves at each origin: the mean absolute step change over the last
    :data:`SCALE_STEPS` steps, never below ``floor`` (by default 10 % of its median, so a
    flat stretch does not make an interval of zero). Returns the scales and the floor."""
    moves = pd.Series(values).diff().abs().rolling(SCALE_STEPS, min_periods=2).mean().to_numpy()
    if floor is None:
        median = float(np.nanmedian(moves)) if np.isfinite(moves).any() else 0.0
        floor = max(0.1 * median, 1e-9 * max(float(np.nanmax(np.abs(values))), 1.0))
    return np.where(np.isfinite(moves), np.maximum(moves, floor), np.nan), floor


def conformal_half_width(errors: np.ndarray, coverage: float) -> float:
    """The split-conformal half-width: the ``ceil((n + 1) * coverage)``-th smallest absolute error."""
    errors = np.sort(np.abs(errors[np.isfinite(errors)]))
    if len(errors) == 0:
        return float("nan")
    k = math.ceil((len(errors) + 1) * coverage)
    return float(errors[min(k, len(errors)) - 1])


def mape_floor(actual: np.ndarray) -> float:
    """MAPE divides by max(|actual|, 10 % of the mean |actual|): a quantity passing through zero
    would otherwise give infinite percentages for tiny errors."""
    return max(0.1 * float(np.mean(np.abs(actual))), 1e-9) if len(actual) else 1e-9


@dataclass(frozen=True)
class Score:
    h: int
    n: int
    mae: float
    rmse: float
    mape: float
    coverage: float | None
    half_width: float  # the typical half-width: the median quantile at the median local scale
    #: of |error| / local scale, per part of the day; a served width is the one of its forecast
    #: time's part, times the scale at its origin
    quantiles: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"h": self.h, "n": self.n, "mae": self.mae, "rmse": self.rmse, "mape": self.mape,
                "coverage": self.coverage, "half_width": self.half_width, "quantiles": list(self.quantiles)}


def score_horizon(h: int, actual: np.ndarray, predicted: np.ndarray, coverage: float,
                  scale: np.ndarray | None = None, blocks: np.ndarray | None = None) -> Score:
    """Scores of one horizon over backtest origins in time order. The interval quantiles are of
    the errors divided by ``scale`` (each origin's local scale; 1 when not given), per part of
    the day of the forecast time when ``blocks`` is given; the coverage uses the quantiles of
    the first half and counts hits on the second half."""
    if len(actual) == 0:
        return Score(h=h, n=0, mae=float("nan"), rmse=float("nan"), mape=float("nan"), coverage=None,
                     half_width=float("nan"))
    scale = np.ones(len(actual)) if scale is None else scale
    error = predicted - actual
    ratio = np.abs(error) / scale
    half = len(error) // 2
    first = np.array(_block_quantiles(ratio[:half], None if blocks is None else blocks[:half], coverage))
    second = np.zeros(len(error) - half, dtype=int) if blocks is None else blocks[half:]
    hits = ratio[half:] <= first[second]
    quantiles = _block_quantiles(ratio, blocks, coverage)
    floor = mape_floor(actual)
    return Score(h=h, n=len(error), mae=float(np.mean(np.abs(error))),
                 rmse=float(np.sqrt(np.mean(error ** 2))),
                 mape=float(np.mean(np.abs(error) / np.maximum(np.abs(actual), floor))),
                 coverage=float(np.mean(hits)) if len(hits) else None,
                 half_width=float(np.median(quantiles)) * float(np.median(scale)), quantiles=tuple(quantiles))


@dataclass
class Method:
    """One way of forecasting the target and how it did in the backtest."""

    name: str
    kind: str  # model or baseline
    scores: list[Score]
    estimators: list[RegressorMixin] | None = None
    scaled: bool = True  # intervals sized by the origin's local scale (else one width per horizon)

    @property
    def mae(self) -> float:
        return float(np.mean([s.mae for s in self.scores]))

    @property
    def mape(self) -> float:
        return float(np.mean([s.mape for s in self.scores]))

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "mae": self.mae, "mape": self.mape,
                "intervals": "scaled" if self.scaled else "fixed",
                "horizons": [s.as_dict() for s in self.scores]}


@dataclass
class Selection:
    """The outcome of :func:`select`: every method's backtest and the one that serves."""

    shape: Layout
    calendar: Calendar
    methods: dict[str, Method]
    served: str
    best_baseline: str
    coverage: float
    train_from: pd.Timestamp
    train_to: pd.Timestamp
    rows: int
    backtest_from: pd.Timestamp
    timings_s: dict[str, float] = field(default_factory=dict)
    #: the models as fitted *before* the backtest period (not saved): a challenger is judged
    #: with these on data it has not seen
    backtest_estimators: dict[str, list[RegressorMixin]] = field(default_factory=dict)
    #: the least local scale an interval is sized by (see :func:`local_scale`)
    scale_floor: float = 0.0

    @property
    def served_method(self) -> Method:
        return self.methods[self.served]

    def quantiles(self) -> list[tuple[float, ...]]:
        return [s.quantiles for s in self.served_method.scores]

    def half_widths(self) -> list[float]:
        return [s.half_width for s in self.served_method.scores]

    def report(self) -> dict[str, Any]:
        """What the Models page and ``twin models list`` show: the served method, the baseline
        it was judged against, by how much it won, and every method's scores per horizon."""
        served, baseline = self.served_method, self.methods[self.best_baseline]
        return {
            "served": self.served, "served_kind": served.kind, "best_baseline": self.best_baseline,
            "improvement": 1 - served.mae / baseline.mae if baseline.mae > 0 else 0.0,
            "coverage_nominal": self.coverage, "layout": self.shape.as_dict(),
            "methods": {name: m.summary() for name, m in self.methods.items()},
            "timings_s": self.timings_s,
        }


def _calibrated(name: str, kind: str, predicted: list[np.ndarray], actual: list[np.ndarray],
                coverage: float, scale: np.ndarray, blocks: list[np.ndarray]) -> Method:
    """The method's scores with the interval calibration (scaled by the origin's movement, or
    per part of the day) whose honest backtest coverage is nearer nominal, on average over the
    horizons."""
    options = []
    for scaled in (True, False):
        scores = [score_horizon(h, actual[h - 1], p, coverage, scale if scaled else None,
                                None if scaled else blocks[h - 1])
                  for h, p in enumerate(predicted, start=1)]
        miss = np.mean([abs((s.coverage if s.coverage is not None else 0.0) - coverage) for s in scores])
        options.append((miss, not scaled, Method(name, kind, scores, scaled=scaled)))
    return min(options, key=lambda option: option[:2])[2]


def baseline_predictions(name: str, y: np.ndarray, shape: Layout, h: int) -> np.ndarray | None:
    """A baseline's forecasts of ``t + h`` from every origin ``t`` (NaN where it has none), or None
    when the grid has no such season."""
    s = pd.Series(y)
    if name == "persistence":
        return y.copy()
    season = DAY if name == "seasonal_daily" else WEEK
    if season % shape.step != timedelta(0):
        return None
    lag = season // shape.step
    if lag < h or len(y) <= lag:
        return None
    return s.shift(lag - h).to_numpy()


def _fit_rows(frame: pd.DataFrame, target: np.ndarray, rows: np.ndarray, kind: str) -> RegressorMixin:
    model = clone(estimator(kind))
    model.fit(frame[rows], target[rows])
    return model


@bounded_threads
def select(y: pd.Series, step: timedelta, horizon: int, *, coverage: float = 0.9,
           backtest_fraction: float = 0.25, min_rows: int = 200, calendar: Calendar | None = None,
           exog: pd.DataFrame | None = None, models: tuple[str, ...] = MODELS,
           max_fit_rows: int | None = None, refit: bool = False) -> Selection:
    """Backtest every candidate and baseline on ``y`` (a regular grid, see
    :func:`app.forecasting.features.regular`) at horizons ``1..horizon`` and choose what serves.
    The served model's estimators are then refitted on the whole history."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    calendar = calendar or Calendar()
    observed = y.dropna()
    if observed.empty:
        raise NotEnoughHistory("the target has no data")
    y = y.loc[observed.index[0]:observed.index[-1]]
    history = y.index[-1] - y.index[0]
    shape = layout(step, horizon, history.to_pytimedelta(), tuple(exog.columns) if exog is not None else ())
    values = y.to_numpy(dtype=float)
    n = len(values)
    start_bt = int(n * (1 - backtest_fraction))
    if int(np.isfinite(values[:start_bt]).sum()) < min_rows or np.isfinite(values[start_bt:]).sum() < 2 * horizon + 10:
        raise NotEnoughHistory(
            f"{int(np.isfinite(values).sum())} usable {int(step.total_seconds() // 60)}-minute points; "
            f"fitting and backtesting need at least {math.ceil(min_rows / (1 - backtest_fraction))}")
    base = origin_features(values, shape, None if exog is None else
                           {name: exog[name].reindex(y.index).to_numpy(dtype=float) for name in shape.exog})
    positions = np.arange(n)
    scale, scale_floor = local_scale(values)
    usable_origin = np.isfinite(values) & np.isfinite(scale) & (positions >= shape.history_steps)
    designs = [design(y, shape, calendar, h, None, base) for h in range(1, horizon + 1)]
    timings["features"] = time.perf_counter() - started

    # The common backtest origins: every method has a forecast and the actual is known.
    predictions: dict[str, list[np.ndarray]] = {}
    actual_by_h: list[np.ndarray] = []
    test_rows: list[np.ndarray] = []
    for h, (frame, target) in enumerate(designs, start=1):
        known = usable_origin & np.isfinite(target)
        rows = known & (positions >= start_bt) & (positions + h < n)
        for name in BASELINES:
            predicted = baseline_predictions(name, values, shape, h)
            if predicted is not None:
                rows &= np.isfinite(predicted) | (positions < start_bt)
        test_rows.append(rows)
    common = np.logical_and.reduce(test_rows)  # the same origins at every horizon
    if common.sum() < 20:
        raise NotEnoughHistory(f"only {int(common.sum())} backtest origins have every method's forecast")
    for h, (frame, target) in enumerate(designs, start=1):
        actual_by_h.append(values[common] + target[common])
        for name in BASELINES:
            predicted = baseline_predictions(name, values, shape, h)
            if predicted is not None:
                predictions.setdefault(name, []).append(predicted[common])

    fitted: dict[str, list[RegressorMixin]] = {}
    for kind in models:
        t0 = time.perf_counter()
        fitted[kind] = []
        for h, (frame, target) in enumerate(designs, start=1):
            train = usable_origin & np.isfinite(target) & (positions + h < start_bt)
            train = _thin(train, max_fit_rows)
            model = _fit_rows(frame, target, train, kind)
            fitted[kind].append(model)
            predictions.setdefault(kind, []).append(values[common] + model.predict(frame[common]))
        timings[f"backtest_{kind}"] = time.perf_counter() - t0

    blocks = [day_block(y.index[common] + pd.Timedelta(step) * h, calendar) for h in range(1, horizon + 1)]
    methods = {name: _calibrated(name, "model" if name in models else "baseline", per_h, actual_by_h,
                                 coverage, scale[common], blocks)
               for name, per_h in predictions.items()}
    baselines = [m for m in methods.values() if m.kind == "baseline"]
    best_baseline = min(baselines, key=lambda m: m.mae)
    contenders = [m for m in methods.values() if m.kind == "model"]
    best_model = min(contenders, key=lambda m: m.mae) if contenders else None
    served = best_model if best_model is not None and best_model.mae < best_baseline.mae else best_baseline
    if served.kind == "model" and not refit:
        # Serve exactly what was backtested: the intervals were calibrated on these estimators'
        # errors, and a refit on data with a fault in it would not be the model the scores describe.
        served.estimators = fitted[served.name]
    elif served.kind == "model":  # refit on the whole history, backtest period included
        t0 = time.perf_counter()
        served.estimators = [
            _fit_rows(frame, target, _thin(usable_origin & np.isfinite(target), max_fit_rows), served.name)
            for frame, target in designs]
        timings["refit"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    return Selection(shape=shape, calendar=calendar, methods=methods, served=served.name,
                     best_baseline=best_baseline.name, coverage=coverage, train_from=y.index[0],
                     train_to=y.index[-1], rows=int(np.isfinite(values).sum()),
                     backtest_from=y.index[start_bt], scale_floor=scale_floor,
                     timings_s={k: round(v, 3) for k, v in timings.items()}, backtest_estimators=fitted)


def _thin(rows: np.ndarray, max_rows: int | None) -> np.ndarray:
    """At most ``max_rows`` of the selected rows, the newest ones (a long history of a fast
    sensor is trimmed from the old end: recent behaviour matters most)."""
    if max_rows is None or rows.sum() <= max_rows:
        return rows
    keep = rows.copy()
    chosen = np.flatnonzero(rows)
    keep[chosen[:-max_rows]] = False
    return keep


@bounded_threads
def forecast(selection_or_bundle: Selection | dict[str, Any], y: pd.Series,
             exog: pd.DataFrame | None = None) -> pd.DataFrame:
    """The served forecast from the newest value of ``y`` (a regular grid ending at the origin):
    one row per horizon step with ``horizon``, ``value``, ``lower`` and ``upper``, indexed by
    the forecast time."""
    bundle = selection_or_bundle if isinstance(selection_or_bundle, dict) else bundle_of(selection_or_bundle)
    shape: Layout = bundle["layout"]
    observed = y.dropna()
    if observed.empty:
        raise NotEnoughHistory("no recent value to forecast from")
    y = y.loc[:observed.index[-1]]
    if shape.exog and (exog is None or not set(shape.exog) <= set(exog.columns)):
        raise NotEnoughHistory(f"the forecast needs the sensors it was fitted with: {', '.join(shape.exog)}")
    values = y.to_numpy(dtype=float)
    origin = len(values) - 1
    origin_scale = float(local_scale(values, bundle["scale_floor"])[0][origin]) if bundle["scaled"] else 1.0
    if not math.isfinite(origin_scale):
        raise NotEnoughHistory("too few recent values to size the forecast's interval")
    rows = []
    for h in range(1, shape.horizon + 1):
        if bundle["kind"] == "model":
            frame, _ = design(y, shape, bundle["calendar"], h, exog)
            change = float(bundle["estimators"][h - 1].predict(frame.iloc[[origin]])[0])
            value = values[origin] + change
        else:
            predicted = baseline_predictions(bundle["method"], values, shape, h)
            value = float(predicted[origin]) if predicted is not None else float("nan")
        if not math.isfinite(value):
            raise NotEnoughHistory(f"the {bundle['method']} forecast at +{h} needs history the target lacks")
        when = y.index[origin] + pd.Timedelta(shape.step) * h
        part = 0 if bundle["scaled"] else int(day_block(pd.DatetimeIndex([when]), bundle["calendar"])[0])
        width = bundle["quantiles"][h - 1][part] * origin_scale
        rows.append((when, h, value, value - width, value + width))
    return pd.DataFrame(rows, columns=["ts", "horizon", "value", "lower", "upper"]).set_index("ts")


def bundle_of(selection: Selection) -> dict[str, Any]:
    """What is saved with joblib for serving: the served method, its estimators (scikit-learn),
    its per-horizon half-widths, the layout and calendar, and the backtest report."""
    served = selection.served_method
    return {"kind": served.kind, "method": served.name, "estimators": served.estimators,
            "quantiles": selection.quantiles(), "scale_floor": selection.scale_floor, "scaled": served.scaled,
            "half_widths": selection.half_widths(), "layout": selection.shape,
            "calendar": selection.calendar, "coverage": selection.coverage,
            "report": selection.report()}


@bounded_threads
def evaluate(bundle: dict[str, Any], y: pd.Series, since: pd.Timestamp,
             estimators: list[RegressorMixin] | None = None, exog: pd.DataFrame | None = None) -> Method:
    """How ``bundle`` (or its method with other ``estimators``) forecasts ``y`` from every origin
    after ``since``, scored per horizon like the backtest."""
    shape: Layout = bundle["layout"]
    values = y.to_numpy(dtype=float)
    positions = np.arange(len(values))
    scale = local_scale(values, bundle["scale_floor"])[0]
    base = None
    scores = []
    for h in range(1, shape.horizon + 1):
        frame, target = design(y, shape, bundle["calendar"], h, exog, base)
        rows = (np.isfinite(values) & np.isfinite(target) & np.isfinite(scale) & (y.index > since)
                & (positions >= shape.history_steps))
        if not rows.any():
            predicted = np.array([])
        elif bundle["kind"] == "model":
            predicted = values[rows] + (estimators or bundle["estimators"])[h - 1].predict(frame[rows])
        else:
            full = baseline_predictions(bundle["method"], values, shape, h)
            rows &= np.isfinite(full) if full is not None else False
            predicted = full[rows] if full is not None else np.array([])
        scores.append(score_horizon(h, values[rows] + target[rows], predicted, bundle["coverage"],
                                    scale[rows] if bundle["scaled"] else None,
                                    None if bundle["scaled"] else day_block(y.index[rows] + pd.Timedelta(shape.step) * h,
                                                                            bundle["calendar"])))
    return Method(bundle["method"], bundle["kind"], scores)
