"""Dashboard benchmark: the asset page's main plot through the real Dash endpoint, 10M readings.

The requirement (dashboards issue): with 10M sensor readings stored, the asset page's main
callback, called through the real Dash endpoint as a logged-in user, answers a one-year view at
p95 at most 300 ms and a one-day zoom at p95 at most 150 ms, sending at most 2,000 points per
trace; the web process stays under 600 MB. Reported with p50 and p95, the bytes sent and, as a
ratio, the same view built without downsampling.

Usage::

    .venv/bin/python bench/dashboard.py [--backend sqlite|postgresql|both] [--repeats 30]
                                        [--baseline-repeats 3] [--days 365]
                                        [--total-readings 10000000] [--postgres-url URL] [--keep]

Setup (timed and printed, not a target), for each backend on the bench's own database (a SQLite
file in a temporary directory; a PostgreSQL database ``twin_bench_dashboard_<pid>``, the
database in the URL is never touched): ``_support.build_plant`` (the product's migrations, one
drivetrain of 3 sensors plus filler sensors, a reading a minute each for ``--days`` days,
``--total-readings`` in all, the hourly rollups of every sensor), and a viewer of the plant's
supplier made with :func:`app.accounts.create_user`.

Measured, for each backend:

* **The product.** :func:`app.cli.web_server` (what ``twin web`` and ``twin run`` serve:
  ``app.create_app`` under waitress) in a spawned child, the web process. A ``requests`` session
  in this process logs in through ``/login`` (CSRF token and all) and POSTs to
  ``/_dash-update-component`` the body dash-renderer sends for the callback that draws
  ``asset-stacked.figure`` on that change: the three sensors with the "Last year" preset
  (``asset-range.value`` changed: ``main_plot``), then a one-day zoom of that view
  (``asset-stacked.relayoutData`` changed: ``zoom_plot``, a UK day in the middle of the data, a
  different day each request). Each ``--repeats`` times after 3 warm-ups, sequentially; the
  time is to the whole response body. Every response is checked: three traces, x and y of
  equal length, the readings count in the title, the range shown (the asset-view store) a year
  or a day. Bytes are the response body (the app does not compress). The
  web process's peak RSS is its ``VmHWM`` after all of it, and its CPU time a request (user +
  system, all threads, from ``/proc``) is the mean over the timed requests: unlike the wall
  time, it is not stretched by other work on the machine (it leaves out PostgreSQL's own
  processes). The 1-minute load average before and after each backend is in the table.
* **Where the time goes**, in this process, on the same database (for the year view): the
  callback's steps one by one, ``asset_info`` + ``channel_series`` of the three sensors (SQL and
  downsampling), ``layouts.figures.stacked``, and Plotly's JSON serialisation (what Dash calls).
* **Baseline: the same view built without downsampling**, through the same endpoint of a
  second web process in which ``app.series`` reads every range raw and keeps every point
  (``RAW_LIMIT`` unbounded, ``downsample`` a no-op): the year's 3 x 525,600 readings, one query
  per sensor, drawn and serialised by the same callback. ``--baseline-repeats`` requests after
  one warm-up; the fastest is the baseline (the stricter choice). ``year_time_ratio`` is the
  product's year p50 over it, ``year_bytes_ratio`` the product's year bytes over its bytes.
  That web process's peak RSS is reported too.

``--keep`` builds (or reuses) ``twin_bench_dashboard_keep_<days>d_<total>`` (a PostgreSQL
database; for SQLite a file in ``<tmp>/twin-bench-keep``) and leaves it in place; otherwise
everything is dropped on exit, after an error and on SIGTERM. Targets are printed as PASS/MISS.
The table goes to stdout, progress to stderr; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _support import (
    PLANT_START,
    PLANT_SUPPLIER,
    BenchDatabase,
    DashClient,
    Plant,
    PortalServer,
    PostgresBenchDatabase,
    ServeTask,
    SqliteBenchDatabase,
    bench_settings,
    build_plant,
    dash_payload,
    loadavg,
    log,
    ms,
    new_passwords,
    stats,
    verdict,
)

from app.db import Database
from layouts import ids

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
VIEWER = "viewer@bench-energy.test"
WARMUP = 3
MAX_POINTS = 2000
YEAR_TARGET_MS = 300.0
DAY_TARGET_MS = 150.0
RSS_TARGET_MB = 600.0
ZOOM_DAYS = 28  # the one-day zooms cycle through this many days from the middle of the data
BASELINE_TIMEOUT_S = 600
MAIN_PLOT = f"{ids.ASSET_STACKED}.figure"
YEAR, DAY = timedelta(days=365), timedelta(days=1)  # what the views show
_READINGS = re.compile(r"\(([\d,]+) readings\)")


def without_downsampling() -> None:
    """The baseline's web process (called there before the app is built): every range read raw
    and every point kept, i.e. the asset page as it would be without rollups and MinMaxLTTB."""
    from app import series

    def keep_all(ts_ns: Any, values: Any, max_points: int) -> tuple[Any, Any, bool]:
        return ts_ns, values, False

    series.RAW_LIMIT = sys.maxsize
    series.downsample = keep_all


# -- setup -----------------------------------------------------------------------------------


def setup(bench: BenchDatabase, db: Database, days: int, total_readings: int) -> tuple[dict[str, Any], str]:
    """Build the bench database; return what its marker records and the viewer's password."""
    from app.accounts import create_user

    began = time.perf_counter()
    bench.create()
    plant, timings = build_plant(db, days, total_readings)
    password = secrets.token_urlsafe(12)
    with db.Session() as session, session.begin():
        create_user(session, supplier_name=PLANT_SUPPLIER, email=VIEWER, name="Viewer (bench)",
                    password=password, role="viewer")
    info = {"plant": asdict(plant), "days": days, "total_readings": total_readings,
            "setup": {**timings, "setup_s": time.perf_counter() - began,
                      "setup_at": datetime.now(UTC).isoformat(timespec="seconds")}}
    bench.mark(info)
    return info, password


