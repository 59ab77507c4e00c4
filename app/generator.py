"""Synthetic sensor signals: a sine plus Gaussian noise, deterministic for a seed.

Used for demo data, tests and benchmarks. The phase is anchored to UTC clock time, so a signal
with one cycle a day peaks at the same hour every day whatever range is generated, and a series
generated in chunks is identical to the same series generated at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class SignalSpec:
    """``minimum`` + ``amplitude`` x (1 + sin(2 pi cycles_per_day t + phase)) / 2 + noise.

    The sine spans [minimum, minimum + amplitude]; noise has a standard deviation of
    ``noise_pct`` % of that span. ``lower``/``upper`` clip to physical limits (a torque cannot
    go negative because of noise).
    """

    minimum: float
    amplitude: float
    cycles_per_day: float = 1.0
    noise_pct: float = 2.0
    phase: float = 0.0
    lower: float | None = None
    upper: float | None = None

    @property
    def noise_sd(self) -> float:
        """The noise's standard deviation, in the signal's unit."""
        return self.noise_pct / 100.0 * abs(self.amplitude)

    def clean(self, epoch_seconds: np.ndarray) -> np.ndarray:
        """The sine alone, at each time (seconds since the epoch)."""
        angle = 2 * np.pi * self.cycles_per_day * (epoch_seconds / SECONDS_PER_DAY) + self.phase
        return self.minimum + self.amplitude * (1.0 + np.sin(angle)) / 2.0

    def values(self, epoch_seconds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        clean = self.clean(epoch_seconds)
        noise = rng.normal(0.0, self.noise_sd, size=clean.shape)
        out = clean + noise
        if self.lower is not None or self.upper is not None:
            out = np.clip(out, self.lower, self.upper)
        return out


def _check_range(start: datetime, end: datetime, interval: timedelta) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    if interval <= timedelta(0):
        raise ValueError("interval must be positive")


def count_points(start: datetime, end: datetime, interval: timedelta) -> int:
    """How many timestamps ``start + k * interval`` fall in [start, end)."""
    _check_range(start, end, interval)
    return -(-(end - start) // interval)  # ceiling division of timedeltas


def rng_for(seed: int, sensor_id: int) -> np.random.Generator:
    """Independent, reproducible stream per (seed, sensor)."""
    return np.random.default_rng(np.random.SeedSequence([seed, sensor_id]))


def generate_chunks(
    spec: SignalSpec,
    sensor_id: int,
    start: datetime,
    end: datetime,
    interval: timedelta,
    *,
    seed: int,
    chunk_rows: int = 100_000,
) -> Iterator[pd.DataFrame]:
    """Frames of (sensor_id, ts, value) covering [start, end), at most ``chunk_rows`` each.

    ``ts`` is ``datetime64[us, UTC]``, the layout :func:`app.ingest.write_sensor_readings` takes.
    """
    total = count_points(start, end, interval)
    rng = rng_for(seed, sensor_id)
    step_us = interval // timedelta(microseconds=1)
    start_us = int(pd.Timestamp(start).value // 1000)
    for offset in range(0, total, chunk_rows):
        n = min(chunk_rows, total - offset)
        stamps_us = start_us + (np.arange(offset, offset + n, dtype=np.int64) * step_us)
        values = spec.values(stamps_us / 1e6, rng)
        yield pd.DataFrame(
            {
                "sensor_id": np.full(n, sensor_id, dtype=np.int64),
                "ts": pd.to_datetime(stamps_us, unit="us", utc=True),
                "value": values,
            }
        )


def generate_series(
    spec: SignalSpec,
    sensor_id: int,
    start: datetime,
    end: datetime,
    interval: timedelta,
    *,
    seed: int,
) -> pd.DataFrame:
    """The whole series as one frame (see :func:`generate_chunks`)."""
    frames = list(
        generate_chunks(spec, sensor_id, start, end, interval, seed=seed, chunk_rows=10**9)
    )
    return frames[0]
