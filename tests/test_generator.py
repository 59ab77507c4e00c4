"""The synthetic signal generator: deterministic, chunk-invariant, shaped as its spec says."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from app.generator import SignalSpec, count_points, generate_chunks, generate_series
from app.twins.drivetrain import ASSET_TYPE as DRIVETRAIN
from tests.conftest import utc

START = utc(2024, 3, 1)
MINUTE = timedelta(minutes=1)
NOISY = SignalSpec(minimum=10.0, amplitude=50.0, cycles_per_day=1.0, noise_pct=5.0)
CLEAN = SignalSpec(minimum=10.0, amplitude=50.0, cycles_per_day=1.0, noise_pct=0.0)


def series(
    spec: SignalSpec = NOISY,
    *,
    days: float = 1.0,
    interval: timedelta = MINUTE,
    seed: int = 7,
    sensor_id: int = 1,
) -> pd.DataFrame:
    return generate_series(
        spec, sensor_id, START, START + timedelta(days=days), interval, seed=seed
    )


def value_at(frame: pd.DataFrame, when: datetime) -> float:
    return float(frame.loc[frame["ts"] == pd.Timestamp(when), "value"].item())


def assert_same_frame(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Bit-for-bit: same ids, same instants, same float bits."""
    assert list(left.columns) == list(right.columns) == ["sensor_id", "ts", "value"]
    assert np.array_equal(left["sensor_id"].to_numpy(), right["sensor_id"].to_numpy())
    assert np.array_equal(left["ts"].to_numpy(), right["ts"].to_numpy())
    assert np.array_equal(
        left["value"].to_numpy().view(np.uint64), right["value"].to_numpy().view(np.uint64)
    )


# -- determinism ----------------------------------------------------------------------------


def test_same_seed_gives_an_identical_series() -> None:
    assert_same_frame(series(seed=42), series(seed=42))


def test_different_seed_gives_a_different_series() -> None:
    first, second = series(seed=42), series(seed=43)
    assert not np.array_equal(first["value"].to_numpy(), second["value"].to_numpy())


def test_different_sensors_of_one_seed_draw_independent_noise() -> None:
    first, second = series(sensor_id=1), series(sensor_id=2)
    assert not np.array_equal(first["value"].to_numpy(), second["value"].to_numpy())