# -- through the endpoint --------------------------------------------------------------------


Request = tuple[dict[str, Any], str]  # (input values keyed id.property, the changed one)


def year_request(plant: Plant) -> Request:
    return {
        f"{ids.ASSET_ID}.data": plant.asset_id,
        f"{ids.ASSET_RANGE}.value": "1y",
        f"{ids.ASSET_CUSTOM}.start_date": None,
        f"{ids.ASSET_CUSTOM}.end_date": None,
        f"{ids.ASSET_SENSORS}.value": [f"s:{i}" for i in plant.sensor_ids],
        f"{ids.ASSET_STACKED}.relayoutData": None,
    }, f"{ids.ASSET_RANGE}.value"


def zoom_requests(plant: Plant, days: int) -> list[Request]:
    """One-day zooms of the year view: whole UK days (the axes show UK wall time, as plotly
    sends it back), from the middle of the data on."""
    year, _ = year_request(plant)
    first = (PLANT_START + timedelta(days=days // 2)).date()
    out = []
    for k in range(max(1, min(ZOOM_DAYS, days - days // 2 - 1))):
        day = first + timedelta(days=k)
        zoom = {"xaxis.range[0]": f"{day} 00:00:00",
                "xaxis.range[1]": f"{day + timedelta(days=1)} 00:00:00"}
        out.append(({**year, f"{ids.ASSET_STACKED}.relayoutData": zoom},
                    f"{ids.ASSET_STACKED}.relayoutData"))
    return out


@dataclass
class ViewResult:
    seconds: list[float] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)
    points: int = 0  # the most points of any trace in any response
    readings: int = 0  # the readings the last response says it drew (its title)
    view: dict[str, Any] = field(default_factory=dict)  # the last asset-view store
    cpu_ms: float | None = None  # the web process's CPU time a request (mean)


def measure_view(client: DashClient, server: PortalServer, requests: Sequence[Request],
                 span: timedelta, repeats: int, warmup: int, timeout: float = 60) -> ViewResult:
    """``repeats`` answers of the main plot after ``warmup``, cycling through ``requests``
    (all with the same changed input), each checked to show a range of ``span``."""
    dependency = client.callback(MAIN_PLOT, requests[0][1])
    result = ViewResult()
    cpu_start = None
    for rep in range(-warmup, repeats):
        if rep == 0:
            cpu_start = server.cpu_s()
        values, changed = requests[rep % len(requests)]
        gc.collect()
        seconds, response = client.send(dash_payload(dependency, values, changed), timeout)
        body = response.json()["response"]
        figure, view = body[ids.ASSET_STACKED]["figure"], body[ids.ASSET_VIEW]["data"]
        traces = figure["data"]
        title = figure["layout"]["title"]["text"]
        found = _READINGS.search(title)
        shown = datetime.fromisoformat(view["end"]) - datetime.fromisoformat(view["start"])
        if (len(traces) != 3 or found is None or abs(shown - span) > timedelta(minutes=1)
                or any(not t["x"] or len(t["x"]) != len(t["y"]) for t in traces)):
            raise RuntimeError(f"unexpected main plot for {changed}: {title!r}, {shown} shown, "
                               f"{[len(t.get('x') or ()) for t in traces]} points")
        if rep < 0:
            continue
        result.seconds.append(seconds)
        result.bytes.append(len(response.content))
        result.points = max(result.points, *(len(t["x"]) for t in traces))
        result.readings = int(found.group(1).replace(",", ""))
        result.view = view
    cpu_end = server.cpu_s()
    if cpu_start is not None and cpu_end is not None:
        result.cpu_ms = ms((cpu_end - cpu_start) / repeats)
    return result


def view_figures(name: str, result: ViewResult) -> dict[str, Any]:
    return {**{f"{name}_{k}": v for k, v in stats(result.seconds).items()},
            f"{name}_bytes": int(statistics.median(result.bytes)),
            f"{name}_points": result.points, f"{name}_readings": result.readings,
            f"{name}_web_cpu_ms": result.cpu_ms}


# -- where the time goes (in this process) ---------------------------------------------------


def breakdown(db: Database, plant: Plant, start: datetime, end: datetime,
              repeats: int) -> dict[str, float]:
    """p50 ms of the main plot's steps for [start, end): SQL and downsampling (asset_info and
    the three channel_series), the figure, and its JSON as Dash serialises it."""
    from plotly.io.json import to_json_plotly

    from app.asset_view import asset_info, channel_series
    from layouts import figures

    steps: dict[str, list[float]] = {"data": [], "figure": [], "json": []}
    for rep in range(-1, repeats):
        gc.collect()
        t0 = time.perf_counter()
        with db.Session() as session:
            info = asset_info(session, db.sensors_engine, plant.supplier_id, plant.asset_id)
        traces = []
        for channel in info.sensors[:3]:
            data = channel_series(db, info, channel, start, end)
            traces.append(figures.Trace(channel.name, channel.unit, data.ts, data.values))
        t1 = time.perf_counter()
        figure = figures.stacked(traces, "bench", revision="bench")
        t2 = time.perf_counter()
        to_json_plotly(figure)
        t3 = time.perf_counter()
        if rep >= 0:
            for key, seconds in (("data", t1 - t0), ("figure", t2 - t1), ("json", t3 - t2)):
                steps[key].append(seconds)
    return {f"{key}_ms": ms(statistics.median(values)) for key, values in steps.items()}


# -- one backend -----------------------------------------------------------------------------


def serve(bench: BenchDatabase, home: str, secret: str, password: str,
          prepare: Callable[[], None] | None,
          measure: Callable[[DashClient, PortalServer], dict[str, Any]]) -> dict[str, Any]:
    """``measure`` with a logged-in client of a fresh web process; adds that process's RSS
    before the first request and its peak after the last."""
    server = PortalServer(ServeTask(bench.url, home, secret, prepare))
    try:
        rss_start = server.rss_mb()
        client = DashClient(server.port, VIEWER, password)
        figures = measure(client, server)
        peak = server.peak_rss_mb()
    finally:
        server.stop()
    return {**figures, "web_rss_start_mb": rss_start and round(rss_start),
            "web_peak_rss_mb": peak and round(peak)}


def run(bench: BenchDatabase, args: argparse.Namespace, home: Path) -> dict[str, Any]:
    d = bench.dialect
    secret = secrets.token_hex(32)
    (home / d).mkdir(exist_ok=True)
    settings = bench_settings(bench.url, str(home / d), secret)
    db = Database(settings)
    figures: dict[str, Any] = {}
    try:
        marker = bench.marker() if args.keep else None
        if marker is not None:
            log(f"{d}: reusing {bench.name} (set up {marker['setup']['setup_at']})")
            password = new_passwords(db, [VIEWER])[VIEWER]
            figures["reused"] = True
        else:
            log(f"{d}: setting up {args.total_readings:,} readings...")
            marker, password = setup(bench, db, args.days, args.total_readings)
            figures["reused"] = False
        plant = Plant(**marker["plant"])
        figures.update({f"setup_{k}": v for k, v in marker["setup"].items()})
        figures.update(bench.describe())
        year, zooms = [year_request(plant)], zoom_requests(plant, args.days)

        log(f"{d}: the product, {args.repeats} year views and {args.repeats} day zooms...")
        figures["loadavg_before"] = loadavg()

        def product(client: DashClient, server: PortalServer) -> dict[str, Any]:
            found = measure_view(client, server, year, YEAR, args.repeats, WARMUP)
            figures["year_view"] = found.view
            out = view_figures("year", found)
            out.update(view_figures("day", measure_view(client, server, zooms, DAY, args.repeats,
                                                        WARMUP)))
            return out

        figures.update(serve(bench, str(home / d), secret, password, None, product))
        log(f"  year p50 {figures['year_p50_ms']} ms, p95 {figures['year_p95_ms']} ms; "
            f"day p50 {figures['day_p50_ms']} ms, p95 {figures['day_p95_ms']} ms; "
            f"web peak RSS {figures['web_peak_rss_mb']} MB")

        log(f"{d}: where the time goes (in-process, year view)...")
        start = datetime.fromisoformat(figures["year_view"]["start"])
        end = datetime.fromisoformat(figures["year_view"]["end"])
        figures.update({f"year_step_{k}": v for k, v in
                        breakdown(db, plant, start, end, max(5, args.repeats // 3)).items()})

        log(f"{d}: baseline, the year view without downsampling "
            f"({args.baseline_repeats} requests after a warm-up)...")

        def baseline(client: DashClient, server: PortalServer) -> dict[str, Any]:
            found = measure_view(client, server, year, YEAR, args.baseline_repeats, 1,
                                 BASELINE_TIMEOUT_S)
            if found.points * 3 != found.readings:
                raise RuntimeError(f"the baseline sent {found.points} points a trace for "
                                   f"{found.readings} readings: not every point")
            return {"raw_year_best_ms": ms(min(found.seconds)),
                    "raw_year_runs_ms": [ms(s) for s in found.seconds],
                    "raw_year_bytes": int(statistics.median(found.bytes)),
                    "raw_year_points": found.points, "raw_year_web_cpu_ms": found.cpu_ms}

        raw = serve(bench, str(home / d), secret, password, without_downsampling, baseline)
        figures.update({k if k.startswith("raw_") else f"raw_{k}": v for k, v in raw.items()})
        figures["year_time_ratio"] = round(figures["year_p50_ms"] / figures["raw_year_best_ms"], 4)
        figures["year_bytes_ratio"] = round(figures["year_bytes"] / figures["raw_year_bytes"], 4)
        log(f"  raw year best {figures['raw_year_best_ms']} ms, {figures['raw_year_bytes']:,} "
            f"bytes, web peak RSS {figures['raw_web_peak_rss_mb']} MB")
        figures["loadavg_after"] = loadavg()
    finally:
        db.engine.dispose()
    del figures["year_view"]
    return {f"{d}_{key}": value for key, value in figures.items()}


# -- report ----------------------------------------------------------------------------------


def report(dialects: Sequence[str], figures: dict[str, Any]) -> dict[str, str]:
    rows = (
        ("readings stored", "setup_readings", "{:,}"),
        ("setup s (not a target)", "setup_setup_s", "{:.1f}"),
        ("year view p50 / p95 ms", ("year_p50_ms", "year_p95_ms"), "{:.1f} / {:.1f}"),
        ("day zoom p50 / p95 ms", ("day_p50_ms", "day_p95_ms"), "{:.1f} / {:.1f}"),
        ("year view max / day zoom max ms", ("year_max_ms", "day_max_ms"), "{:.1f} / {:.1f}"),
        ("bytes sent, year / day", ("year_bytes", "day_bytes"), "{:,} / {:,}"),
        ("points a trace (most), year / day", ("year_points", "day_points"), "{:,} / {:,}"),
        ("readings drawn, year / day", ("year_readings", "day_readings"), "{:,} / {:,}"),
        ("web process CPU a request, year / day ms", ("year_web_cpu_ms", "day_web_cpu_ms"),
         "{} / {}"),
        ("web process RSS start / peak MB", ("web_rss_start_mb", "web_peak_rss_mb"), "{} / {}"),
        ("year steps in-process: data ms", "year_step_data_ms", "{:.1f}"),
        ("  figure ms", "year_step_figure_ms", "{:.1f}"),
        ("  JSON ms", "year_step_json_ms", "{:.1f}"),
        ("baseline (no downsampling) best ms", "raw_year_best_ms", "{:,.1f}"),
        ("baseline web process CPU ms", "raw_year_web_cpu_ms", "{:,}"),
        ("baseline bytes", "raw_year_bytes", "{:,}"),
        ("baseline points a trace", "raw_year_points", "{:,}"),
        ("baseline web process peak RSS MB", "raw_web_peak_rss_mb", "{}"),
        ("year_time_ratio (p50 / baseline)", "year_time_ratio", "{:.4f}"),
        ("year_bytes_ratio", "year_bytes_ratio", "{:.4f}"),
        ("load average (1 min) before / after", ("loadavg_before", "loadavg_after"),
         "{0[0]} / {1[0]}"),
    )
    print()
    print(f"{'':<38}" + "".join(f"{d:>26}" for d in dialects))
    for label, keys, fmt in rows:
        names = keys if isinstance(keys, tuple) else (keys,)
        cells = [fmt.format(*(figures[f"{d}_{k}"] for k in names)) for d in dialects]
        print(f"{label:<38}" + "".join(f"{c:>26}" for c in cells))
    print()
    verdicts = {}
    for d in dialects:
        points = max(figures[f"{d}_year_points"], figures[f"{d}_day_points"])
        rss = figures[f"{d}_web_peak_rss_mb"]
        checks = (
            ("year_p95_ms", figures[f"{d}_year_p95_ms"] <= YEAR_TARGET_MS,
             f"year view p95 {figures[f'{d}_year_p95_ms']:.1f} ms (target <= 300 ms)"),
            ("day_p95_ms", figures[f"{d}_day_p95_ms"] <= DAY_TARGET_MS,
             f"day zoom p95 {figures[f'{d}_day_p95_ms']:.1f} ms (target <= 150 ms)"),
            ("points", points <= MAX_POINTS, f"at most {points:,} points a trace (target <= 2,000)"),
            ("web_peak_rss_mb", rss is not None and rss < RSS_TARGET_MB,
             f"web process peak RSS {rss} MB (target < 600 MB)"),
        )
        for key, ok, line in checks:
            verdicts[f"{d}_{key}"] = verdict(ok)
            print(f"{verdict(ok)}  {d}: {line}")
    return verdicts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=30,
                        help="timed requests of each view (after 3 warm-ups)")
    parser.add_argument("--baseline-repeats", type=int, default=3,
                        help="timed requests of the view without downsampling")
    parser.add_argument("--days", type=int, default=365, help="days of 1-minute readings")
    parser.add_argument("--total-readings", type=int, default=10_000_000,
                        help="readings in the table in all (filler sensors make up the rest)")
    parser.add_argument("--postgres-url",
                        default=os.environ.get("TWIN_TEST_POSTGRES_URL") or DEFAULT_PG_URL,
                        help="a PostgreSQL server (its own database is not touched)")
    parser.add_argument("--keep", action="store_true",
                        help="build or reuse twin_bench_dashboard_keep_<days>d_<total>, and keep it")
    args = parser.parse_args(argv)
    if args.days < 3 or args.repeats < 1 or args.baseline_repeats < 1:
        parser.error("--days must be >= 3, --repeats and --baseline-repeats >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A terminated run still drops its databases and stops its children (the finally blocks).
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    dialects = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    figures: dict[str, Any] = {
        "benchmark": "dashboard", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "days": args.days, "total_readings": args.total_readings, "repeats": args.repeats,
        "baseline_repeats": args.baseline_repeats, "cpus": os.cpu_count(),
        "python": platform.python_version(), "loadavg_start": loadavg(),
    }
    tag = f"{args.days}d_{args.total_readings}"
    with tempfile.TemporaryDirectory(prefix="twin-bench-dashboard-") as tmp:
        home = Path(tmp)
        for d in dialects:
            bench: BenchDatabase = (
                PostgresBenchDatabase(args.postgres_url, "twin_bench_dashboard", tag, args.keep)
                if d == "postgresql" else
                SqliteBenchDatabase(Path(tempfile.gettempdir()) / "twin-bench-keep" if args.keep
                                    else home, "twin_bench_dashboard", tag, args.keep))
            try:
                figures.update(run(bench, args, home))
            finally:
                bench.close()
                if args.keep:
                    log(f"kept {bench.name} (drop it with: {bench.how_to_drop()})")
    figures["loadavg_end"] = loadavg()
    verdicts = report(dialects, figures)
    print(f"\nload average (1, 5, 15 min): {figures['loadavg_start']} at the start, "
          f"{figures['loadavg_end']} at the end, on {figures['cpus']} CPUs")
    print(json.dumps({**figures, "verdicts": verdicts,
                      "pass": all(v == "PASS" for v in verdicts.values())}, default=str))
    return 0 if all(v == "PASS" for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
