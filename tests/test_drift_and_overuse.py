"""Model-based detection: each sensor against what the twin expects of it, watched by a CUSUM
(app/expectations.py, app/changes.py, the Drift and Overuse rules of app/twins/rules.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from app.anomalies import detect
from app.changes import cusum, run_length, statistics, threshold_for
from app.plant.twin import effective_type
from app.simulation import Fault, simulate
from app.twins import SIMULATED_TYPES, asset_type
from settings import Settings

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
#: the history the twin learns from before the day judged
HISTORY = timedelta(days=7)


def at(hours: float) -> datetime:
    return START + HISTORY + timedelta(hours=hours)


# -- the CUSUM ---------------------------------------------------------------------------------


def test_the_threshold_gives_the_false_alarm_rate_asked_for_by_siegmunds_approximation() -> None:
    # Montgomery (Introduction to Statistical Quality Control, table 9.3): a two-sided CUSUM
    # with k = 0.5 runs 168 blocks in control at h = 4 and 465 at h = 5; a one-sided one twice
    # that. Siegmund's approximation is within a few per cent.
    assert run_length(4.0, 0.5) / 2 == pytest.approx(168, rel=0.03)
    assert run_length(5.0, 0.5) / 2 == pytest.approx(465, rel=0.03)
    h = threshold_for(90 * 144, 0.5)  # one false alarm per 90 days of 10-minute blocks
    assert run_length(h, 0.5) == pytest.approx(2 * 90 * 144, rel=1e-4)
    assert 8.0 < h < 8.6


def test_independent_noise_alarms_about_as_often_as_designed() -> None:
    rng = np.random.default_rng(7)
    blocks, h = 200_000, threshold_for(2_000, 0.5)
    alarms = len(cusum(rng.standard_normal(blocks), 0.5, h))
    assert 0.5 * blocks / 2_000 < alarms < 1.6 * blocks / 2_000


def test_a_ramp_is_found_from_where_it_began_and_the_statistic_restarts_after_each_alarm() -> None:
    z = np.zeros(100)
    z[40:] = np.arange(60) * 0.2  # a drift from block 40
    found = cusum(z, 0.5, 8.3)
    assert len(found) == 1
    (drift,) = found
    assert drift.direction == 1 and 38 <= drift.start <= 43 and drift.end == 99
    assert drift.alarm < 60  # noticed within 20 blocks of 0.2 sd a block
    upper, lower = statistics(z, 0.5, 8.3)
    assert upper.max() <= 8.3 + z.max() and not lower.any()


def test_the_hand_written_ridge_is_scikit_learns() -> None:
    from sklearn.linear_model import Ridge

    from app.expectations import RIDGE_ALPHA, _ridge

    rng = np.random.default_rng(3)
    x = rng.standard_normal((500, 6))
    y = x @ rng.standard_normal(6) + 3.0 + rng.standard_normal(500)
    reference = Ridge(alpha=RIDGE_ALPHA).fit(x, y)
    intercept, coefficients = _ridge(x, y)
    assert intercept == pytest.approx(reference.intercept_, abs=1e-9)
    assert np.allclose(coefficients, reference.coef_, atol=1e-9)


# -- drift ---------------------------------------------------------------------------------------


def _with(kind: str, faults: list[Fault], days: float = 8.5, seed: int = 3) -> pd.DataFrame:
    return simulate(kind, {}, START, START + HISTORY + timedelta(days=days - 7), seed=seed,
                    faults=faults).frame


#: (type, sensor) drifted by a tenth of its normal range an hour, one per type
DRIFTS = [("boiler", "flue_temperature"), ("pressure_tank", "pressure"), ("pipeline", "outlet_flow"),
          ("heat_exchanger", "cold_outlet_temperature"), ("drivetrain", "oil_temperature"),
          ("water_dispenser", "level")]


@pytest.mark.parametrize(("asset_type_name", "sensor"), DRIFTS)
def test_a_slow_ramp_on_one_sensor_is_a_drift_on_that_sensor_within_hours(
        asset_type_name: str, sensor: str, settings: Settings) -> None:
    spec = asset_type(asset_type_name).sensor(sensor)
    assert spec.normal_min is not None and spec.normal_max is not None
    rate = 0.1 * (spec.normal_max - spec.normal_min)  # per hour
    frame = _with(asset_type_name, [Fault("drift", at(4), at(10), sensor, rate)])
    found = [f for f in detect(asset_type_name, {}, frame, settings.anomaly) if f.kind == "drift"]
    on_it = [f for f in found if f.sensor == sensor]
    assert on_it, [f.message for f in found]
    if asset_type_name != "water_dispenser":
        # The dispenser's heater and draws are on/off and random: its other sensors' checks
        # still raise the odd wrong drift (bench/anomalies.py counts them); the rest raise none.
        assert {f.sensor for f in found} == {sensor}
    drift = on_it[0]
    assert drift.classification == "sensor_error"
    assert at(3) <= drift.start <= at(5)  # the change point
    assert drift.noticed is not None and drift.noticed - at(4) <= timedelta(hours=2)
    assert "drifting" in drift.message and "since" in drift.message and "(the change point)" in drift.message


@pytest.mark.slow
@pytest.mark.parametrize("asset_type_name", sorted(SIMULATED_TYPES))
def test_a_healthy_month_of_each_type_raises_no_drift_and_no_overuse(
        asset_type_name: str, settings: Settings) -> None:
    frame = simulate(asset_type_name, {}, START, START + HISTORY + timedelta(days=30), seed=11).frame
    found = detect(asset_type_name, {}, frame, settings.anomaly)
    # (The dispenser's setpoint rule still calls a burst of draws that cools the store past its
    # band overuse, by the physics of reheating: that is not judged against expected use.)
    # Judged after the week of history the twin learns from (the week itself is judged against
    # fewer days, and a new asset's first days are not the claim here).
    raised = [f.message for f in found if f.kind in ("drift", "overuse") and f.start >= at(0)]
    if asset_type_name == "water_dispenser":
        # Its store's temperature is a thermostat's sawtooth cooled by random bursts of draws
        # that nothing in its other sensors' present readings predicts: about one wrong drift
        # a month is what the check does there today (bench/anomalies.py measures it).
        assert len(raised) <= 1, raised
    else:
        assert raised == []


def test_a_generic_assets_own_sensors_are_watched_for_drift_without_code_of_their_own(
        settings: Settings) -> None:
    index = pd.date_range(START, START + HISTORY + timedelta(days=1), freq="5min", tz="UTC",
                          inclusive="left")
    hours = (index - index[0]) / pd.Timedelta(hours=1)
    rng = np.random.default_rng(5)
    daily = np.sin(2 * np.pi * np.asarray(hours) / 24)
    frame = pd.DataFrame({"supply_c": 70 + 5 * daily + rng.normal(0, 0.3, len(index)),
                          "return_c": 45 + 4 * daily + rng.normal(0, 0.3, len(index))}, index=index)
    frame.loc[frame.index >= at(6), "return_c"] += 1.5 * (
        (frame.index[frame.index >= at(6)] - at(6)) / pd.Timedelta(hours=1))
    sensors = [SimpleNamespace(name="supply_c", unit="°C", normal_min=50.0, normal_max=90.0),
               SimpleNamespace(name="return_c", unit="°C", normal_min=30.0, normal_max=70.0)]
    kind = effective_type(asset_type("generic"), sensors)  # type: ignore[arg-type]
    found = [f for f in detect(kind, {}, frame, settings.anomaly) if f.kind == "drift"]
    assert [f.sensor for f in found] == ["return_c"]
    assert found[0].noticed is not None and found[0].noticed - at(6) < timedelta(hours=3)


def test_without_enough_history_nothing_is_judged_against_an_expectation(settings: Settings) -> None:
    frame = simulate("pipeline", {}, START, START + timedelta(days=1.5), seed=2,
                     faults=[Fault("drift", START + timedelta(hours=20), START + timedelta(hours=30),
                                   "outlet_flow", 5.0)]).frame
    assert [f for f in detect("pipeline", {}, frame, settings.anomaly) if f.kind == "drift"] == []


# -- overuse -----------------------------------------------------------------------------------


def test_a_drivetrain_worked_twice_as_hard_as_usual_is_overuse_but_its_usual_peaks_are_not(
        settings: Settings) -> None:
    frame = _with("drivetrain", [Fault("overuse", at(2), at(4), magnitude=2.0)])
    found = detect("drivetrain", {}, frame, settings.anomaly)
    used = [f for f in found if f.classification == "overuse"]
    assert [(f.kind, f.sensor) for f in used] == [("overuse", "torque")]
    assert at(1.5) <= used[0].start <= at(2.5) and used[0].end <= at(5)
    assert "x what the twin expects at this time of day" in used[0].message
    assert not [f for f in found if f.kind == "drift"]
    # torque reaches its 3,000 Nm rating four times a day: healthy peaks raise nothing
    healthy = detect("drivetrain", {}, _with("drivetrain", []), settings.anomaly)
    assert [f for f in healthy if f.classification == "overuse"] == []


def test_a_heat_exchangers_overuse_is_judged_on_the_heat_it_passes(settings: Settings) -> None:
    frame = _with("heat_exchanger", [Fault("overuse", at(3), at(5), magnitude=2.5)])
    used = [f for f in detect("heat_exchanger", {}, frame, settings.anomaly)
            if f.classification == "overuse"]
    assert [f.sensor for f in used] == ["hot_outlet_temperature"]
    assert used[0].message.startswith("Duty ") and " kW against " in used[0].message


def test_a_static_limit_on_what_an_asset_uses_is_a_limit_not_overuse(settings: Settings) -> None:
    frame = _with("drivetrain", [Fault("overuse", at(5), at(6), magnitude=1.6)])
    limits = [f for f in detect("drivetrain", {}, frame, settings.anomaly) if f.kind == "high"]
    assert limits == [] or all(f.classification == "other" for f in limits)