@pytest.mark.parametrize("chunk_rows", [1, 7, 100, 1439, 1440, 5000])
def test_series_generated_in_chunks_equals_the_series_generated_at_once(chunk_rows: int) -> None:
    whole = series(days=1)
    chunks = list(
        generate_chunks(NOISY, 1, START, START + timedelta(days=1), MINUTE, seed=7,
                        chunk_rows=chunk_rows)
    )
    assert all(len(chunk) <= chunk_rows for chunk in chunks)
    assert len(chunks) == -(-len(whole) // chunk_rows)
    assert_same_frame(pd.concat(chunks, ignore_index=True), whole)


# -- shape of the clean signal --------------------------------------------------------------


def test_without_noise_the_value_at_midnight_utc_is_the_middle_of_the_range() -> None:
    frame = series(CLEAN, days=3)
    for day in range(3):
        assert value_at(frame, START + timedelta(days=day)) == pytest.approx(35.0, abs=1e-9)


def test_without_noise_one_cycle_a_day_peaks_at_six_and_bottoms_at_eighteen_utc() -> None:
    frame = series(CLEAN, days=2)
    peaks = frame.loc[frame["value"] == frame["value"].max(), "ts"]
    assert value_at(frame, utc(2024, 3, 1, 6)) == pytest.approx(60.0, abs=1e-9)
    assert value_at(frame, utc(2024, 3, 2, 6)) == pytest.approx(60.0, abs=1e-9)
    assert value_at(frame, utc(2024, 3, 1, 18)) == pytest.approx(10.0, abs=1e-9)
    assert set(peaks.dt.hour) == {6} and set(peaks.dt.minute) == {0}


def test_without_noise_the_signal_spans_minimum_to_minimum_plus_amplitude() -> None:
    values = series(CLEAN, days=1)["value"]
    assert values.min() == pytest.approx(10.0, abs=1e-9)
    assert values.max() == pytest.approx(60.0, abs=1e-9)


def test_without_noise_values_follow_the_sine_formula_exactly() -> None:
    frame = series(CLEAN, days=1, interval=timedelta(seconds=37))
    seconds = (frame["ts"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    expected = 10.0 + 50.0 * (1 + np.sin(2 * np.pi * seconds / 86_400)) / 2
    assert np.allclose(frame["value"].to_numpy(), expected, rtol=0, atol=1e-9)


def test_four_cycles_a_day_peak_at_half_past_one_and_every_six_hours() -> None:
    spec = SignalSpec(minimum=0.0, amplitude=100.0, cycles_per_day=4, noise_pct=0.0)
    frame = series(spec, days=1)
    peak_times = frame.loc[np.isclose(frame["value"], 100.0, atol=1e-9), "ts"]
    assert [t.strftime("%H:%M") for t in peak_times] == ["01:30", "07:30", "13:30", "19:30"]


def test_phase_shifts_the_peak_earlier() -> None:
    spec = SignalSpec(minimum=0.0, amplitude=1.0, cycles_per_day=1, noise_pct=0.0,
                      phase=np.pi / 2)
    frame = series(spec, days=1)
    assert value_at(frame, utc(2024, 3, 1, 0)) == pytest.approx(1.0, abs=1e-9)


def test_the_phase_is_anchored_to_clock_time_not_to_the_start_of_the_range() -> None:
    early = generate_series(CLEAN, 1, utc(2024, 3, 1, 0), utc(2024, 3, 1, 12), MINUTE, seed=1)
    late = generate_series(CLEAN, 1, utc(2024, 3, 1, 5), utc(2024, 3, 1, 12), MINUTE, seed=1)
    overlap = early[early["ts"] >= pd.Timestamp(utc(2024, 3, 1, 5))].reset_index(drop=True)
    assert np.allclose(overlap["value"], late["value"], rtol=0, atol=1e-9)


# -- noise and clipping ---------------------------------------------------------------------


def test_noise_standard_deviation_is_noise_pct_of_the_amplitude() -> None:
    noisy = series(NOISY, days=20)  # 28,800 points: the sample sd is within ~1 % of the truth
    clean = series(CLEAN, days=20)
    residual = noisy["value"].to_numpy() - clean["value"].to_numpy()
    assert residual.std() == pytest.approx(0.05 * 50.0, rel=0.03)
    assert abs(residual.mean()) < 0.05


def test_values_are_clipped_to_lower_and_upper() -> None:
    spec = SignalSpec(minimum=0.0, amplitude=100.0, noise_pct=10.0, lower=5.0, upper=90.0)
    values = series(spec, days=2)["value"]
    assert values.min() == 5.0 and values.max() == 90.0
    assert (values == 5.0).sum() > 1 and (values == 90.0).sum() > 1  # the clip actually bit


def test_a_lower_limit_alone_clips_only_from_below() -> None:
    spec = SignalSpec(minimum=0.0, amplitude=100.0, noise_pct=10.0, lower=0.0)
    values = series(spec, days=2)["value"]
    assert values.min() == 0.0
    assert values.max() > 100.0


@pytest.mark.parametrize("sensor", [s.name for s in DRIVETRAIN.sensors])
def test_drivetrain_signals_never_leave_the_data_sheet_limits(sensor: str) -> None:
    limits = {"torque": (0.0, 3000.0), "speed": (0.0, 300.0), "oil_temperature": (-20.0, 100.0)}
    low, high = limits[sensor]
    values = series(DRIVETRAIN.sensor(sensor).signal, days=30, seed=20241001)["value"]
    assert values.min() >= low and values.max() <= high
    assert values.min() == low and values.max() == high  # noise pushes past both ends: clipped


# -- time axis ------------------------------------------------------------------------------


def test_timestamps_are_tz_aware_utc_and_spaced_by_the_interval() -> None:
    interval = timedelta(seconds=90)
    frame = series(days=0.5, interval=interval)
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"  # the layout ingest takes
    assert frame["ts"].iloc[0].utcoffset() == timedelta(0)
    assert frame["ts"].iloc[0] == pd.Timestamp(START)
    assert (frame["ts"].diff().iloc[1:] == pd.Timedelta(interval)).all()
    assert frame["sensor_id"].dtype == np.int64 and frame["value"].dtype == np.float64


def test_a_start_in_another_time_zone_gives_the_same_utc_instants() -> None:
    paris = timezone(timedelta(hours=1))
    local = generate_series(NOISY, 1, datetime(2024, 3, 1, 1, tzinfo=paris),
                            datetime(2024, 3, 1, 13, tzinfo=paris), MINUTE, seed=3)
    in_utc = generate_series(NOISY, 1, utc(2024, 3, 1, 0), utc(2024, 3, 1, 12), MINUTE, seed=3)
    assert_same_frame(local, in_utc)


def test_the_range_is_half_open_and_the_last_point_falls_before_end() -> None:
    end = START + timedelta(minutes=10)
    frame = generate_series(NOISY, 1, START, end, timedelta(minutes=3), seed=1)
    assert [t.minute for t in frame["ts"]] == [0, 3, 6, 9]


@pytest.mark.parametrize(
    ("span", "interval", "expected"),
    [
        (timedelta(minutes=10), timedelta(minutes=3), 4),  # 0, 3, 6, 9
        (timedelta(minutes=9), timedelta(minutes=3), 3),  # 0, 3, 6: end itself is excluded
        (timedelta(minutes=9, microseconds=1), timedelta(minutes=3), 4),
        (timedelta(days=1), timedelta(minutes=1), 1440),
        (timedelta(seconds=1), timedelta(hours=1), 1),
    ],
)
def test_count_points_counts_the_instants_in_the_half_open_range(
    span: timedelta, interval: timedelta, expected: int
) -> None:
    assert count_points(START, START + span, interval) == expected
    assert len(generate_series(NOISY, 1, START, START + span, interval, seed=1)) == expected


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2024, 3, 1), utc(2024, 3, 2)),
        (utc(2024, 3, 1), datetime(2024, 3, 2)),
        (datetime(2024, 3, 1), datetime(2024, 3, 2)),
    ],
)
def test_naive_datetimes_are_refused(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        count_points(start, end, MINUTE)
    with pytest.raises(ValueError, match="timezone-aware"):
        next(generate_chunks(NOISY, 1, start, end, MINUTE, seed=1))


@pytest.mark.parametrize("end", [START, START - MINUTE])
def test_an_end_not_after_start_is_refused(end: datetime) -> None:
    with pytest.raises(ValueError, match="is not after start"):
        count_points(START, end, MINUTE)
    with pytest.raises(ValueError, match="is not after start"):
        generate_series(NOISY, 1, START, end, MINUTE, seed=1)


@pytest.mark.parametrize("interval", [timedelta(0), -MINUTE])
def test_a_non_positive_interval_is_refused(interval: timedelta) -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        count_points(START, START + timedelta(days=1), interval)
