"""What the asset types' simulators share: water's properties, randomness keyed to the clock,
measurement noise, time-varying inputs and piecewise ODE integration.

Conventions every ``simulate(parameters, times, rng, state)`` follows:

* ``times`` is a regular UTC grid (its ``freq`` is the interval). Row ``k`` holds the
  instantaneous quantities (a temperature, a level) at ``times[k]``; the state returned is the
  state at ``times[-1] + interval``, the first row of the range that follows, so simulating
  [a, b) and then [b, c) from the returned state is simulating [a, c).
* Randomness (measurement noise, users' draws) comes from :func:`clock_normal` and
  :func:`clock_uniform`: a value depends on the seed, a stream name and the UTC time only, never
  on where the simulated range starts. That is what makes a simulation in chunks equal one in a
  single pass (the same idea as :mod:`app.generator`'s clock-anchored phase).
* Time-varying inputs (faults, scenarios) arrive in ``parameters`` under :data:`DEMAND` (a
  multiplier of what consumers draw, 1 = normal) and :data:`LEAK` (a fraction of a flow lost),
  each a number or an array with one value per row; :func:`input_array` reads either.
* ``parameters["noise_scale"]`` scales every sensor's noise (0 gives the clean physics).
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

CP_WATER = 4.186  # kJ/(kg K)
LITRE_KG = 1.0  # kg of water per litre (to the precision the twins need)
RHO_WATER = 1000.0  # kg/m3
G = 9.81  # m/s2
ATMOSPHERE_BAR = 1.01325
SECONDS_PER_DAY = 86_400

DEMAND = "demand_factor"
LEAK = "leak_fraction"
NOISE_SCALE = "noise_scale"


# -- time -----------------------------------------------------------------------------------


def interval_seconds(times: pd.DatetimeIndex) -> float:
    """The grid's spacing in seconds: its ``freq``, else the spacing of its first two rows."""
    if times.freq is not None:
        return pd.Timedelta(times.freq).total_seconds()
    if len(times) > 1:
        return (times[1] - times[0]).total_seconds()
    raise ValueError("a one-row time grid needs a freq to say how long its step is")


