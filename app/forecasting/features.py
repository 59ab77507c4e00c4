"""Features in time, not positions: a target on a regular grid of its own cadence, lags that
exist in time (the previous steps, the same time a day and a week before the forecast time
when the history holds them), calendar features with UK bank holidays, and optional lagged
sensors of the same asset.

Every forecast is made at an *origin* ``t`` (the newest complete step) for ``t + h`` steps,
``h = 1..H``. The direct strategy fits one estimator per ``h`` on the rows of
:func:`design`, so a +30 min forecast is a +30 min forecast, never a chain of guesses.

Values are taken *relative to the value at the origin* (``y(t-j) - y(t)``, and the target is
``y(t+h) - y(t)``): a tree then forecasts the change, which it has seen, rather than a level it
may never have seen. A growing total (accumulated destruction, an energy meter) is forecast
as its rate times the horizon, and keeps growing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
#: how many recent steps are lags (the recent shape), and rolling windows in steps
RECENT = 6
ROLLING = (6,)
#: a seasonal lag is used only when the history holds this many seasons of it
SEASONS_NEEDED = 3


def regular(series: pd.Series, step: timedelta, max_gap: timedelta) -> pd.Series:
    """``series`` as means over a regular grid of ``step``, each labelled by the end of its bucket
    (the value "at 10:30" is known at 10:30). Missing buckets are NaN; gaps no longer than
    ``max_gap`` are interpolated in time (a missed reading or two), longer ones stay NaN and
    rows that need them are left out."""
    if series.empty:
        return series.astype(float)
    freq = pd.Timedelta(step)
    grid = series.resample(freq, label="right", closed="left").mean()
    limit = int(pd.Timedelta(max_gap) // freq)
    if limit > 0:
        grid = grid.interpolate(method="time", limit=limit, limit_area="inside")
    return grid.astype(float)


@dataclass(frozen=True)
class Layout:
    """Which lags and windows a target uses, in steps of its grid."""

    step: timedelta
    horizon: int
    recent: tuple[int, ...]
    seasonal: tuple[int, ...]  # in steps before the *forecast time* (t + h), e.g. a day, a week
    exog: tuple[str, ...] = ()

    @property
    def history_steps(self) -> int:
        """How many steps of history before an origin one forecast needs."""
        return max([*self.recent, *(s + 1 for s in self.seasonal), *ROLLING]) + 1

    def as_dict(self) -> dict[str, object]:
        return {"step_s": int(self.step.total_seconds()), "horizon": self.horizon,
                "recent": list(self.recent), "seasonal": list(self.seasonal),
                "exog": list(self.exog)}


def layout(step: timedelta, horizon: int, history: timedelta, exog: tuple[str, ...] = ()) -> Layout:
    """The lags a target of cadence ``step`` can have with ``history`` of data: the last
    :data:`RECENT` steps, and the same time a day and a week before the forecast time (with
    its neighbours) when the history holds :data:`SEASONS_NEEDED` of them and the season is a
    whole number of steps."""
    seasonal: list[int] = []
    for season in (DAY, WEEK):
        if season % step == timedelta(0) and season > step * horizon and history >= season * SEASONS_NEEDED:
            n = season // step
            seasonal += [n - 1, n, n + 1] if n > 2 else [n]
    return Layout(step, horizon, tuple(range(RECENT)), tuple(sorted(set(seasonal))), tuple(exog))


@lru_cache(maxsize=32)
def _bank_holidays(first_year: int, last_year: int, country: str, subdiv: str | None) -> frozenset:
    import holidays

    return frozenset(holidays.country_holidays(country, subdiv=subdiv,
                                               years=range(first_year, last_year + 1)))


def calendar(index: pd.DatetimeIndex, tz: str, country: str, subdiv: str | None) -> pd.DataFrame:
    """Calendar features of each time, in the site's clock (``tz``): the time of day and of the
    week as smooth harmonics, the day of the week, and whether it is a bank holiday."""
    local = index.tz_convert(tz)
    day = (local.hour + local.minute / 60) / 24
    week = (local.day_of_week + day) / 7
    days = local.normalize().tz_localize(None).date
    holiday_set = _bank_holidays(int(local.year.min()), int(local.year.max()), country, subdiv) if len(local) else frozenset()
    columns = {
        "day_sin": np.sin(2 * np.pi * day), "day_cos": np.cos(2 * np.pi * day),
        "day_sin2": np.sin(4 * np.pi * day), "day_cos2": np.cos(4 * np.pi * day),
        "week_sin": np.sin(2 * np.pi * week), "week_cos": np.cos(2 * np.pi * week),
        "weekday": local.day_of_week.to_numpy(dtype=float),
        "holiday": np.fromiter((d in holiday_set for d in days), dtype=float, count=len(days)),
    }
    return pd.DataFrame(columns, index=index)


@dataclass(frozen=True)
class Calendar:
    """Where the target's site is: the clock and the bank holidays its demand follows."""

    tz: str = "Europe/London"
    country: str = "GB"
    subdiv: str | None = "ENG"

    def frame(self, index: pd.DatetimeIndex) -> pd.DataFrame:
        return calendar(index, self.tz, self.country, self.subdiv)


