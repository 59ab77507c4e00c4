"""The series ``bench/forecast.py`` measures on: real measured series that ship inside PyPI
packages (read from the installed package's own files, nothing downloaded at run time) and the
product's own simulator.

* ``taylor``: half-hourly electricity demand of England and Wales, 5 June to 27 August 2000, in
  MW (4,032 values; Taylor 2003), as shipped by pmdarima (``pmdarima.datasets.load_taylor``).
  The values are in UK clock time from Monday 5 June 2000 00:00 (as ``tests/public_series.py``).
* ``serf_east``: AC power of NREL's SERF East photovoltaic array (Golden, Colorado), in W, every
  15 minutes from 1 July to 13 October 2016 (10,000 values), as shipped by pvanalytics
  (``pvanalytics/data/serf_east_15min_ac_power.csv``, measured data from NREL's PVDAQ). The
  file's times carry their offset (UTC-7, no daylight saving).
* ``simulated``: the product's simulator: a boiler's ``water_temperature`` sensor
  (:data:`app.twins.boiler.ASSET_TYPE`'s signal) read every minute by
  :func:`app.generator.generate_chunks`, the readings the pipeline would store.

Each loader returns the raw readings (a UTC-indexed series); ``bench/forecast.py`` puts them
on the product's grid (:func:`app.forecasting.features.regular`) as the forecasting service does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import distribution, version

import pandas as pd

from app.forecasting.features import Calendar

SIMULATED_START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
SIMULATED_SEED = 20241001
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Source:
    """A series as its site would report it: raw readings, the cadence the product forecasts
    it at, the site's clock and bank holidays, and where the data comes from."""

    name: str
    readings: pd.Series
    step: timedelta
    calendar: Calendar
    unit: str
    origin: str  # the package (and version) or the simulator that produced it
    description: str


def taylor() -> Source:
    from pmdarima.datasets import load_taylor

    values = load_taylor(as_series=True).to_numpy(dtype=float)
    index = pd.date_range("2000-06-05 00:00", periods=len(values), freq="30min",
                          tz="Europe/London").tz_convert("UTC")
    return Source("taylor", pd.Series(values, index=index, name="demand"), timedelta(minutes=30),
                  Calendar("Europe/London", "GB", "ENG"), "MW",
                  f"pmdarima {version('pmdarima')} load_taylor",
                  "electricity demand of England and Wales, half-hourly, Jun-Aug 2000")


SERF_EAST_FILE = "pvanalytics/data/serf_east_15min_ac_power.csv"


def serf_east() -> Source:
    """Read from the installed wheel's file (located without importing pvanalytics, which
    would import pvlib and scikit-image for nothing)."""
    path = distribution("pvanalytics").locate_file(SERF_EAST_FILE)
    frame = pd.read_csv(str(path))
    index = pd.DatetimeIndex(pd.to_datetime(frame["measured_on"], utc=True))
    series = pd.Series(frame["ac_power"].to_numpy(dtype=float), index=index, name="ac_power")
    return Source("serf_east", series.sort_index(), timedelta(minutes=15),
                  Calendar("America/Denver", "US", "CO"), "W",
                  f"pvanalytics {version('pvanalytics')} {SERF_EAST_FILE.rsplit('/', 1)[1]}",
                  "AC power of a PV array (NREL SERF East, Golden CO), 15-minute, Jul-Oct 2016")


def simulated(days: int) -> Source:
    """``days`` of a boiler's water temperature, a reading a minute, from the simulator."""
    from app.generator import generate_chunks
    from app.twins.boiler import ASSET_TYPE

    signal = ASSET_TYPE.sensor("water_temperature").signal
    end = SIMULATED_START + timedelta(days=days)
    frames = list(generate_chunks(signal, 1, SIMULATED_START, end, MINUTE, seed=SIMULATED_SEED,
                                  chunk_rows=10**7))
    frame = pd.concat(frames) if len(frames) > 1 else frames[0]
    series = pd.Series(frame["value"].to_numpy(), index=pd.DatetimeIndex(frame["ts"]),
                       name="water_temperature")
    return Source("simulated", series, timedelta(minutes=10), Calendar(), "°C",
                  "app.generator.generate_chunks (boiler water_temperature, 1-minute)",
                  f"simulated boiler water temperature, 1-minute readings, {days} days")


REAL = {"taylor": taylor, "serf_east": serf_east}
