"""Simulator benchmark: one asset of each type over a month of 1-minute readings.

Usage::

    .venv/bin/python bench/simulation.py [--days 30] [--interval 60] [--repeats 3]

Measured, per asset type, ``--repeats`` times after one warm-up: :func:`app.simulation.simulate`
with the type's default parameters and one fault of each sensor kind plus the type's physical
faults (so the ODE types integrate in several runs), best and median wall time. Target: a
30-day, 1-minute simulation of one asset well under a few seconds. The table goes to stdout;
the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta

from app.simulation import Fault, simulate
from app.twins import ASSET_TYPES, SIMULATED_TYPES

START = datetime(2024, 10, 1, tzinfo=UTC)


def faults_for(name: str, days: int) -> list[Fault]:
    """A stuck, a drifting and a spiking sensor, and every physical fault the type can show,
    each for six hours spread over the range."""
    spans = [START + timedelta(days=days * (i + 1) / 6) for i in range(5)]
    kinds = ["stuck_sensor", "drift", "spike", *ASSET_TYPES[name].physical_faults]
    magnitudes = {"leak": 0.1, "overuse": 1.5}
    return [Fault(kind, at, at + timedelta(hours=6), magnitude=magnitudes.get(kind, 1.0))
            for kind, at in zip(kinds, spans, strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    end = START + timedelta(days=args.days)
    figures = {}
    print(f"{'asset type':<16} {'rows':>8} {'best s':>8} {'median s':>9}")
    for name in SIMULATED_TYPES:
        faults = faults_for(name, args.days)
        simulate(name, {}, START, START + timedelta(days=1), faults=[])  # warm-up
        times = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            result = simulate(name, {}, START, end, interval_s=args.interval, faults=faults)
            times.append(time.perf_counter() - began)
        figures[name] = {"rows": len(result.frame), "best_s": round(min(times), 3),
                         "median_s": round(statistics.median(times), 3)}
        print(f"{name:<16} {len(result.frame):>8} {min(times):>8.3f} "
              f"{statistics.median(times):>9.3f}")
    print(json.dumps({"days": args.days, "interval_s": args.interval, "types": figures}))


if __name__ == "__main__":
    main()