def origin_features(y: np.ndarray, shape: Layout, exog: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The features that do not depend on the horizon, for every position as an origin:
    recent values relative to the origin's value, a rolling mean and spread, and the lagged
    exogenous sensors."""
    s = pd.Series(y)
    columns: dict[str, np.ndarray] = {}
    for lag in shape.recent[1:]:
        columns[f"d_lag_{lag}"] = (s.shift(lag) - s).to_numpy()
    for window in ROLLING:
        columns[f"d_mean_{window}"] = (s.rolling(window).mean() - s).to_numpy()
        columns[f"std_{window}"] = s.rolling(window).std().to_numpy()
    columns["level"] = y  # trees may need the level itself (a temperature near a limit)
    for name in shape.exog:
        x = pd.Series((exog or {})[name])
        columns[f"x_{name}"] = x.to_numpy()
        columns[f"x_{name}_d1"] = (x - x.shift(1)).to_numpy()
    return columns


def horizon_features(y: np.ndarray, shape: Layout, h: int) -> dict[str, np.ndarray]:
    """The features of horizon ``h`` for every origin ``t``: the value the same time a day and a
    week before ``t + h``, relative to the value at ``t``; and how much the series changed over
    the same ``h`` steps a day and a week before (for a growing total, the amount it grew then,
    which is what it is likely to grow now)."""
    s = pd.Series(y)
    columns = {f"d_season_{lag}": (s.shift(lag - h) - s).to_numpy() for lag in shape.seasonal}
    for lag in shape.seasonal:
        columns[f"season_change_{lag}"] = (s.shift(lag - h) - s.shift(lag)).to_numpy()
    return columns


def design(y: pd.Series, shape: Layout, calendar_: Calendar, h: int,
           exog: pd.DataFrame | None = None, base: dict[str, np.ndarray] | None = None
           ) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows for horizon ``h``: one per origin of the grid ``y``, with its features and the target
    ``y(t+h) - y(t)`` (NaN where the future is not known)."""
    values = y.to_numpy(dtype=float)
    if base is None:
        base = origin_features(values, shape, None if exog is None else
                               {name: exog[name].reindex(y.index).to_numpy(dtype=float) for name in shape.exog})
    when = y.index + pd.Timedelta(shape.step) * h
    frame = pd.DataFrame({**base, **horizon_features(values, shape, h)}, index=y.index)
    frame = pd.concat([frame, calendar_.frame(when).set_axis(y.index)], axis=1)
    target = pd.Series(values).shift(-h).to_numpy() - values
    return frame, target
