"""Derived quantities of an asset's sensor data, calculated batch by batch.

Each asset type module defines ``calculate(wide, carry, parameters)``: ``wide`` is one batch of
the asset's readings, a frame indexed by UTC time with a column per sensor; ``carry`` holds what
the previous batch (or run) ended with, so a running total (accumulated destruction, energy)
continues exactly across batches and runs, whatever the batch size.

Integration is left-rectangle in time: each sample's rate counts for the time since the sample
before it (for a batch's first sample, since ``carry.last_ts``; for an asset's very first
sample, zero). That makes a total computed in many batches equal the one computed in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd


@dataclass
class Carry:
    """What calculation continues from: the last sample time and the running totals there."""

    last_ts: datetime | None = None
    totals: dict[str, float] = field(default_factory=dict)


def seconds_since_previous(index: pd.DatetimeIndex, last_ts: datetime | None) -> np.ndarray:
    """Seconds from each sample back to the one before it (the first back to ``last_ts``)."""
    # ns since the epoch whatever the index's unit: pandas 3 builds datetime64[us] indexes from
    # datetimes, and asi8 counts in the index's own unit (while Timestamp.value is always ns).
    stamps = pd.DatetimeIndex(index).as_unit("ns").asi8
    previous = np.empty_like(stamps)
    previous[1:] = stamps[:-1]
    previous[0] = stamps[0] if last_ts is None else pd.Timestamp(last_ts).value
    return (stamps - previous) / 1e9


def running_total(rate_per_second: pd.Series, carry: Carry, name: str) -> pd.Series:
    """``carry.totals[name]`` plus the time integral of the rate, sample by sample."""
    dt = seconds_since_previous(rate_per_second.index, carry.last_ts)
    increments = np.nan_to_num(rate_per_second.to_numpy(dtype=float)) * dt
    return pd.Series(carry.totals.get(name, 0.0) + np.cumsum(increments), index=rate_per_second.index)


def advance(carry: Carry, frame: pd.DataFrame, cumulative: list[str]) -> Carry:
    """The carry after ``frame``: its last time and the last value of each running total."""
    if frame.empty:
        return carry
    totals = dict(carry.totals)
    totals.update({name: float(frame[name].iloc[-1]) for name in cumulative})
    return Carry(frame.index[-1].to_pydatetime(), totals)
