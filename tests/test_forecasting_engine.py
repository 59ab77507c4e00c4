"""The forecasting engine on small data: lags in time, per-horizon intervals, the baselines
always there and serving when a model loses, and a growing total followed. No database."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from app.forecasting import engine
from app.forecasting.features import Calendar, layout, regular
from tests.public_series import taylor

HALF_HOUR = timedelta(minutes=30)
TEN_MINUTES = timedelta(minutes=10)


@pytest.fixture(scope="module")
def demand() -> pd.Series:
    return taylor()


@pytest.fixture(scope="module")
def demand_selection(demand: pd.Series) -> engine.Selection:
    """Fitted and backtested on all but the last two weeks of the Taylor series (half-hourly)."""
    return engine.select(demand[demand.index < demand.index[-1] - pd.Timedelta(days=14)], HALF_HOUR, 2)


def test_a_half_hourly_series_gets_lags_in_time_a_day_and_a_week_before_the_forecast_time() -> None:
    shape = layout(HALF_HOUR, 2, timedelta(weeks=10))
    assert shape.seasonal == (47, 48, 49, 335, 336, 337)  # 24 h and 7 days of 30-minute steps
    assert layout(TEN_MINUTES, 6, timedelta(weeks=10)).seasonal == (143, 144, 145, 1007, 1008, 1009)
    # Without three weeks of history there is no weekly lag; without three days, no daily one.
    assert layout(HALF_HOUR, 2, timedelta(days=10)).seasonal == (47, 48, 49)
    assert layout(HALF_HOUR, 2, timedelta(days=2)).seasonal == ()


def test_a_half_hourly_sensor_reported_at_irregular_times_lands_on_its_own_grid() -> None:
    times = pd.DatetimeIndex(["2024-01-01 00:10", "2024-01-01 00:40", "2024-01-01 02:20"], tz="UTC")
    grid = regular(pd.Series([1.0, 2.0, 5.0], index=times), HALF_HOUR, HALF_HOUR * 3)
    # Buckets end at :30 and :00; the gap of two empty buckets is interpolated in time.
    assert list(grid.index.strftime("%H:%M")) == ["00:30", "01:00", "01:30", "02:00", "02:30"]
    assert grid.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert regular(pd.Series([1.0, 2.0, 5.0], index=times), HALF_HOUR, timedelta(0)).isna().sum() == 2


def test_the_served_forecast_of_a_half_hourly_series_starts_30_minutes_after_its_newest_value(
        demand: pd.Series, demand_selection: engine.Selection) -> None:
    history = demand[demand.index <= demand.index[-100]]
    served = engine.forecast(demand_selection, history)
    assert list(served["horizon"]) == [1, 2]
    assert list(served.index - history.index[-1]) == [pd.Timedelta(minutes=30), pd.Timedelta(minutes=60)]


def test_calendar_features_know_uk_bank_holidays() -> None:
    times = pd.DatetimeIndex(["2000-08-28 12:00", "2000-08-29 12:00", "2024-12-25 12:00"], tz="UTC")
    assert Calendar().frame(times)["holiday"].tolist() == [1.0, 0.0, 1.0]  # summer bank holiday, Christmas


def test_intervals_are_calibrated_per_horizon_and_widen_further_ahead(
        demand_selection: engine.Selection) -> None:
    widths = demand_selection.half_widths()
    assert len(widths) == 2 and widths[1] > widths[0] > 0


def test_served_forecasts_of_real_demand_beat_the_baselines_with_honest_coverage_at_each_horizon(
        demand: pd.Series, demand_selection: engine.Selection) -> None:
    """Hourly origins over the two held-out weeks, as the schedule would serve them."""
    assert demand_selection.served_method.kind == "model"
    start = demand.index[-1] - pd.Timedelta(days=14)
    bundle = engine.bundle_of(demand_selection)
    errors: dict[int, list[float]] = {1: [], 2: []}
    hits: dict[int, list[bool]] = {1: [], 2: []}
    for origin in demand.index[(demand.index > start) & (demand.index.minute == 0)][:-1]:
        served = engine.forecast(bundle, demand[(demand.index <= origin) & (demand.index > origin - pd.Timedelta(days=8))])
        for ts, row in served.iterrows():
            actual = demand[ts]
            errors[row.horizon].append(abs(row.value - actual) / actual)
            hits[row.horizon].append(row.lower <= actual <= row.upper)
    best_naive = min(demand_selection.methods[name].mape for name in engine.BASELINES
                     if name in demand_selection.methods)
    assert np.mean([np.mean(errors[1]), np.mean(errors[2])]) < 0.7 * best_naive
    for h in (1, 2):
        assert 0.85 <= np.mean(hits[h]) <= 0.95, (h, np.mean(hits[h]))


def test_every_baseline_is_backtested_on_the_same_origins_and_reported(demand_selection: engine.Selection) -> None:
    report = demand_selection.report()
    assert set(report["methods"]) == {"persistence", "seasonal_daily", "seasonal_weekly", "gbm", "ridge"}
    n = {m["horizons"][0]["n"] for m in report["methods"].values()}
    assert len(n) == 1  # the same splits for every method
    assert report["best_baseline"] == "seasonal_weekly"
    assert report["improvement"] > 0.3


def test_a_baseline_serves_when_no_model_beats_it() -> None:
    """A pattern that repeats exactly every week: the weekly seasonal naive is never wrong."""
    rng = np.random.default_rng(3)
    week = rng.normal(50, 10, size=7 * 24 * 6)
    index = pd.date_range("2024-01-01", periods=4 * len(week), freq="10min", tz="UTC")
    series = pd.Series(np.tile(week, 4), index=index)
    chosen = engine.select(series, TEN_MINUTES, 6, models=("gbm",))
    assert chosen.served == "seasonal_weekly" and chosen.served_method.kind == "baseline"
    assert chosen.methods["seasonal_weekly"].mae < 1e-9 < chosen.methods["gbm"].mae
    served = engine.forecast(chosen, series)
    expected = series.iloc[-len(week):].iloc[:6].to_numpy()  # the same time a week before
    assert served["value"].to_numpy() == pytest.approx(expected)


def test_a_growing_total_is_forecast_to_keep_growing_above_anything_seen_in_training() -> None:
    """An accumulated quantity (a drivetrain's destruction): trees cannot go above their
    training targets, so the engine forecasts the change from the newest value."""
    rng = np.random.default_rng(5)
    index = pd.date_range("2024-01-01", periods=5000, freq="10min", tz="UTC")
    rate = 1.0 + 0.3 * np.sin(2 * np.pi * np.arange(5000) / 144) + rng.normal(0, 0.05, 5000)
    total = pd.Series(np.cumsum(np.clip(rate, 0, None)), index=index)
    history = total.iloc[:4000]
    chosen = engine.select(history, TEN_MINUTES, 6)
    served = engine.forecast(chosen, history)
    assert (np.diff(np.r_[history.iloc[-1], served["value"].to_numpy()]) > 0).all()
    actual = total.reindex(served.index).to_numpy()
    assert np.abs(served["value"].to_numpy() - actual).max() < 2.0  # a 10-minute step adds about 1
    assert chosen.methods[chosen.served].mae < 0.5 * chosen.methods["persistence"].mae


def test_too_little_history_says_how_much_there_is() -> None:
    index = pd.date_range("2024-01-01", periods=50, freq="10min", tz="UTC")
    with pytest.raises(engine.NotEnoughHistory, match="50 usable 10-minute points"):
        engine.select(pd.Series(np.arange(50.0), index=index), TEN_MINUTES, 6)


def test_the_conformal_half_width_is_the_finite_sample_quantile() -> None:
    errors = np.arange(1.0, 20.0)  # 19 errors: ceil(20 x 0.9) = 18th smallest
    assert engine.conformal_half_width(errors, 0.9) == 18.0
    assert engine.conformal_half_width(np.array([1.0, 2.0]), 0.9) == 2.0
