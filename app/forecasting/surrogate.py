"""Surrogate models (the seed's way): a calculation estimated from the asset's *concurrent*
sensor readings, e.g. a drivetrain's destruction rate from its torque, speed and oil
temperature. Useful where the calculation is costly, or its inputs are partly missing, and as a
check: an estimate far from the calculation says the asset no longer behaves as it did.

The candidates are the forecasting engine's estimators, fitted on the older part of the history
and scored on the newest part (time-ordered, never shuffled); the baseline is the training
mean, which a surrogate must beat to serve. The interval is split-conformal on the held-out
errors, and its coverage measured the same honest way as a forecast's (widths from the first
half of the held-out errors, hits counted on the second half).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from app.forecasting.engine import (
    Method,
    NotEnoughHistory,
    _fit_rows,
    _thin,
    bounded_threads,
    score_horizon,
)

#: the surrogate's baseline: the training mean, which a surrogate must beat to serve
BASELINE = "mean"


@bounded_threads
def select(y: pd.Series, sensors: pd.DataFrame, *, coverage: float = 0.9, backtest_fraction: float = 0.25,
           min_rows: int = 200, models: tuple[str, ...] = ("gbm", "ridge"),
           max_fit_rows: int | None = None) -> dict[str, Any]:
    """Fit and hold-out score each candidate estimating ``y`` from ``sensors`` at the same times
    (both on the same regular grid); returns the bundle to serve, its report included."""
    started = time.perf_counter()
    frame = sensors.reindex(y.index)
    usable = np.isfinite(y.to_numpy(dtype=float)) & frame.notna().any(axis=1).to_numpy()
    positions = np.flatnonzero(usable)
    if len(positions) < min_rows / (1 - backtest_fraction):
        raise NotEnoughHistory(f"{len(positions)} usable points where the target and its sensors are "
                               f"both known; a surrogate needs {int(min_rows / (1 - backtest_fraction))}")
    split = positions[int(len(positions) * (1 - backtest_fraction))]
    index = np.arange(len(y))
    train, test = usable & (index < split), usable & (index >= split)
    target = y.to_numpy(dtype=float)
    methods: dict[str, Method] = {}
    fitted = {}
    for kind in models:
        model = _fit_rows(frame, target, _thin(train, max_fit_rows), kind)
        predicted = model.predict(frame[test])
        methods[kind] = Method(kind, "model", [score_horizon(0, target[test], predicted, coverage)])
        fitted[kind] = model
    mean = float(np.mean(target[train]))
    methods[BASELINE] = Method(BASELINE, "baseline",
                             [score_horizon(0, target[test], np.full(test.sum(), mean), coverage)])
    best = min(methods.values(), key=lambda m: m.mae)
    estimators = None
    if best.kind == "model":  # refit on everything, the held-out part included
        estimators = [_fit_rows(frame, target, _thin(usable, max_fit_rows), best.name)]
    report = {
        "served": best.name, "served_kind": best.kind, "best_baseline": BASELINE,
        "improvement": 1 - best.mae / methods[BASELINE].mae if methods[BASELINE].mae > 0 else 0.0,
        "coverage_nominal": coverage, "sensors": list(sensors.columns),
        "methods": {name: m.summary() for name, m in methods.items()},
        "timings_s": {"total": round(time.perf_counter() - started, 3)},
    }
    return {"mode": "surrogate", "kind": best.kind, "method": best.name, "estimators": estimators,
            "mean": mean, "half_widths": [best.scores[0].quantiles[0]], "sensors": list(sensors.columns),
            "coverage": coverage, "report": report,
            "train_from": y.index[positions[0]], "train_to": y.index[positions[-1]], "rows": len(positions)}


@bounded_threads
def estimate(bundle: dict[str, Any], sensors: pd.DataFrame) -> pd.DataFrame:
    """Estimates (``value``, ``lower``, ``upper``, ``horizon`` 0) at each time of ``sensors`` where
    at least one of the surrogate's sensors is known."""
    frame = sensors.reindex(columns=bundle["sensors"])
    frame = frame[frame.notna().any(axis=1)]
    if frame.empty:
        return pd.DataFrame(columns=["horizon", "value", "lower", "upper"])
    if bundle["kind"] == "model":
        values = bundle["estimators"][0].predict(frame)
    else:
        values = np.full(len(frame), bundle["mean"])
    width = bundle["half_widths"][0]
    return pd.DataFrame({"horizon": 0, "value": values, "lower": values - width, "upper": values + width},
                        index=frame.index)
