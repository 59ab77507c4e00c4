"""Performance metrics, each checked against the hand-worked example of docs/metrics.md.

The example: a water dispenser (setpoint 60 °C, rated flow 2 L/min) read once a minute for
ten minutes, with two draws and two anomaly episodes. Every expected number below is worked
out by hand in docs/metrics.md; none comes from running the code.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from app.metrics import by_key, classify, compute, durations_s
from settings import BandSettings, MetricsSettings
from tests.conftest import utc

T0 = utc(2024, 1, 1, 8, 0)
MINUTE = timedelta(minutes=1)
PARAMETERS = {"setpoint_c": 60.0, "flow_l_per_min": 2.0}
# The example's idle window is 2 minutes (the default is 30) so ten readings can show it.
SETTINGS = MetricsSettings(idle_after_minutes=2)


def example() -> pd.DataFrame:
    """docs/metrics.md, "The example": readings at 08:00 ... 08:09."""
    return pd.DataFrame(
        {
            "temperature": [60, 60, 61, 57, 59, 60, 61, 61, 60, 60],
            "level": [1.0, 1.0, 0.9, 0.8, 0.1, 0.3, 0.5, 0.4, 0.4, 0.4],
            "flow": [0, 0, 2, 2, 0, 0, 1, 1, 0, 0],
            "power": [0.6, 0, 0, 1.2, 1.2, 1.2, 0, 0.6, 0.6, 0.6],
        },
        index=pd.date_range(T0, periods=10, freq="1min"),
        dtype=float,
    )


# Two episodes: 08:03-08:05 (the cold draw, then the low tank) and 08:07-08:07:30.
SPANS = [(T0 + 3 * MINUTE, T0 + 5 * MINUTE), (T0 + 7 * MINUTE, T0 + 7 * MINUTE + timedelta(seconds=30))]


@pytest.fixture
def metrics():  # type: ignore[no-untyped-def]
    return by_key(compute("water_dispenser", example(), PARAMETERS, SPANS, SETTINGS))


def test_availability_is_the_share_of_time_ready_to_serve(metrics) -> None:  # type: ignore[no-untyped-def]
    # Not ready: 08:03 (57 °C, 3 °C below) and 08:04 (level 0.1 < 0.2): 8 of 10 minutes.
    assert metrics["availability"].value == pytest.approx(80.0)
    assert metrics["availability"].band == "bad"  # below the warning threshold, 85 %


def test_performance_is_litres_served_over_the_rated_flow_for_the_time_serving(metrics) -> None:  # type: ignore[no-untyped-def]
    # 2 + 2 + 1 + 1 = 6 L in 4 minutes of serving, against 2 L/min x 4 min = 8 L.
    assert metrics["performance"].value == pytest.approx(75.0)
    assert metrics["performance"].band == "warning"  # exactly the warning threshold


def test_quality_is_the_share_of_draws_served_within_the_temperature_band(metrics) -> None:  # type: ignore[no-untyped-def]
    # Draw 1 (08:02-08:03) has a 57 °C reading; draw 2 (08:06-08:07) is all 61 °C.
    assert metrics["quality"].value == pytest.approx(50.0)
    assert metrics["quality"].detail == "1 of 2 draws in spec"
    assert metrics["quality"].band == "bad"


def test_oee_is_availability_times_performance_times_quality(metrics) -> None:  # type: ignore[no-untyped-def]
    assert metrics["oee"].value == pytest.approx(30.0)  # 0.80 x 0.75 x 0.50
    assert metrics["oee"].band == "bad"


def test_energy_per_litre_is_heater_energy_over_litres_served(metrics) -> None:  # type: ignore[no-untyped-def]
    # 6.0 kW·min = 0.1 kWh for 6 L.
    assert metrics["energy_per_litre"].value == pytest.approx(0.1 / 6)
    assert metrics["energy_per_litre"].band == "good"


def test_thermal_variation_is_the_spread_of_temperature_while_serving(metrics) -> None:  # type: ignore[no-untyped-def]
    # 61, 57, 61, 61: mean 60, deviations 1, -3, 1, 1, variance 12 / 4 = 3.
    assert metrics["thermal_variation"].value == pytest.approx(3 ** 0.5)
    assert metrics["thermal_variation"].band == "warning"


def test_non_productive_consumption_is_heater_energy_long_after_any_draw(metrics) -> None:  # type: ignore[no-untyped-def]
    # Idle (no draw in the 2 minutes before): 08:00 0.6, 08:01 0, 08:05 1.2, 08:09 0.6 kW.
    assert metrics["non_productive"].value == pytest.approx(100 * 2.4 / 6.0)
    assert metrics["non_productive"].band == "warning"


def test_peak_flow_ratio_is_the_highest_flow_over_the_mean_flow_while_serving(metrics) -> None:  # type: ignore[no-untyped-def]
    assert metrics["peak_flow_ratio"].value == pytest.approx(2 / 1.5)
    assert metrics["peak_flow_ratio"].band == "good"


def test_mean_time_between_anomalies_is_time_over_episodes(metrics) -> None:  # type: ignore[no-untyped-def]
    assert metrics["mtba"].value == pytest.approx(5 / 60)  # 10 minutes, 2 episodes
    assert metrics["mtba"].band == "bad"


def test_time_to_recover_runs_from_the_start_to_the_first_reading_in_band_after_the_end(metrics) -> None:  # type: ignore[no-untyped-def]
    # Episode 1: 08:03 to 08:05, ready at 08:05 (2 min); episode 2: 08:07 to 08:07:30,
    # first reading after the end 08:08 is ready (1 min).
    assert metrics["recovery"].value == pytest.approx(1.5)
    assert metrics["recovery"].band == "good"


def test_every_metric_carries_its_unit_and_formula(metrics) -> None:  # type: ignore[no-untyped-def]
    units = {k: m.unit for k, m in metrics.items()}
    assert units == {"availability": "%", "performance": "%", "quality": "%", "oee": "%",
                     "energy_per_litre": "kWh/L", "thermal_variation": "°C", "non_productive": "%",
                     "peak_flow_ratio": "×", "mtba": "h", "recovery": "min"}
    assert all(m.formula for m in metrics.values())


def test_a_gap_in_the_readings_counts_as_no_time() -> None:
    index = pd.DatetimeIndex([T0, T0 + MINUTE, T0 + 2 * MINUTE, T0 + 10 * MINUTE])
    assert list(durations_s(index)) == [60, 60, 60, 60]  # not 60, 60, 480, ...


def test_an_open_episode_counts_between_anomalies_but_has_not_recovered() -> None:
    spans = [*SPANS, (T0 + 9 * MINUTE, None)]
    found = by_key(compute("water_dispenser", example(), PARAMETERS, spans, SETTINGS))
    assert found["mtba"].value == pytest.approx(10 / 3 / 60)
    assert found["recovery"].value == pytest.approx(1.5)
    assert found["recovery"].detail == "1 not back in band yet"


def test_no_draw_leaves_the_draw_metrics_without_a_value_and_says_why() -> None:
    frame = example().assign(flow=0.0)
    found = by_key(compute("water_dispenser", frame, PARAMETERS, [], SETTINGS))
    for key in ("performance", "quality", "oee", "energy_per_litre", "thermal_variation", "peak_flow_ratio"):
        assert found[key].value is None and found[key].band is None
        assert "no water drawn" in found[key].detail
    assert found["availability"].value == pytest.approx(80.0)
    assert found["non_productive"].value == pytest.approx(100.0)  # every kWh with nobody drawing
    assert found["mtba"].value is None and found["mtba"].band == "good"
    assert found["mtba"].detail == "no anomaly in 0.167 h"


def test_a_boiler_has_the_episode_metrics_and_the_rest_are_not_applicable() -> None:
    frame = pd.DataFrame({"water_temperature": [70, 70, 95, 95, 70, 70],
                          "pressure": [2.0] * 6},
                         index=pd.date_range(T0, periods=6, freq="1min"), dtype=float)
    found = by_key(compute("boiler", frame, {}, [(T0 + 2 * MINUTE, T0 + 3 * MINUTE)], SETTINGS))
    assert found["oee"].value is None and found["oee"].detail == "not applicable to a boiler"
    assert found["mtba"].value == pytest.approx(0.1)  # 6 minutes, 1 episode
    # Ended at 08:03 but still 95 °C (normal range 60-90) then; back in range at 08:04.
    assert found["recovery"].value == pytest.approx(2.0)


@pytest.mark.parametrize(("value", "band"), [(95, "good"), (90, "warning"), (85, "warning"), (84.9, "bad"),
                                             (None, None), (np.nan, None)])
def test_bands_come_from_settings_with_thresholds_inclusive(value, band) -> None:  # type: ignore[no-untyped-def]
    assert classify(value, BandSettings(good=95, warning=85)) == band


def test_lower_is_better_bands_turn_the_other_way() -> None:
    limits = BandSettings(good=15, warning=60, higher_is_better=False)
    assert [classify(v, limits) for v in (15, 16, 60, 61)] == ["good", "warning", "warning", "bad"]


def test_bands_in_the_wrong_order_are_refused() -> None:
    with pytest.raises(ValueError, match="good must be at least warning"):
        BandSettings(good=50, warning=80)
