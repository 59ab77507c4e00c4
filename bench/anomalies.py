"""Anomaly detection against injected, labelled faults: precision, recall and drift delay per
fault kind, on the simulators and on a real measured series.

Usage::

    .venv/bin/python bench/anomalies.py [--days 30] [--seeds 3] [--seed-start 100]
                                        [--types boiler,pipeline] [--show 10] [--real]

For every asset type with a simulator (all six) and each seed ``--seed-start`` ..
``--seed-start + --seeds - 1`` (100-102 by default: seeds the detection was not tuned on),
:mod:`app.detection_score` plans one fault per 12 hours of ``--days`` (the kinds the type can
show taking turns: stuck sensor, drift and spike on every type, leak and overuse where the
physics shows them; random times, durations, sensors and magnitudes), simulates it after a
week of healthy history with :func:`app.simulation.simulate`, runs :func:`app.anomalies.detect`
with the product's settings over the whole run, and scores:

* recall: an injected fault counts as found when an alert of its kind overlaps its window on a
  sensor it moves (a drift: any alert on its sensor; how many a ``drift`` alert found is
  reported too, and the median delay from the drift's start to the first alert's ``noticed``);
* precision: an alert counts as right when it overlaps a fault of its kind on its sensor (within
  an hour after a physical fault's window: its effects outlast it).

Leak alerts are those classed ``leakage``; stuck sensor, ``flat_line`` alerts; spike, ``spike``
alerts; overuse, those classed ``overuse``; drift, ``drift`` alerts. Targets (the issue): recall
>= 0.9 and precision >= 0.8 for every kind, and a drift's median delay <= 6 hours; precision
>= 0.8 for every kind on every type too (printed per type).

``--real`` then injects drifts into a real measured series (``bench/_drift_series.py``: the
half-hourly electricity demand of England and Wales that pmdarima ships, wrapped as a generic
asset with one sensor): at 16 times spread over the series, a linear drift of 0.2 (as fast as
the simulated ones), 0.05 and 0.02 (a slow, realistic one) of the sensor's 1%-99% span an hour
for 6 hours, detected on the 12 days ending 12 hours after its start; recall (any alert, and
``drift`` alerts), delay, and the alerts on the same windows and on the whole series without
any drift. About 20 seconds; ``--seeds 0 --real`` runs it alone.

The tables go to stdout, progress to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _support import log, verdict  # noqa: E402

from app.detection_score import SCORED, Score, evaluate  # noqa: E402
from app.simulation import FAULT_KINDS  # noqa: E402
from app.twins import SIMULATED_TYPES  # noqa: E402
from settings import Settings, load_settings  # noqa: E402

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: the dispenser's office week starts with it
#: kind -> (least recall, least precision)
TARGETS = {"leak": (0.9, 0.8), "stuck_sensor": (0.9, 0.8), "spike": (0.9, 0.8), "drift": (0.9, 0.8),
           "overuse": (0.9, 0.8)}
#: the longest median delay from a drift's start to its first alert, hours
DRIFT_DELAY_TARGET = 6.0
#: the least precision of every kind on every type
TYPE_PRECISION_TARGET = 0.8
#: the real-data drift check: rates (a share of the sensor's 1%-99% span an hour), drifts per rate
REAL_RATES = (0.2, 0.05, 0.02)
REAL_DRIFTS = 16
REAL_SEED = 0


def ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def simulated(args: argparse.Namespace, settings: Settings, types: list[str]) -> tuple[dict[str, object], bool]:
    """The simulators' faults: tables printed, figures and whether the targets are met returned."""
    seeds = range(args.seed_start, args.seed_start + args.seeds)
    totals = {kind: Score() for kind in FAULT_KINDS}
    per_type: dict[str, dict[str, Score]] = {}
    timings: dict[str, float] = {}
    for name in types:
        scores = {kind: Score() for kind in FAULT_KINDS}
        began = time.perf_counter()
        for seed in seeds:
            log(f"{name}, seed {seed}: {args.days:g} days")
            for kind, score in evaluate(name, START, args.days, seed, settings.anomaly).items():
                scores[kind].add(score)
        timings[name] = round(time.perf_counter() - began, 2)
        per_type[name] = scores
        for kind in FAULT_KINDS:
            totals[kind].add(scores[kind])

    print(f"Anomaly detection on simulated faults: {len(types)} asset types x {args.seeds} seeds "
          f"({args.seed_start}-{args.seed_start + args.seeds - 1}) x {args.days:g} days, one fault "
          f"per 12 hours")
    residuals = settings.anomaly.residuals
    print(f"settings: z-score window {settings.anomaly.zscore_window} readings, threshold "
          f"{settings.anomaly.zscore_threshold}, spike at most {settings.anomaly.spike_max_minutes:g} min, "
          f"flat line {settings.anomaly.flat_minutes:g} min, merge gap {settings.anomaly.merge_gap_minutes:g} min; "
          f"drift: reference {residuals.reference_days:g} days, blocks {residuals.block_minutes:g} min, "
          f"CUSUM k {residuals.cusum_k:g}, a false alarm per sensor every {residuals.false_alarm_days:g} days")
    print()
    print("Per type, each fault kind as found/faults and right/alerts; precision >= "
          f"{TYPE_PRECISION_TARGET} for every kind with alerts:")
    print(f"{'asset type':16s}" + "".join(f"{kind:>17s}" for kind in FAULT_KINDS)
          + f"{'seconds':>9s}  precision")
    type_precision: dict[str, bool] = {}
    for name, scores in per_type.items():
        cells = "".join(f"{f'{s.found}/{s.faults} {s.right}/{s.alerts}':>17s}" for s in scores.values())
        short = [kind for kind in SCORED if (scores[kind].precision is not None
                                             and scores[kind].precision < TYPE_PRECISION_TARGET)]
        type_precision[name] = not short
        mark = verdict(not short) + ("" if not short else f" ({','.join(short)})")
        print(f"{name:16s}{cells}{timings[name]:>9.2f}  {mark}")
    print()
    print(f"{'fault kind':14s}{'faults':>8s}{'found':>7s}{'recall':>8s}{'alerts':>8s}{'right':>7s}"
          f"{'precision':>11s}{'delay h':>9s}  target")
    figures: dict[str, object] = {}
    passed = True
    for kind, score in totals.items():
        target = TARGETS.get(kind)
        outcome = ""
        if target is not None and not score.faults and not score.alerts:
            outcome = "none injected, none raised"
        elif target is not None:
            ok = (score.recall or 0) >= target[0] and (score.precision or 0) >= target[1]
            outcome = f"recall >= {target[0]}, precision >= {target[1]}"
            if kind == "drift":
                ok &= score.median_delay is not None and score.median_delay <= DRIFT_DELAY_TARGET
                outcome += f", median delay <= {DRIFT_DELAY_TARGET:g} h"
            passed &= ok
            outcome += f": {verdict(ok)}"
        print(f"{kind:14s}{score.faults:>8d}{score.found:>7d}{ratio(score.recall):>8s}{score.alerts:>8d}"
              f"{score.right:>7d}{ratio(score.precision):>11s}{hours(score.median_delay):>9s}  {outcome}")
        figures[f"{kind}_faults"] = score.faults
        figures[f"{kind}_recall"] = rounded(score.recall)
        if kind in SCORED:
            figures[f"{kind}_alerts"] = score.alerts
            figures[f"{kind}_precision"] = rounded(score.precision)
    drift = totals["drift"]
    found_as_drift = drift.found_as_kind / drift.faults if drift.faults else None
    print(f"drift: {drift.found_as_kind}/{drift.faults} found by a drift alert "
          f"(recall {ratio(found_as_drift)}), median delay {hours(drift.median_delay)} h "
          f"(from the drift's start to the first alert that found it)")
    figures["drift_median_delay_h"] = rounded(drift.median_delay, 2)
    figures["drift_found_as_drift_recall"] = rounded(found_as_drift)
    all_types = all(type_precision.values())
    print(f"precision >= {TYPE_PRECISION_TARGET} for every kind on every type: {verdict(all_types)}")
    for kind, score in totals.items():
        if args.show and (score.missed or score.wrong):
            print(f"\n{kind}:")
            for line in score.missed[:args.show]:
                print(f"  missed: {line}")
            for line in score.wrong[:args.show]:
                print(f"  wrong:  {line}")
    figures.update({
        "type_precision_ok": type_precision, "type_precision_met": all_types,
        "per_type": {name: {kind: {"found": s.found, "faults": s.faults, "right": s.right,
                                   "alerts": s.alerts, "precision": rounded(s.precision)}
                            for kind, s in scores.items()} for name, scores in per_type.items()},
        "seconds": timings,
    })
    return figures, passed and all_types


