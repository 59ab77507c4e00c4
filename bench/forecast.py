"""Forecast benchmark: the product's served forecasts against naive baselines and a peer
(statsforecast) on real public series and on the simulated estate, and the time to train one
target on a year of 10-minute data.

Usage::

    .venv/bin/python bench/forecast.py [--series taylor,serf_east,simulated] [--test-days 14]
                                       [--year-days 365] [--exact-peer-seconds 45]
                                       [--threads N] [--quick]

Needs the ``bench`` extra (statsforecast, pmdarima, and pvanalytics for the second real
series). About 4 minutes on the 2-core VM; ``--quick`` is a smoke run
(six weeks of simulated data, no exact-peer check: its figures are not the targets').

The series (``bench/_forecast_series.py``), each put on the product's grid as the forecasting
service does (:func:`app.forecasting.features.regular`: bucket means labelled by the bucket's
end, gaps up to ``model.max_gap_steps`` steps interpolated), at the cadence the service would
forecast it (its reporting interval):

* ``taylor``: electricity demand of England and Wales, half-hourly, 12 weeks of 2000 (pmdarima);
* ``serf_east``: AC power of a PV array in Colorado, 15-minute, 15 weeks of 2016 (pvanalytics,
  measured data from NREL);
* ``simulated``: a boiler's water temperature from the product's simulator
  (:func:`app.generator.generate_chunks`, a reading a minute), 10-minute grid.

The protocol, the same for every method and series:

* The last ``--test-days`` (14) days are held out as the test period; a series spanning less
  than 4 times that holds out its last 15 % instead (the output says which). The product is
  trained once, as the daily training does: :func:`app.forecasting.engine.select` with the
  product's settings (``settings/settings.json``: candidates, coverage, backtest fraction,
  minimum rows, max fit rows; the site's clock and bank holidays) on the
  ``pipeline.training_days`` (91) days before the test period (all of it for the two real
  series, which are shorter).
* Every whole hour (UTC) of the test period whose next hour is known is a forecast origin. Each
  method forecasts ``1..H`` steps, ``H = pipeline.horizon_minutes / step`` (60 minutes; at least
  one step), from the data up to the origin:

  - the product: :func:`app.forecasting.engine.forecast` of the served bundle
    (:func:`app.forecasting.engine.bundle_of`) on the grid up to the origin (the last
    ``history_steps`` + a week + a day of it: the same forecast as from the whole history,
    checked at the first and the last origin);
  - persistence (the value at the origin), seasonal naive daily and weekly (the value a day or
    a week before the forecast time); the better of the two seasonal ones over the horizons is
    the "best naive";
  - the peer, statsforecast ``MSTL(season_length=[a day, a week in steps],
    trend_forecaster=AutoETS(model="ZZN"))`` (``AutoETS(season_length=a day)`` when the
    training part holds fewer than two weeks), fitted once on the same training part,
    intervals at ``level=[90]``. MSTL's own ``forward`` re-runs the whole decomposition on the
    new data at each call (2.5-27 s a call here: 15 minutes to 2.5 hours a series for its 335
    origins), and refitting is slower still, so each origin uses the fitted model's state
    instead: the fitted seasonal components continued as MSTL's ``predict`` continues them (the
    last season of each, repeated), and the fitted trend model's ``forward`` (statsforecast's
    AutoETS applied to the new seasonally adjusted data up to the origin, no refit) plus that
    seasonality (at the end of the training part this is exactly MSTL's ``predict``). As a
    check, the exact
    ``MSTL.forward`` is also run at origins drawn at random (seeded), as many as
    ``--exact-peer-seconds`` (45) allow per series, and the MAPEs and peer_ratio there are
    printed for both; a budget that covers every origin (``--series taylor
    --exact-peer-seconds 1200``: about 14 minutes) scores the exact forward as the peer.

* Scores per horizon step over all origins: MAPE with the product's floor (each error divided
  by max(|actual|, 10 % of the mean |actual| of the test period)) for every method; interval
  coverage for the product and the peer against the nominal 90 %. Per series:
  ``naive_ratio`` = product MAPE / best-naive MAPE, and ``peer_ratio`` = product MAPE / peer
  MAPE, each MAPE averaged over the horizon steps first; ``persistence_ratio`` likewise against
  persistence (reported, no target).

* Timing: :func:`app.forecasting.engine.select` of the simulated boiler's water temperature on
  ``--year-days`` (365) days of 1-minute readings on the 10-minute grid (52,560 points: the
  part before the simulated test period), with the product's settings and thread defaults:
  wall seconds, CPU seconds of this process (all threads), and the load average around it
  (others' work on the machine stretches the wall time).

Targets (the issue): per series naive_ratio <= 0.7, peer_ratio <= 1.5, product coverage within
5 points of 90 % at every horizon step; training + backtest of one target on a year of
10-minute data < 60 s. The simulated series' naive_ratio is printed but is no target (its
signal is a sine plus white noise: the seasonal naive is nearly optimal there).

Threads: the engine bounds its own OpenMP threads (``app.forecasting.engine.THREADS``: one);
BLAS keeps its default. ``--threads N`` also limits the forecasts part's OpenMP and BLAS threads
to N (default 0: as the product has them); the forecasts do not depend on it. The timing runs
as the product has them, then again with one OpenMP and one BLAS thread (reported, no target).
The tables go to stdout, progress to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _forecast_series import REAL, Source, simulated
from _support import loadavg, log, process_cpu_s, verdict

from app.forecasting.engine import Selection, bundle_of, forecast, select
from app.forecasting.features import regular
from settings import load_settings

SERIES = ("taylor", "serf_east", "simulated")
SEASONAL_NAIVES = ("seasonal_daily", "seasonal_weekly")
METHODS = ("product", "persistence", *SEASONAL_NAIVES, "peer")
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
#: a series spanning less than this many test periods holds out its last SHORT_SHARE instead
SPAN_IN_TEST_PERIODS = 4
SHORT_SHARE = 0.15
PEER_LEVEL = 90

NAIVE_RATIO_TARGET = 0.7
PEER_RATIO_TARGET = 1.5
COVERAGE_TOLERANCE = 0.05
TRAIN_YEAR_TARGET_S = 60.0
#: series whose naive_ratio is printed but is no target (the issue sets it for the real series)
REPORTED_ONLY = {"simulated": "the simulator's signal is a sine plus white noise, where the "
                              "seasonal naive is nearly optimal: no forecast can beat "
                              "1/sqrt(2) = 0.71"}


# -- the product's settings ------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    """What the forecasting service passes to ``select`` (its defaults, nothing tuned here)."""

    coverage: float
    backtest_fraction: float
    min_rows: int
    models: tuple[str, ...]
    max_fit_rows: int | None
    max_gap_steps: int
    horizon_minutes: int
    training_days: int

    @classmethod
    def from_settings(cls) -> Product:
        s = load_settings(environ={})
        return cls(coverage=s.model.interval_coverage, backtest_fraction=s.model.backtest_fraction,
                   min_rows=s.pipeline.min_training_rows, models=tuple(s.model.candidates),
                   max_fit_rows=s.model.max_fit_rows, max_gap_steps=s.model.max_gap_steps,
                   horizon_minutes=s.pipeline.horizon_minutes,
                   training_days=s.pipeline.training_days)

    def options(self) -> dict[str, Any]:
        return {"coverage": self.coverage, "backtest_fraction": self.backtest_fraction,
                "min_rows": self.min_rows, "models": self.models, "max_fit_rows": self.max_fit_rows}

    def horizon(self, step: timedelta) -> int:
        """As the service's ``horizon_steps``: whole steps of the horizon, at least one."""
        return max(1, self.horizon_minutes // int(step.total_seconds() // 60))

    def grid(self, source: Source) -> pd.Series:
        return regular(source.readings, source.step, source.step * self.max_gap_steps)


# -- the split ---------------------------------------------------------------------------------


@dataclass
class Split:
    grid: pd.Series
    step: timedelta
    horizon: int
    train: pd.Series
    test_start: pd.Timestamp  # the last time of the training part; the test period follows
    held_out: str
    origins: np.ndarray  # positions in grid
    floor: float  # the MAPE floor: 10 % of the mean |actual| of the test period
    skipped_origins: int = 0

    @property
    def train_offset(self) -> int:
        """The position of the training part's first value in the grid."""
        return int(self.grid.index.get_loc(self.train.index[0]))

    def steps(self, span: timedelta) -> int:
        return int(span // self.step)


def split(grid: pd.Series, step: timedelta, horizon: int, test_days: int,
          training_days: int) -> Split:
    span = grid.index[-1] - grid.index[0]
    if span >= pd.Timedelta(days=test_days * SPAN_IN_TEST_PERIODS):
        test_start = grid.index[-1] - pd.Timedelta(days=test_days)
        held_out = f"the last {test_days} days"
    else:
        n_test = max(horizon + 1, round(len(grid) * SHORT_SHARE))
        test_start = grid.index[-n_test - 1]
        held_out = (f"the last {SHORT_SHARE:.0%} ({n_test} steps, "
                    f"{(grid.index[-1] - test_start) / pd.Timedelta(days=1):.1f} days: the series "
                    f"spans less than {SPAN_IN_TEST_PERIODS} x {test_days} days)")
    train = grid[(grid.index <= test_start)
                 & (grid.index > test_start - pd.Timedelta(days=training_days))]
    index, values = grid.index, grid.to_numpy(dtype=float)
    positions = np.arange(len(grid))
    candidates = positions[(index > test_start) & (index.minute == 0) & (index.second == 0)
                           & (positions + horizon < len(grid))]
    usable = np.array([np.isfinite(values[p]) and np.isfinite(values[p + 1:p + horizon + 1]).all()
                       for p in candidates], dtype=bool)
    test = values[index > test_start]
    floor = 0.1 * float(np.nanmean(np.abs(test)))
    return Split(grid, step, horizon, train, test_start, held_out, candidates[usable], floor,
                 skipped_origins=int((~usable).sum()))


# -- the methods -------------------------------------------------------------------------------


@dataclass
class Forecasts:
    """Forecasts of one method at every origin (rows) and horizon step (columns)."""

    value: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


def naive_forecasts(s: Split) -> dict[str, Forecasts]:
    values = s.grid.to_numpy(dtype=float)
    h = np.arange(1, s.horizon + 1)
    o = s.origins[:, None]
    day, week = s.steps(DAY), s.steps(WEEK)
    return {"persistence": Forecasts(np.repeat(values[s.origins][:, None], s.horizon, axis=1)),
            "seasonal_daily": Forecasts(values[o + h - day]),
            "seasonal_weekly": Forecasts(values[o + h - week])}


COLUMNS = ("value", "lower", "upper")


def product_forecasts(s: Split, selection: Selection) -> tuple[Forecasts, dict[str, Any]]:
    """The served bundle's forecast from each origin, on the last ``keep`` steps up to it."""
    bundle = bundle_of(selection)
    keep = max(selection.shape.history_steps, s.steps(WEEK) + s.horizon + 1) + s.steps(DAY)
    n = len(s.origins)
    out = Forecasts(np.full((n, s.horizon), np.nan), np.full((n, s.horizon), np.nan),
                    np.full((n, s.horizon), np.nan))
    seconds = []
    for i, p in enumerate(s.origins):
        history = s.grid.iloc[max(0, p - keep + 1):p + 1]
        t0 = time.perf_counter()
        frame = forecast(bundle, history)
        seconds.append(time.perf_counter() - t0)
        out.value[i], out.lower[i], out.upper[i] = (frame[c].to_numpy() for c in COLUMNS)
    # The window gives the forecast the whole history gives (the features need history_steps).
    differences = []
    for i in (0, n - 1):
        full = forecast(bundle, s.grid.iloc[:s.origins[i] + 1])
        windowed = (out.value[i], out.lower[i], out.upper[i])
        differences += [float(np.max(np.abs(full[c].to_numpy() - w)))
                        for c, w in zip(COLUMNS, windowed, strict=True)]
    return out, {"history_kept_steps": keep, "window_vs_full_max_abs_diff": max(differences),
                 "forecast_p50_ms": round(1000 * float(np.median(seconds)), 1),
                 "forecast_max_ms": round(1000 * float(np.max(seconds)), 1)}


class Peer:
    """statsforecast fitted once on the training part, forecasting from new data at each origin
    (see the module docstring)."""

    def __init__(self, train: np.ndarray, day: int, week: int) -> None:
        from statsforecast.models import MSTL, AutoETS

        t0 = time.perf_counter()
        self.n_train = len(train)
        self.mstl = len(train) >= 2 * week  # STL needs two whole periods of each season
        if self.mstl:
            self.model = MSTL(season_length=[day, week],
                              trend_forecaster=AutoETS(model="ZZN")).fit(train)
            self.name = (f"MSTL(season_length=[{day}, {week}], "
                         "trend_forecaster=AutoETS(model='ZZN'))")
            self.ets = self.model.trend_forecaster.model_["method"]
        else:
            self.model = AutoETS(season_length=day).fit(train)
            self.name = f"AutoETS(season_length={day}) (training part shorter than two weeks)"
            self.ets = self.model.model_["method"]
        self.fit_s = time.perf_counter() - t0
        self._seasonal: np.ndarray | None = None

    def seasonal(self, n: int) -> np.ndarray:
        """The fitted seasonal components' sum at positions ``0..n-1`` from the training start,
        continued past it as MSTL's ``predict`` does (each component's last season repeated)."""
        if self._seasonal is None or len(self._seasonal) < n:
            components = self.model.model_
            total = np.zeros(max(n, self.n_train))
            ahead = np.arange(len(total) - self.n_train)
            for period in self.model.season_length:
                column = components[f"seasonal{period}"].to_numpy(dtype=float)
                total[:self.n_train] += column
                total[self.n_train:] += column[-period:][ahead % period]
            self._seasonal = total
        return self._seasonal[:n]

    def forward(self, history: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Forecasts of ``1..h`` steps after ``history`` (the grid from the training start up
        to the origin): mean, lower, upper."""
        if self.mstl:
            seasonal = self.seasonal(len(history) + h)
            result = self.model.trend_forecaster.forward(y=history - seasonal[:len(history)], h=h,
                                                         level=[PEER_LEVEL])
            ahead = seasonal[len(history):]
        else:
            result = self.model.forward(y=history, h=h, level=[PEER_LEVEL])
            ahead = np.zeros(h)
        return (result["mean"] + ahead, result[f"lo-{PEER_LEVEL}"] + ahead,
                result[f"hi-{PEER_LEVEL}"] + ahead)

    def exact(self, history: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """statsforecast's own ``forward`` of the fitted model (MSTL: the decomposition re-run)."""
        result = self.model.forward(y=history, h=h, level=[PEER_LEVEL])
        return result["mean"], result[f"lo-{PEER_LEVEL}"], result[f"hi-{PEER_LEVEL}"]


def peer_forecasts(s: Split, exact_seconds: float
                   ) -> tuple[Forecasts, tuple[np.ndarray, Forecasts] | None, dict[str, Any]]:
    """The peer's forecasts from the fitted state at every origin; and, as a check, the exact
    ``MSTL.forward`` at origins drawn at random (seeded: the same each run), as many as
    ``exact_seconds`` allow (those origins' positions in ``s.origins``, and the forecasts)."""
    filled = s.grid.interpolate(limit_direction="both")  # the peer takes no gaps
    values = filled.to_numpy(dtype=float)
    start = s.train_offset
    peer = Peer(values[start:start + len(s.train)], s.steps(DAY), s.steps(WEEK))
    n = len(s.origins)

    def empty(rows: int) -> Forecasts:
        return Forecasts(*(np.full((rows, s.horizon), np.nan) for _ in range(3)))

    out = empty(n)
    t0 = time.perf_counter()
    for i, p in enumerate(s.origins):
        out.value[i], out.lower[i], out.upper[i] = peer.forward(values[start:p + 1], s.horizon)
    info: dict[str, Any] = {"peer": peer.name, "peer_ets": peer.ets,
                            "peer_fit_s": round(peer.fit_s, 2),
                            "peer_forecasts_s": round(time.perf_counter() - t0, 2),
                            "peer_gaps_filled": int(s.grid.isna().sum()),
                            "peer_exact_origins": 0}
    if exact_seconds <= 0 or not n:
        return out, None, info
    order = np.random.default_rng(0).permutation(n)
    done: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    t0 = time.perf_counter()
    while len(done) < n and (not done or (time.perf_counter() - t0) * (len(done) + 1) / len(done)
                             <= exact_seconds):
        done.append(peer.exact(values[start:s.origins[order[len(done)]] + 1], s.horizon))
    per_call = (time.perf_counter() - t0) / len(done)
    exact = empty(len(done))
    for j, forecasts in enumerate(done):
        exact.value[j], exact.lower[j], exact.upper[j] = forecasts
    info.update({"peer_exact_origins": len(done), "peer_exact_s_per_call": round(per_call, 2),
                 "peer_exact_all_origins_estimate_s": round(per_call * n)})
    return out, (order[:len(done)], exact), info


# -- scores --------------------------------------------------------------------------------------


def actuals(s: Split) -> np.ndarray:
    values = s.grid.to_numpy(dtype=float)
    return values[s.origins[:, None] + np.arange(1, s.horizon + 1)]


def mape(predicted: np.ndarray, actual: np.ndarray, floor: float) -> np.ndarray:
    """Per horizon step (columns), with the product's floor."""
    return np.mean(np.abs(predicted - actual) / np.maximum(np.abs(actual), floor), axis=0)


def coverage(f: Forecasts, actual: np.ndarray) -> np.ndarray:
    return np.mean((actual >= f.lower) & (actual <= f.upper), axis=0)


@dataclass
class Result:
    name: str
    source: Source
    split: Split
    selection: Selection
    mape: dict[str, list[float]]
    coverage: dict[str, list[float]]
    info: dict[str, Any] = field(default_factory=dict)

    def mean_mape(self, method: str) -> float:
        return float(np.mean(self.mape[method]))

    @property
    def best_naive(self) -> str:
        return min(SEASONAL_NAIVES, key=self.mean_mape)

    def ratio(self, method: str) -> float:
        return self.mean_mape("product") / self.mean_mape(method)


def run_series(source: Source, product: Product, args: argparse.Namespace) -> Result:
    grid = product.grid(source)
    s = split(grid, source.step, product.horizon(source.step), args.test_days,
              product.training_days)
    log(f"{source.name}: {len(grid):,} points on a {int(source.step.total_seconds() // 60)}-minute "
        f"grid, training on {len(s.train):,}, {len(s.origins)} origins")
    limit = nullcontext()
    if args.threads:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(args.threads)
    with limit:
        t0 = time.perf_counter()
        selection = select(s.train, source.step, s.horizon, calendar=source.calendar,
                           **product.options())
        select_s = time.perf_counter() - t0
        log(f"  select {select_s:.1f} s: served {selection.served}; forecasting from each "
            "origin...")
        served, product_info = product_forecasts(s, selection)
    log(f"  peer: fitting statsforecast on {len(s.train):,} points...")
    peer, exact, peer_info = peer_forecasts(s, args.exact_peer_seconds)
    actual = actuals(s)
    peer_info["peer_forecasts"] = "fitted state"
    if exact is not None:
        picks, there = exact
        scores = {"exact": mape(there.value, actual[picks], s.floor),
                  "state": mape(peer.value[picks], actual[picks], s.floor),
                  "product": mape(served.value[picks], actual[picks], s.floor)}
        peer_info.update({f"peer_check_{k}_mape": v.tolist() for k, v in scores.items()})
        for k in ("exact", "state"):
            peer_info[f"peer_check_{k}_ratio"] = round(
                float(np.mean(scores["product"]) / np.mean(scores[k])), 4)
        if len(picks) == len(s.origins):  # the exact forward at every origin: it is the peer
            peer = Forecasts(*(np.empty_like(there.value) for _ in range(3)))
            peer.value[picks], peer.lower[picks], peer.upper[picks] = (
                there.value, there.lower, there.upper)
            peer_info["peer_forecasts"] = "exact MSTL.forward"
    forecasts = {"product": served, **naive_forecasts(s), "peer": peer}
    return Result(
        source.name, source, s, selection,
        mape={m: mape(forecasts[m].value, actual, s.floor).tolist() for m in METHODS},
        coverage={m: coverage(forecasts[m], actual).tolist() for m in ("product", "peer")},
        info={"select_s": round(select_s, 2), **product_info, **peer_info})


# -- timing --------------------------------------------------------------------------------------


def time_year(grid: pd.Series, source: Source, product: Product, threads: int | None = None
              ) -> dict[str, Any]:
    """``select`` of one target on the whole grid (a year): with the product's thread defaults,
    or with ``threads`` OpenMP and BLAS threads."""
    key = "train_year" if threads is None else f"train_year_{threads}thread"
    log(f"timing: select on {len(grid):,} points ({int(source.step.total_seconds() // 60)}-minute, "
        f"{(grid.index[-1] - grid.index[0]) / pd.Timedelta(days=1):.0f} days), "
        f"{'default threads' if threads is None else f'{threads} thread(s)'}...")
    limit = nullcontext()
    if threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(threads)
    load_before = loadavg()
    with limit:
        cpu0 = process_cpu_s()
        t0 = time.perf_counter()
        selection = select(grid, source.step, product.horizon(source.step),
                           calendar=source.calendar, **product.options())
        wall = time.perf_counter() - t0
        cpu1 = process_cpu_s()
    cpu = None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 2)
    figures = {f"{key}_s": round(wall, 2), f"{key}_cpu_s": cpu,
               f"{key}_points": int(grid.notna().sum()),
               f"{key}_served": selection.served,
               f"{key}_timings_s": selection.timings_s,
               f"{key}_loadavg_before": load_before, f"{key}_loadavg_after": loadavg()}
    log(f"  {wall:.1f} s (CPU {figures[f'{key}_cpu_s']} s), served {selection.served}")
    return figures


# -- report --------------------------------------------------------------------------------------


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def report_series(r: Result, product: Product) -> tuple[dict[str, Any], dict[str, str]]:
    s, src, H, info = r.split, r.source, r.split.horizon, r.info
    minutes = int(s.step.total_seconds() // 60)
    train_days = (s.train.index[-1] - s.train.index[0]) / pd.Timedelta(days=1)
    print()
    print(f"== {r.name}: {src.description} [{src.unit}]")
    print(f"   data: {src.origin}; {len(s.grid):,} points, {minutes}-minute grid, "
          f"{s.grid.index[0]:%Y-%m-%d %H:%M} .. {s.grid.index[-1]:%Y-%m-%d %H:%M} UTC; "
          f"site clock {src.calendar.tz}, holidays {src.calendar.country}-{src.calendar.subdiv}")
    print(f"   training: {len(s.train):,} points, {s.train.index[0]:%Y-%m-%d %H:%M} .. "
          f"{s.train.index[-1]:%Y-%m-%d %H:%M} ({train_days:.1f} days); held out: {s.held_out}")
    print(f"   {len(s.origins)} hourly origins (skipped {s.skipped_origins}), horizon {H} "
          f"step(s) = {H * minutes} min; MAPE floor {s.floor:.4g} {src.unit}")
    backtest = ", ".join(f"{name} {100 * m.mape:.2f}" for name, m in r.selection.methods.items())
    print(f"   product: served {r.selection.served}, select {info['select_s']} s (its backtest "
          f"MAPE %: {backtest}); forecast p50 {info['forecast_p50_ms']} ms; window vs whole "
          f"history max |diff| {info['window_vs_full_max_abs_diff']:.3g}")
    print(f"   peer: {info['peer']}, trend {info['peer_ets']}, fitted in {info['peer_fit_s']} s; "
          f"{len(s.origins)} forecasts from the fitted state in {info['peer_forecasts_s']} s; "
          f"scored: {info['peer_forecasts']}")
    if info.get("peer_exact_origins"):
        def joined(key: str) -> str:
            return "/".join(pct(x) for x in info[key])

        print(f"   peer check at {info['peer_exact_origins']} random origins: exact MSTL.forward "
              f"{info['peer_exact_s_per_call']} s a call (all origins: "
              f"~{info['peer_exact_all_origins_estimate_s']} s). MAPE % there: exact "
              f"{joined('peer_check_exact_mape')}, fitted state {joined('peer_check_state_mape')}, "
              f"product {joined('peer_check_product_mape')}; peer_ratio there "
              f"{info['peer_check_exact_ratio']:.3f} against the exact forward, "
              f"{info['peer_check_state_ratio']:.3f} against the fitted state")
    width = 30
    header = "".join(f"{f'h={h} ({h * minutes}m)':>12}" for h in range(1, H + 1))
    print(f"   {'MAPE %':<{width}}{header}{'mean':>10}")
    for m in METHODS:
        label = m + (" (best naive)" if m == r.best_naive else "")
        print(f"   {label:<{width}}" + "".join(f"{pct(x):>12}" for x in r.mape[m])
              + f"{pct(r.mean_mape(m)):>10}")
    print(f"   coverage % (nominal {product.coverage:.0%})")
    for m in ("product", "peer"):
        print(f"   {m:<{width}}" + "".join(f"{pct(x):>12}" for x in r.coverage[m]))
    naive_ratio, peer_ratio = r.ratio(r.best_naive), r.ratio("peer")
    worst = max(abs(c - product.coverage) for c in r.coverage["product"])
    checks = {
        f"{r.name}_naive_ratio": (
            naive_ratio <= NAIVE_RATIO_TARGET,
            f"naive_ratio {naive_ratio:.3f} (vs {r.best_naive}; target <= {NAIVE_RATIO_TARGET})"),
        f"{r.name}_peer_ratio": (
            peer_ratio <= PEER_RATIO_TARGET,
            f"peer_ratio {peer_ratio:.3f} (target <= {PEER_RATIO_TARGET})"),
        f"{r.name}_coverage": (
            worst <= COVERAGE_TOLERANCE + 1e-12,
            (f"coverage {'/'.join(pct(c) for c in r.coverage['product'])} % (target "
             f"{product.coverage:.0%} +- {COVERAGE_TOLERANCE * 100:.0f} points at every step)")),
    }
    verdicts, reported = {}, {}
    for key, (ok, line) in checks.items():
        if r.name in REPORTED_ONLY and key.endswith("_naive_ratio"):
            reported[f"{key}_verdict"] = verdict(ok)
            print(f"   {verdict(ok)}  {r.name} {line}: not a target here ({REPORTED_ONLY[r.name]})")
            continue
        verdicts[key] = verdict(ok)
        print(f"   {verdicts[key]}  {r.name} {line}")
    print(f"   (persistence_ratio {r.ratio('persistence'):.3f}, no target)")
    figures: dict[str, Any] = {
        f"{r.name}_source": src.origin, f"{r.name}_step_min": minutes,
        f"{r.name}_horizon_steps": H,
        f"{r.name}_points": len(s.grid), f"{r.name}_train_points": len(s.train),
        f"{r.name}_train_days": round(train_days, 2), f"{r.name}_held_out": s.held_out,
        f"{r.name}_origins": len(s.origins), f"{r.name}_mape_floor": s.floor,
        f"{r.name}_served": r.selection.served, f"{r.name}_best_naive": r.best_naive,
        f"{r.name}_naive_ratio": round(naive_ratio, 4),
        f"{r.name}_peer_ratio": round(peer_ratio, 4),
        f"{r.name}_persistence_ratio": round(r.ratio("persistence"), 4),
        f"{r.name}_mape": {m: [round(x, 5) for x in r.mape[m]] for m in METHODS},
    }
    for h in range(1, H + 1):
        figures[f"{r.name}_coverage_h{h}"] = round(r.coverage["product"][h - 1], 4)
        figures[f"{r.name}_peer_coverage_h{h}"] = round(r.coverage["peer"][h - 1], 4)
    figures.update(reported)
    figures.update({f"{r.name}_{k}": v for k, v in info.items()})
    figures[f"{r.name}_select_timings_s"] = r.selection.timings_s
    return figures, verdicts


def code_version() -> dict[str, str | None]:
    """The commit, and a hash of the forecasting code as it is on disk (it may be uncommitted)."""
    import app.forecasting.engine
    import app.forecasting.features

    digest = hashlib.sha256()
    for module in (app.forecasting.engine, app.forecasting.features):
        digest.update(Path(module.__file__).read_bytes())
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head = None
    return {"git_head": head, "forecasting_code_sha256": digest.hexdigest()[:12]}


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default=",".join(SERIES),
                        help=f"comma-separated, of {', '.join(SERIES)} (default: all)")
    parser.add_argument("--test-days", type=int, default=14, help="days held out at the end")
    parser.add_argument("--year-days", type=int, default=365,
                        help="days of simulated 1-minute readings the timing trains on")
    parser.add_argument("--exact-peer-seconds", type=float, default=45,
                        help="seconds a series for statsforecast's exact MSTL.forward at origins "
                             "drawn at random, as a check of the peer's forecasts (0: none)")
    parser.add_argument("--threads", type=int, default=0,
                        help="OpenMP and BLAS threads for the forecasts part (default 0: as the "
                             "product has them). The timing always runs as the product has them")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: the timing on 28 days, no exact-peer check")
    args = parser.parse_args(argv)
    args.series = [name.strip() for name in args.series.split(",") if name.strip()]
    unknown = sorted(set(args.series) - set(SERIES))
    if unknown:
        parser.error(f"unknown series {', '.join(unknown)} (choose from {', '.join(SERIES)})")
    if args.quick:
        args.year_days, args.exact_peer_seconds = 28, 0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    product = Product.from_settings()
    started = time.perf_counter()
    figures: dict[str, Any] = {
        "benchmark": "forecast", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "series": args.series, "test_days": args.test_days, "quick": args.quick,
        "product_settings": {**product.options(), "models": list(product.models),
                             "max_gap_steps": product.max_gap_steps,
                             "horizon_minutes": product.horizon_minutes,
                             "training_days": product.training_days},
        "threads": args.threads, "cpus": os.cpu_count(), "python": platform.python_version(),
        **{name.replace("-", "_"): package_version(name) for name in (
            "statsforecast", "pmdarima", "pvanalytics", "scikit-learn", "pandas", "numpy")},
        **code_version(), "loadavg_start": loadavg(),
    }
    print(f"forecast benchmark {figures['date']}: product settings {figures['product_settings']}; "
          f"statsforecast {figures['statsforecast']}, scikit-learn {figures['scikit_learn']}, "
          f"{os.cpu_count()} CPUs, load {figures['loadavg_start']}; code {figures['git_head']} "
          f"(forecasting code sha256 {figures['forecasting_code_sha256']})")

    # The timing first, in a process that has done nothing else yet.
    sim = simulated(args.year_days + args.test_days)
    sim_grid = product.grid(sim)
    year_end = sim_grid.index[-1] - pd.Timedelta(days=args.test_days)
    year = sim_grid[sim_grid.index <= year_end]
    timing = time_year(year, sim, product)
    # The same with one OpenMP and one BLAS thread (reported, no target): what threads cost.
    timing.update(time_year(year, sim, product, threads=1))
    figures.update(timing)

    results: list[Result] = []
    for name in args.series:
        source = sim if name == "simulated" else REAL[name]()
        results.append(run_series(source, product, args))

    verdicts: dict[str, str] = {}
    for r in results:
        found, checks = report_series(r, product)
        figures.update(found)
        verdicts.update(checks)
    print()
    ok = timing["train_year_s"] < TRAIN_YEAR_TARGET_S
    verdicts["train_year_s"] = verdict(ok)
    print(f"{verdicts['train_year_s']}  training + backtest (select) of one target on "
          f"{timing['train_year_points']:,} 10-minute points: {timing['train_year_s']} s wall, "
          f"{timing['train_year_cpu_s']} s CPU (target < {TRAIN_YEAR_TARGET_S:.0f} s); served "
          f"{timing['train_year_served']}; {timing['train_year_timings_s']}; load "
          f"{timing['train_year_loadavg_before']} -> {timing['train_year_loadavg_after']}")
    print(f"      the same with 1 thread (no target): {timing['train_year_1thread_s']} s wall, "
          f"{timing['train_year_1thread_cpu_s']} s CPU; {timing['train_year_1thread_timings_s']}; "
          f"load {timing['train_year_1thread_loadavg_before']} -> "
          f"{timing['train_year_1thread_loadavg_after']}")
    if args.quick:
        print(f"(--quick: {args.year_days} days, not the target's year)")
    figures["bench_s"] = round(time.perf_counter() - started, 1)
    figures["loadavg_end"] = loadavg()
    figures["targets"] = verdicts
    figures["pass"] = all(v == "PASS" for v in verdicts.values())
    print(f"bench {figures['bench_s']} s")
    print(json.dumps(figures, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
