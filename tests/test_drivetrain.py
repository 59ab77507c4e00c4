"""The drivetrain's wear: a running total that never falls, even when the oil is cold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.calculations import Carry
from app.twins.drivetrain import calculate


def readings(oil: list[float], torque: float = 1500.0, speed: float = 150.0) -> pd.DataFrame:
    times = pd.date_range("2026-01-05 00:00", periods=len(oil), freq="1min", tz="UTC")
    return pd.DataFrame({"torque": torque, "speed": speed, "oil_temperature": oil}, index=times)


def test_cold_oil_adds_no_wear_and_the_total_never_falls() -> None:
    # Oil from 40 °C down to -20 °C and back: the formula as given is negative below about 0 °C.
    oil = list(np.linspace(40, -20, 60)) + list(np.linspace(-20, 40, 60))
    out, carry = calculate(readings(oil), Carry(), {})

    assert (out["destruction_rate"] >= 0).all()
    assert (out["destruction_rate"] == 0).sum() > 30  # the cold stretch counts as no wear
    assert (np.diff(out["accumulated_destruction"].to_numpy()) >= 0).all()
    assert carry.totals["accumulated_destruction"] == out["accumulated_destruction"].iloc[-1]


def test_warm_oil_wears_at_the_formulas_rate() -> None:
    out, _ = calculate(readings([50.0] * 3), Carry(), {})
    expected = ((1500 / 1e6) * (150 / 60) + 50.0) / 5e6
    np.testing.assert_allclose(out["destruction_rate"].to_numpy(), expected, rtol=1e-12)
    # The first sample has no previous one; the next two add a minute each at that rate.
    np.testing.assert_allclose(out["accumulated_destruction"].iloc[-1] - out["accumulated_destruction"].iloc[0],
                               2 * 60 * expected, rtol=1e-12)
