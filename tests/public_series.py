"""Real public series that ship in PyPI packages, for tests and benchmarks on data nobody here
made."""

from __future__ import annotations

import pandas as pd

#: The Taylor series starts on Monday 5 June 2000, 00:00 UK clock time (BST, UTC+1).
TAYLOR_START_UK = "2000-06-05 00:00"


def taylor() -> pd.Series:
    """Half-hourly electricity demand of England and Wales, 5 June to 27 August 2000, in MW
    (4,032 values; Taylor 2003, as shipped by pmdarima), indexed by UTC time."""
    from pmdarima.datasets import load_taylor

    values = load_taylor(as_series=True).to_numpy(dtype=float)
    index = pd.date_range(TAYLOR_START_UK, periods=len(values), freq="30min",
                          tz="Europe/London").tz_convert("UTC")
    return pd.Series(values, index=index, name="demand")


def taylor_csv(asset: str, sensor: str = "demand") -> str:
    """The series as the CSV a supplier would export: UK clock times without an offset."""
    series = taylor()
    local = series.index.tz_convert("Europe/London").strftime("%Y-%m-%d %H:%M")
    frame = pd.DataFrame({"asset": asset, "sensor": sensor, "time": local, "value": series.to_numpy()})
    return frame.to_csv(index=False)
