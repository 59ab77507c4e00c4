"""Sequential change detection on standardised residuals: the two-sided CUSUM (Page, 1954).

Each direction keeps a statistic S = max(0, S + d z - k) over the residuals z (in standard
deviations: block means of a model's residuals, see :mod:`app.expectations`) and alarms when S
passes the threshold h. The change point is the block after S was last zero: where the
departure began, not where it was noticed. After an alarm S restarts from zero, so a departure
that lasts alarms again at once, and alarms that follow on without a gap are one
:class:`Departure`.

The threshold comes from the false-alarm rate asked for: for independent N(0, 1) residuals a
one-sided CUSUM with reference k and threshold h runs on average

    ARL0 = (exp(2 k b) - 2 k b - 1) / (2 k^2),   b = h + 1.166

blocks before a false alarm (Siegmund, *Sequential Analysis*, 1985, p. 27); two sides halve
it. :func:`threshold_for` inverts it. Residuals that are not independent (a model's leftover
daily shape) alarm more often than that; what the product actually does on healthy months is
measured by ``bench/anomalies.py`` and the tests.

Written by hand rather than taken from a library: it is a dozen lines over a few hundred
block means, and the drift detectors of ``river`` (Page-Hinkley, ADWIN) say when they alarmed
but not where the change began, which every alert here must say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

#: Siegmund's correction for the overshoot of a normal random walk.
OVERSHOOT = 1.166


def run_length(h: float, k: float) -> float:
    """The in-control average run length of a one-sided CUSUM (blocks), by Siegmund."""
    b = 2.0 * k * (h + OVERSHOOT)
    return (math.exp(b) - b - 1.0) / (2.0 * k * k)


def threshold_for(blocks: float, k: float) -> float:
    """The h that gives a two-sided CUSUM with reference ``k`` one false alarm per ``blocks``
    blocks on average (each side: twice that)."""
    one_side = 2.0 * blocks
    if run_length(0.0, k) >= one_side:
        return 0.0
    high = 1.0
    while run_length(high, k) < one_side:
        high *= 2.0
    return float(brentq(lambda h: run_length(h, k) - one_side, 0.0, high, xtol=1e-6))


@dataclass(frozen=True)
class Departure:
    """Blocks ``start`` (the change point) to ``end`` (the last alarm) of one departure;
    ``alarm`` is its first alarm; ``direction`` +1 above, -1 below."""

    start: int
    alarm: int
    end: int
    direction: int


def cusum(z: np.ndarray, k: float, h: float, directions: tuple[int, ...] = (1, -1)) -> list[Departure]:
    """The departures of the block residuals ``z`` (standard deviations; NaN where nothing is
    expected, which restarts the statistic), in order of their change points."""
    found: list[Departure] = []
    values = np.asarray(z, dtype=float)
    for direction in directions:
        statistic, zero = 0.0, -1  # zero: the last block where the statistic was zero
        current: Departure | None = None
        for i, value in enumerate(values):
            if not np.isfinite(value):
                statistic, zero = 0.0, i
                continue
            statistic = max(0.0, statistic + direction * value - k)
            if statistic == 0.0:
                zero = i
                continue
            if statistic <= h:
                continue
            start = zero + 1
            if current is not None and start <= current.end + 1:
                current = Departure(current.start, current.alarm, i, direction)
            else:
                if current is not None:
                    found.append(current)
                current = Departure(start, i, i, direction)
            statistic, zero = 0.0, i  # restart: a lasting departure alarms again next block
        if current is not None:
            found.append(current)
    return sorted(found, key=lambda d: (d.start, d.direction))


def statistics(z: np.ndarray, k: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """The upper and lower CUSUM statistics at each block, restarting after each alarm as
    :func:`cusum` does (for plotting against ``h``)."""
    values = np.asarray(z, dtype=float)
    paths = []
    for direction in (1, -1):
        path, statistic = np.zeros(len(values)), 0.0
        for i, value in enumerate(values):
            statistic = 0.0 if not np.isfinite(value) else max(0.0, statistic + direction * value - k)
            path[i] = statistic
            if statistic > h:
                statistic = 0.0
        paths.append(path)
    return paths[0], paths[1]