def epoch_seconds(times: pd.DatetimeIndex) -> np.ndarray:
    """Seconds since the epoch of each time, as floats."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8 / 1e9


def daily_wave(epoch: np.ndarray | float, cycles_per_day: float, peak_hour: float) -> Any:
    """A sine of ``cycles_per_day`` cycles a day (UTC) peaking at ``peak_hour``: from -1 to 1."""
    day_fraction = np.asarray(epoch) / SECONDS_PER_DAY - peak_hour / 24.0
    return np.cos(2 * np.pi * cycles_per_day * day_fraction)


def daily_wave_at(epoch: float, cycles_per_day: float, peak_hour: float) -> float:
    """:func:`daily_wave` for one time, with plain floats (ODE right-hand sides call it often)."""
    return math.cos(2 * math.pi * cycles_per_day * (epoch / SECONDS_PER_DAY - peak_hour / 24.0))


# -- randomness keyed to the clock ----------------------------------------------------------


def _clock_draws(rng: np.random.Generator, stream: str, times: pd.DatetimeIndex,
                 draw: Callable[[np.random.Generator, int], np.ndarray]) -> np.ndarray:
    """One value per time that depends on (the rng's seed, ``stream``, the UTC second) only.

    Each UTC day gets its own generator, spawned from the rng's seed sequence with the stream
    and the day number, which draws a value for every slot of the day at the grid's resolution;
    each time reads its slot. The resolution, gcd(day, interval, offset of the grid in the day),
    is the same for every chunk of one grid, so chunks read the same values as the whole.
    """
    n = len(times)
    if n == 0:
        return np.empty(0)
    base = rng.bit_generator.seed_seq
    if not isinstance(base, np.random.SeedSequence):
        raise ValueError("clock-keyed draws need an rng made from a seed (np.random.default_rng(seed))")
    seconds = pd.DatetimeIndex(times).as_unit("ns").asi8 // 1_000_000_000
    step = max(1, round(interval_seconds(times))) if n > 1 or times.freq is not None else 1
    resolution = math.gcd(SECONDS_PER_DAY, step, int(seconds[0] % SECONDS_PER_DAY))
    key = zlib.crc32(stream.encode())
    days = seconds // SECONDS_PER_DAY
    out = np.empty(n)
    edges = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), n]
    for lo, hi in itertools.pairwise(edges):
        day = int(days[lo]) & 0xFFFFFFFF  # spawn keys are non-negative
        seq = np.random.SeedSequence(base.entropy, spawn_key=(*base.spawn_key, key, day))
        block = draw(np.random.default_rng(seq), SECONDS_PER_DAY // resolution)
        out[lo:hi] = block[(seconds[lo:hi] % SECONDS_PER_DAY) // resolution]
    return out


def clock_normal(rng: np.random.Generator, stream: str, times: pd.DatetimeIndex) -> np.ndarray:
    """Standard normal values keyed to (seed, stream, time): see :func:`_clock_draws`."""
    return _clock_draws(rng, stream, times, lambda g, size: g.standard_normal(size))


def clock_uniform(rng: np.random.Generator, stream: str, times: pd.DatetimeIndex) -> np.ndarray:
    """Uniform values in [0, 1) keyed to (seed, stream, time): see :func:`_clock_draws`."""
    return _clock_draws(rng, stream, times, lambda g, size: g.random(size))


def poisson_from_uniform(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson counts by inverting the CDF at ``u``: for a fixed ``u`` the count never falls as
    ``lam`` rises, so more users or more overuse means at least as many draws, same seed."""
    lam = np.broadcast_to(np.asarray(lam, dtype=float), np.shape(u))
    count = np.zeros(np.shape(u))
    term = np.exp(-lam)
    cdf = term.copy()
    short = u >= cdf
    k = 0
    while short.any():
        k += 1
        term = term * lam / k
        cdf = cdf + term
        count[short] = k
        short = short & (u >= cdf) & (term > 0)
    return count


def measured(clean: Mapping[str, np.ndarray], noise_sd: Mapping[str, float | np.ndarray],
             rng: np.random.Generator, times: pd.DatetimeIndex,
             parameters: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Each sensor's clean value plus Gaussian noise of standard deviation ``noise_sd[name]``
    (times ``parameters["noise_scale"]``), keyed to the clock per sensor."""
    scale = float(parameters.get(NOISE_SCALE, 1.0))
    out = {}
    for name, values in clean.items():
        sd = noise_sd.get(name, 0.0)
        noise = scale * np.asarray(sd) * clock_normal(rng, name, times) if scale else 0.0
        out[name] = values + noise
    return out


def sensor_frame(columns: Mapping[str, np.ndarray], times: pd.DatetimeIndex,
                 order: list[str]) -> pd.DataFrame:
    """The sensors in the type's order, as floats on the UTC grid."""
    return pd.DataFrame({name: np.asarray(columns[name], dtype=float) for name in order},
                        index=pd.DatetimeIndex(times, name="ts"))


# -- time-varying inputs and integration ----------------------------------------------------


def floats(parameters: Mapping[str, Any], *names: str) -> tuple[float, ...]:
    """The named parameters as floats (JSON may have stored 60 for 60.0)."""
    return tuple(float(parameters[name]) for name in names)


def input_array(parameters: Mapping[str, Any], key: str, n: int, default: float) -> np.ndarray:
    """``parameters[key]`` (a number or one value per row) as an array of ``n`` floats."""
    value = np.asarray(parameters.get(key, default), dtype=float)
    if value.ndim and value.shape != (n,):
        raise ValueError(f"{key} has {value.shape[0]} values for {n} times")
    return np.broadcast_to(value, (n,)).astype(float)


def constant_runs(*arrays: np.ndarray) -> list[tuple[int, int]]:
    """[lo, hi) index ranges over which every array stays the same value."""
    n = len(arrays[0])
    changes = set()
    for values in arrays:
        changes.update((np.flatnonzero(np.diff(values)) + 1).tolist())
    edges = [0, *sorted(changes), n]
    return list(itertools.pairwise(edges))


def integrate(rhs_for: Callable[[int], Callable[[float, np.ndarray], list[float]]],
              y0: list[float], t: np.ndarray, t_end: float,
              runs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Solve dy/dt = rhs over ``t`` (seconds) and on to ``t_end``, one ``solve_ivp`` per run of
    constant inputs (``rhs_for(lo)`` is the right-hand side for the run starting at row
    ``lo``): a step change of input is a kink the solver should not have to discover.

    Returns (y at each ``t``, rows x variables; y at ``t_end``). RK45 with dense output at the
    grid (``t_eval``): the solver takes the steps its error control allows (minutes to hours
    where nothing changes) instead of one per row, and interpolates to the rows.
    """
    out = np.empty((len(t), len(y0)))
    y = np.asarray(y0, dtype=float)
    for lo, hi in runs:
        stop = t[hi] if hi < len(t) else t_end
        grid = np.append(t[lo:hi], stop)
        solution = solve_ivp(rhs_for(lo), (t[lo], stop), y, method="RK45", t_eval=grid,
                             rtol=1e-7, atol=1e-7)
        if not solution.success:
            raise RuntimeError(f"the ODE solver failed: {solution.message}")
        out[lo:hi] = solution.y[:, :-1].T
        y = solution.y[:, -1]
    return out, y