def real(settings: Settings) -> dict[str, object]:
    """Drifts injected into a real series (``bench/_drift_series.py``): a table, and figures."""
    import _drift_series as real_series

    began = time.perf_counter()
    log("real-data drift check: loading the series")
    series = real_series.taylor()
    log(f"{series.name}: {len(series.frame)} readings, {REAL_DRIFTS} drifts x {len(REAL_RATES)} rates")
    trials = real_series.run(series, list(REAL_RATES), REAL_DRIFTS, REAL_SEED, settings.anomaly)
    whole, judged_days = real_series.false_alerts(series, settings.anomaly)
    seconds = round(time.perf_counter() - began, 2)
    print()
    sensors = ", ".join(f"{spec.name} ({spec.unit}, normal {spec.normal_min:,.0f}-{spec.normal_max:,.0f}, "
                        f"1%-99% span {series.spans[spec.name]:,.0f})" for spec in series.kind.sensors)
    print(f"Drift on a real series: {series.name}, {series.description} ({series.origin}); "
          f"{len(series.frame)} readings, {series.frame.index[0]:%Y-%m-%d %H:%M} to "
          f"{series.frame.index[-1]:%Y-%m-%d %H:%M} UTC; sensors: {sensors}")
    print(f"each drift linear for {real_series.DRIFT_LENGTH.total_seconds() / 3600:g} h, detected on the "
          f"{real_series.WINDOW.days} days ending {real_series.AFTER.total_seconds() / 3600:g} h after its "
          f"start; found: a finding on its sensor overlapping it and noticed after it began")
    print(f"{'start (UTC)':18s}{'sensor':>8s}" + "".join(f"{f'{rate:g}/h any':>13s}{'drift':>7s}"
                                                            for rate in REAL_RATES)
          + f"{'clean alerts':>14s}")
    for number in range(REAL_DRIFTS):
        row = [trials[rate][number] for rate in REAL_RATES]
        first = row[0]
        cells = "".join(f"{hours(t.delay_any_h) if t.found_any else 'miss':>13s}"
                        f"{hours(t.delay_drift_h) if t.found_drift else 'miss':>7s}" for t in row)
        sign = "+" if first.rate > 0 else "-"
        print(f"{first.start:%d %b %H:%M}{'':6s}{first.sensor:>7s}{sign}{cells}"
              f"{f'{first.clean_findings} ({first.clean_drift_findings} drift)':>14s}")
    print("(cells: hours from the drift's start to the first alert that found it, by any alert and "
          "by a drift alert)")
    figures: dict[str, object] = {"real_series": f"{series.name} ({series.origin})"}
    by_rate: dict[str, dict[str, object]] = {}
    for rate in REAL_RATES:
        done = trials[rate]
        row = {
            "recall": round(sum(t.found_drift for t in done) / len(done), 4),
            "any_alert_recall": round(sum(t.found_any for t in done) / len(done), 4),
            "median_delay_h": rounded(median([t.delay_drift_h for t in done if t.found_drift]), 2),
            "any_alert_median_delay_h": rounded(median([t.delay_any_h for t in done if t.found_any]), 2),
        }
        by_rate[f"{rate:g}"] = row
        print(f"rate {rate:g} of the span an hour: found by a drift alert {row['recall']:.3f} "
              f"(median delay {hours(row['median_delay_h'])} h), by any alert {row['any_alert_recall']:.3f} "
              f"(median delay {hours(row['any_alert_median_delay_h'])} h)")
    done = trials[REAL_RATES[0]]
    window_days = sum(t.window_days for t in done)
    clean = sum(t.clean_findings for t in done)
    clean_drift = sum(t.clean_drift_findings for t in done)
    print(f"false alerts, drift-free windows: {clean} ({clean_drift} drift) in {window_days:.1f} window-days "
          f"= {clean / window_days:.3f}/day; whole drift-free series: {len(whole)} "
          f"({sum(f.kind == 'drift' for f in whole)} drift) in {judged_days:.1f} days judged "
          f"= {len(whole) / judged_days:.3f}/day; {seconds:.1f} s")
    for finding in whole:
        print(f"  {finding.start:%d %b %H:%M}-{finding.end:%d %b %H:%M} {finding.kind}: {finding.message[:140]}")
    fast = by_rate[f"{REAL_RATES[0]:g}"]
    figures.update({
        "real_drift_rate": REAL_RATES[0], "real_drift_recall": fast["recall"],
        "real_drift_median_delay_h": fast["median_delay_h"],
        "real_any_alert_recall": fast["any_alert_recall"],
        "real_false_alerts_per_day": round(clean / window_days, 4),
        "real_false_drift_alerts_per_day": round(clean_drift / window_days, 4),
        "real_whole_series_false_alerts_per_day": round(len(whole) / judged_days, 4),
        "real_by_rate": by_rate, "real_drifts": REAL_DRIFTS, "real_seconds": seconds,
    })
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=30.0, help="simulated days per type and seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed-start", type=int, default=100,
                        help="the first seed (seeds N..N+seeds-1; 100-102 were not tuned on)")
    parser.add_argument("--types", default=",".join(SIMULATED_TYPES), help="comma-separated asset types")
    parser.add_argument("--show", type=int, default=5, help="misses and wrong alerts listed per kind")
    parser.add_argument("--real", action="store_true", help="also drifts injected into a real series")
    args = parser.parse_args()
    settings = load_settings(environ={})
    types = [t for t in args.types.split(",") if t] if args.seeds > 0 else []
    figures: dict[str, object] = {}
    passed = None
    if types:
        figures, passed = simulated(args, settings, types)
    if args.real:
        figures.update(real(settings))
    figures.update({
        "targets_met": passed, "days": args.days, "seeds": args.seeds, "seed_start": args.seed_start,
        "types": types, "zscore_window": settings.anomaly.zscore_window,
        "zscore_threshold": settings.anomaly.zscore_threshold, "python": platform.python_version(),
        "run_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    })
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
