"""Anomaly detection against injected, labelled faults: precision and recall per fault kind.

Usage::

    .venv/bin/python bench/anomalies.py [--days 30] [--seeds 3] [--types boiler,pipeline]
                                        [--show 10]

For every asset type with a simulator (all six) and each seed, :mod:`app.detection_score` plans
one fault per 12 hours of ``--days`` (the kinds the type can show taking turns: stuck sensor,
drift and spike on every type, leak and overuse where the physics shows them; random times,
durations, sensors and magnitudes), simulates it with :func:`app.simulation.simulate`, runs
:func:`app.anomalies.detect` with the product's settings over the whole run, and scores:

* recall: an injected fault counts as found when an alert of its kind overlaps its window on a
  sensor it moves;
* precision: an alert counts as right when it overlaps a fault of its kind on its sensor (within
  an hour after a physical fault's window: its effects outlast it).

Leak alerts are those classed ``leakage``; stuck sensor, ``flat_line`` alerts; spike, ``spike``
alerts; overuse, those classed ``overuse``. Drift has no alert of its own (recall only: any alert
on its sensor). Targets (the issue): recall >= 0.9 and precision >= 0.8 for leak, stuck sensor
and spike. The table goes to stdout, progress to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _support import log, verdict  # noqa: E402

from app.detection_score import SCORED, Score, evaluate  # noqa: E402
from app.simulation import FAULT_KINDS  # noqa: E402
from app.twins import SIMULATED_TYPES  # noqa: E402
from settings import load_settings  # noqa: E402

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: the dispenser's office week starts with it
TARGETS = {"leak": (0.9, 0.8), "stuck_sensor": (0.9, 0.8), "spike": (0.9, 0.8)}


def ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=30.0, help="simulated days per type and seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--types", default=",".join(SIMULATED_TYPES), help="comma-separated asset types")
    parser.add_argument("--show", type=int, default=5, help="misses and wrong alerts listed per kind")
    args = parser.parse_args()
    settings = load_settings(environ={})
    types = [t for t in args.types.split(",") if t]
    totals = {kind: Score() for kind in FAULT_KINDS}
    per_type: dict[str, dict[str, Score]] = {}
    timings: dict[str, float] = {}
    for name in types:
        scores = {kind: Score() for kind in FAULT_KINDS}
        began = time.perf_counter()
        for seed in range(args.seeds):
            log(f"{name}, seed {seed}: {args.days:g} days")
            for kind, score in evaluate(name, START, args.days, seed, settings.anomaly).items():
                scores[kind].add(score)
        timings[name] = round(time.perf_counter() - began, 2)
        per_type[name] = scores
        for kind in FAULT_KINDS:
            totals[kind].add(scores[kind])

    print(f"Anomaly detection on simulated faults: {len(types)} asset types x {args.seeds} seeds x "
          f"{args.days:g} days, one fault per 12 hours")
    print(f"settings: z-score window {settings.anomaly.zscore_window} readings, threshold "
          f"{settings.anomaly.zscore_threshold}, spike at most {settings.anomaly.spike_max_minutes:g} min, "
          f"flat line {settings.anomaly.flat_minutes:g} min, merge gap {settings.anomaly.merge_gap_minutes:g} min")
    print()
    print("Per type, each fault kind as found/faults (recall) and right/alerts (precision):")
    print(f"{'asset type':16s}" + "".join(f"{kind:>17s}" for kind in FAULT_KINDS) + f"{'seconds':>9s}")
    for name, scores in per_type.items():
        cells = "".join(f"{f'{s.found}/{s.faults} {s.right}/{s.alerts}':>17s}" for s in scores.values())
        print(f"{name:16s}{cells}{timings[name]:>9.2f}")
    print()
    print(f"{'fault kind':14s}{'faults':>8s}{'found':>7s}{'recall':>8s}{'alerts':>8s}{'right':>7s}"
          f"{'precision':>11s}  target")
    figures: dict[str, object] = {}
    passed = True
    for kind, score in totals.items():
        target = TARGETS.get(kind)
        outcome = ""
        if target is not None:
            ok = (score.recall or 0) >= target[0] and (score.precision or 0) >= target[1]
            passed &= ok
            outcome = f"recall >= {target[0]}, precision >= {target[1]}: {verdict(ok)}"
        elif kind not in SCORED:
            outcome = "no alert of its own: recall is any alert on its sensor"
        print(f"{kind:14s}{score.faults:>8d}{score.found:>7d}{ratio(score.recall):>8s}{score.alerts:>8d}"
              f"{score.right:>7d}{ratio(score.precision):>11s}  {outcome}")
        figures[f"{kind}_faults"] = score.faults
        figures[f"{kind}_recall"] = None if score.recall is None else round(score.recall, 4)
        if kind in SCORED:
            figures[f"{kind}_alerts"] = score.alerts
            figures[f"{kind}_precision"] = None if score.precision is None else round(score.precision, 4)
    for kind, score in totals.items():
        if args.show and (score.missed or score.wrong):
            print(f"\n{kind}:")
            for line in score.missed[:args.show]:
                print(f"  missed: {line}")
            for line in score.wrong[:args.show]:
                print(f"  wrong:  {line}")
    figures.update({
        "targets_met": passed, "days": args.days, "seeds": args.seeds, "types": types,
        "seconds": timings, "zscore_window": settings.anomaly.zscore_window,
        "zscore_threshold": settings.anomaly.zscore_threshold, "python": platform.python_version(),
        "run_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    })
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
