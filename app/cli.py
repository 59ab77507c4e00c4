"""The ``twin`` command: run the portal, workers and beat; migrate; seed; generate; simulate;
manage users.

Every command reads the same settings (``settings/settings.json`` plus ``TWIN_*`` variables) and
logs to the console and ``twin_logs.txt``. A problem the user can fix (bad settings, a database
that does not answer, a bad argument) prints one line and exits non-zero, without a traceback.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click

from settings import Settings

log = logging.getLogger("twin.cli")

from app.cli_support import (  # noqa: E402  (shared with app/cli_catalogue.py)
    EXIT_SETTINGS,
    EXIT_UNAVAILABLE,
    F,
    _database,
    _fail,
    _process,
    _settings,
    friendly_errors,
)


def _require_broker(settings: Settings) -> None:
    from app.system import broker_status

    status = broker_status(settings, timeout_s=3.0)
    if status["status"] != "ok":
        _fail(
            f"the broker {status['url']} does not answer ({status['error']}): check "
            "TWIN_BROKER_URL and that the server is running (unset it for the embedded broker)",
            EXIT_UNAVAILABLE,
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Energy Twin: a digital twin of an energy supplier's estate.

    Settings come from settings/settings.json and TWIN_* environment variables
    (TWIN_HOME, TWIN_DATABASE_URL, TWIN_BROKER_URL, TWIN_SECRET_KEY, ...).
    """


# -- database -----------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
@friendly_errors
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Bring the database (SQLite, PostgreSQL or SQL Server) to the latest schema."""
    from app.db.migrate import current_revision, upgrade

    # Checks come before logging is set up, so a bad URL leaves nothing behind.
    settings = _settings(ctx)
    database = _database(settings)
    _process(ctx, "cli")
    before = current_revision(database.engine)
    upgrade(database.engine, revision)
    after = current_revision(database.engine)
    url = database.engine.url.render_as_string(hide_password=True)
    message = (f"{url}: already at revision {after}" if before == after
               else f"{url}: upgraded from {before or 'empty'} to {after}")
    log.info(message)
    click.echo(message)


@db.command("current")
@click.pass_context
@friendly_errors
def db_current(ctx: click.Context) -> None:
    """Print the database's schema revision and the latest one."""
    from app.db.migrate import current_revision, head_revision

    database = _database(_settings(ctx))
    click.echo(f"current: {current_revision(database.engine) or 'empty'}")
    click.echo(f"latest:  {head_revision(database.engine)}")


# -- data ---------------------------------------------------------------------------------


@main.command("seed-demo")
@click.pass_context
@friendly_errors
def seed_demo_command(ctx: click.Context) -> None:
    """Load the demo estate into an empty database (demo mode only: TWIN_DEMO=1)."""
    settings = _settings(ctx)
    if not settings.demo:
        _fail("seed-demo creates users with printed passwords, so it runs only in demo mode: "
              "set TWIN_DEMO=1")
    database = _database(settings, require_head=True)
    _process(ctx, "cli")
    logins = _seed(settings, database)
    _print_logins(logins)


def _seed(settings: Settings, database: Any) -> list[Any]:
    from tqdm import tqdm

    from app.demo import seed_demo

    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            for other in bars.values():
                other.close()
            unit = "rows" if stage == "sensor readings" else "assets"
            bars[stage] = tqdm(total=total, unit=unit, unit_scale=unit == "rows",
                               desc=f"demo {stage}", file=sys.stderr)
        bars[stage].update(done - bars[stage].n)

    try:
        return seed_demo(database, settings, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()


def _print_logins(logins: list[Any]) -> None:
    click.echo("\nDemo logins (demo mode only; kept in the data home as demo_logins.json):")
    for login in logins:
        click.echo(f"  {login.supplier:<18} {login.role:<9} {login.email:<32} {login.password}")
    click.echo("")


def _parse_time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date or time (e.g. 2024-10-01T00:00)",
                                 param_hint=name) from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed


def _open_range(ctx: click.Context, start: str,
                end: str) -> tuple[Settings, Any, datetime, datetime]:
    """Settings, the database (migrated to head) and the parsed --from/--to of an asset command."""
    settings = _settings(ctx)
    begin, finish = _parse_time(start, "--from"), _parse_time(end, "--to")
    if finish <= begin:
        raise click.BadParameter("must be after --from", param_hint="--to")
    database = _database(settings, require_head=True)
    _process(ctx, "cli")
    return settings, database, begin, finish


def _asset_range_options(func: F) -> F:
    """--asset, --from, --to and --interval: the readings of an asset over a range."""
    for option in reversed((
        click.option("--asset", "asset_id", type=int, required=True, help="Asset id."),
        click.option("--from", "start", required=True,
                     help="Start (ISO, UTC unless an offset is given)."),
        click.option("--to", "end", required=True, help="End, exclusive (ISO)."),
        click.option("--interval", type=click.IntRange(min=1), default=60, show_default=True,
                     help="Seconds between readings."),
    )):
        func = option(func)
    return func


@main.command()
@_asset_range_options
@click.option("--seed", type=int, default=None, help="Random seed (default: the demo seed).")
@click.pass_context
@friendly_errors
def generate(ctx: click.Context, asset_id: int, start: str, end: str, interval: int,
             seed: int | None) -> None:
    """Generate sine-plus-noise readings for every sensor of an asset, through the bulk path."""
    from sqlalchemy import select
    from tqdm import tqdm

    from app.db.models import Asset
    from app.generator import count_points, generate_chunks
    from app.ingest import write_sensor_readings
    from app.twins import asset_type

    settings, database, begin, finish = _open_range(ctx, start, end)
    with database.Session() as session:
        asset = session.scalar(select(Asset).where(Asset.id == asset_id))
        if asset is None:
            _fail(f"no asset with id {asset_id}")
        kind = asset_type(asset.asset_type)
        sensors = [(s.id, kind.sensor(s.name).signal) for s in asset.sensors
                   if s.name in {spec.name for spec in kind.sensors}]
    step = timedelta(seconds=interval)
    total = count_points(begin, finish, step) * len(sensors)
    seed = settings.demo_data.seed if seed is None else seed
    with tqdm(total=total, unit="rows", unit_scale=True, desc=f"asset {asset_id}",
              file=sys.stderr) as bar:
        written = 0
        for sensor_id, signal_spec in sensors:
            frames = generate_chunks(signal_spec, sensor_id, begin, finish, step, seed=seed,
                                     chunk_rows=settings.ingest.chunk_rows)
            written += write_sensor_readings(database.sensors_engine, frames,
                                             chunk_rows=settings.ingest.chunk_rows,
                                             progress=bar.update).rows
    message = f"wrote {written:,} readings for {len(sensors)} sensors of asset {asset_id}"
    log.info(message)
    click.echo(message)


_ISO = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
_FAULT = re.compile(rf"(?P<kind>[a-z_]+):(?P<start>{_ISO}):(?P<end>{_ISO})"
                    r"(?::(?P<sensor>[a-z_0-9]+))?(?:@(?P<magnitude>[-+0-9.eE]+))?")


def _parse_faults(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[Any]:
    """``kind:start:end[:sensor][@magnitude]`` for each ``--fault`` (times ISO; colons allowed)."""
    from app.simulation import FAULT_KINDS, Fault

    faults = []
    for value in values:
        match = _FAULT.fullmatch(value)
        if match is None:
            raise click.BadParameter(f"{value!r} is not kind:start:end[:sensor][@magnitude], e.g. "
                                     "leak:2024-10-01T06:00:2024-10-01T09:00@0.2",
                                     param_hint="--fault")
        try:
            faults.append(Fault(match["kind"], _parse_time(match["start"], "--fault"),
                                _parse_time(match["end"], "--fault"), match["sensor"],
                                float(match["magnitude"] or 1.0)))
        except ValueError as exc:
            known = "" if match["kind"] in FAULT_KINDS else f" (kinds: {', '.join(FAULT_KINDS)})"
            raise click.BadParameter(f"{value!r}: {exc}{known}", param_hint="--fault") from None
    return faults


@main.command()
@_asset_range_options
@click.option("--fault", "faults", multiple=True, callback=_parse_faults,
              help="kind:start:end[:sensor][@magnitude], kind one of leak, stuck_sensor, drift, "
                   "spike, overuse; repeatable.")
@click.option("--seed", type=int, default=None, help="Random seed (default: the asset id).")
@click.option("--fresh", is_flag=True, help="Start from the design point, not the stored readings.")
@click.pass_context
@friendly_errors
def simulate(ctx: click.Context, asset_id: int, start: str, end: str, interval: int,
             faults: list[Any], seed: int | None, fresh: bool) -> None:
    """Simulate an asset's physics (resuming from its newest readings) and store the readings
    through the bulk path."""
    from tqdm import tqdm

    from app.simulation import simulate_asset, write

    _, database, begin, finish = _open_range(ctx, start, end)
    try:
        result = simulate_asset(database, asset_id, begin, finish, interval_s=interval, seed=seed,
                                faults=faults, resume=not fresh)
    except (LookupError, ValueError) as exc:  # no such asset, sensor or fault for its type
        _fail(str(exc).strip("'\""))
        return
    with tqdm(total=result.frame.size, unit="rows", unit_scale=True, desc=f"asset {asset_id}",
              file=sys.stderr) as bar:
        written = write(database, asset_id, result, progress=bar.update)
    for label in result.labels.itertuples():
        click.echo(f"  {label.kind} {label.start:%Y-%m-%d %H:%M}..{label.end:%Y-%m-%d %H:%M} UTC "
                   f"on {', '.join(label.sensors)}")
    message = (f"wrote {written:,} readings for asset {asset_id} "
               f"({len(result.labels)} faults injected)")
    log.info(message)
    click.echo(message)


# -- file import --------------------------------------------------------------------------

EXIT_REFUSED = 4
IMPORT_EPILOG = """\b
Exit status:
  0  every line stored (or already stored)
  4  some lines refused: the others are stored; see the summary or --refused-report
  1  the file cannot be read (nothing stored)
  2  bad settings or options;  3  the database does not answer"""


def _import_options(func: F) -> F:
    """FILE, --supplier, --tz, --map and --refused-report: what every import takes."""
    for option in reversed((
        click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        click.option("--supplier", "supplier_name", default=None,
                     help="The supplier whose readings these are (needed when there are several)."),
        click.option("--tz", default="Europe/London", show_default=True,
                     help="Time zone of times written without an offset (e.g. UTC). Times with "
                          "an offset (Z, +01:00) are taken as written."),
        click.option("--map", "maps", multiple=True, metavar="FIELD=HEADER",
                     help="Read FIELD from the column headed HEADER (repeatable; FIELD= alone "
                          "ignores a guessed column). Columns are otherwise found by header."),
        click.option("--refused-report", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="Write every refused line (line, field, message and "
                                        "its values) to this CSV file."),
    )):
        func = option(func)
    return func


def _parse_maps(maps: tuple[str, ...]) -> dict[str, str | None]:
    mapping: dict[str, str | None] = {}
    for item in maps:
        name, sep, header = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not FIELD=HEADER, e.g. ts=Timestamp",
                                     param_hint="--map")
        mapping[name.strip()] = header.strip() or None
    return mapping


def _import_supplier(database: Any, name: str | None) -> tuple[int, str]:
    from sqlalchemy import select

    from app.db.models import Supplier

    with database.Session() as session:
        if name is not None:
            found = session.scalar(select(Supplier).where(Supplier.name == name))
            if found is None:
                names = ", ".join(session.scalars(select(Supplier.name).order_by(Supplier.name)))
                _fail(f"no supplier named {name!r} (suppliers: {names or 'none yet'})")
            return found.id, found.name
        every = session.execute(select(Supplier.id, Supplier.name).order_by(Supplier.name)).all()
    if len(every) != 1:
        _fail("no supplier yet: create one with `twin suppliers create NAME`" if not every else
              f"--supplier is needed: there are {len(every)} suppliers "
              f"({', '.join(row.name for row in every)})")
    return every[0].id, every[0].name


def _run_import(ctx: click.Context, kind: str, file: Path, supplier_name: str | None, tz: str,
                maps: tuple[str, ...], refused_report: Path | None) -> None:
    from tqdm import tqdm

    from app.importer import Progress, import_meters, import_sensors

    mapping = _parse_maps(maps)
    settings = _settings(ctx)
    database = _database(settings, require_head=True)
    _process(ctx, "cli")
    supplier_id, supplier = _import_supplier(database, supplier_name)
    bars: dict[str, Any] = {}

    def progress(step: Progress) -> None:
        bar = bars.get(step.unit)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[step.unit] = tqdm(
                total=step.total, unit="B" if step.unit == "bytes" else " readings",
                unit_scale=step.unit == "bytes", desc=f"{kind} {'read' if step.unit == 'bytes' else 'saved'}",
                file=sys.stderr)
        bar.update(step.done - bar.n)
        if step.unit == "bytes":
            bar.set_postfix_str(f"{step.rows:,} lines", refresh=False)

    common: dict[str, Any] = {"supplier_id": supplier_id, "tz": tz, "mapping": mapping,
                              "chunk_rows": settings.ingest.chunk_rows,
                              "refused_path": refused_report, "progress": progress}
    try:
        if kind == "sensors":
            report = import_sensors(database, file, **common)
        else:
            report = import_meters(database, file, tariff_settings=settings.tariffs, **common)
    finally:
        for bar in bars.values():
            bar.close()
    rate = f", {report.lines / report.seconds:,.0f} lines/s" if report.seconds >= 1 else ""
    message = f"{file.name} ({supplier}, {kind}): {report.summary()} in {report.seconds:.1f} s{rate}"
    log.info(message)
    click.echo(message)
    if report.refused_rows:
        shown = report.refusals[:10]
        click.echo(f"first refused line{'s' if len(shown) > 1 else ''}:")
        for one in shown:
            click.echo(f"  line {one.line}, {one.field}: {one.message}")
        if report.problems > len(shown):
            click.echo(f"  ... and {report.problems - len(shown):,} more problem(s)")
        if refused_report is not None:
            click.echo(f"every refused line is in {refused_report}")
        sys.exit(EXIT_REFUSED)


@main.group("import")
def import_group() -> None:
    """Import sensor or meter readings from CSV files."""


@import_group.command("sensors", epilog=IMPORT_EPILOG)
@_import_options
@click.pass_context
@friendly_errors
def import_sensors_command(ctx: click.Context, file: Path, supplier_name: str | None, tz: str,
                           maps: tuple[str, ...], refused_report: Path | None) -> None:
    """Import sensor readings from FILE.csv through the bulk path.

    Each line names a sensor by its id (sensor_id) or by its asset and sensor names (asset,
    sensor; add a site column where asset names repeat across sites), with a time (ts) and a
    value. Headers are matched case-insensitively, with common aliases (time, timestamp,
    datetime; reading; sensor). Importing a file again changes nothing: a reading for a sensor
    and time already stored is replaced by the file's value.
    """
    _run_import(ctx, "sensors", file, supplier_name, tz, maps, refused_report)


@import_group.command("meters", epilog=IMPORT_EPILOG)
@_import_options
@click.pass_context
@friendly_errors
def import_meters_command(ctx: click.Context, file: Path, supplier_name: str | None, tz: str,
                          maps: tuple[str, ...], refused_report: Path | None) -> None:
    """Import meter readings from FILE.csv, checked as the portal's reading form checks them.

    Each line names a meter by its serial (serial) or id (meter_id), with when it was read
    (read_at), the reading (value) and optionally its kind (actual/estimated, A/E) and a reason.
    Lines are saved meter by meter in time order, whatever the file's order. A reading lower
    than the previous one, with no advance, or over twice the usual use is stored only with a
    reason. A reading already stored with the same value counts as already stored, so
    importing a file again changes nothing.
    """
    _run_import(ctx, "meters", file, supplier_name, tz, maps, refused_report)


# -- people -------------------------------------------------------------------------------


@main.group()
def suppliers() -> None:
    """Manage suppliers (tenants)."""


@suppliers.command("create")
@click.argument("name")
@click.option("--billing-email", default=None, help="Where cost summaries are copied.")
@click.pass_context
@friendly_errors
def suppliers_create(ctx: click.Context, name: str, billing_email: str | None) -> None:
    """Create a supplier."""
    from sqlalchemy import select

    from app.db.models import Supplier

    database = _database(_settings(ctx), require_head=True)
    _process(ctx, "cli")
    with database.Session() as session, session.begin():
        if session.scalar(select(Supplier).where(Supplier.name == name)) is not None:
            _fail(f"a supplier named {name!r} already exists")
        session.add(Supplier(name=name.strip(), billing_email=billing_email))
    log.info("created supplier %r", name)
    click.echo(f"created supplier {name!r}")


@main.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.option("--supplier", "supplier_name", required=True, help="The supplier's name.")
@click.option("--email", required=True)
@click.option("--name", default="", help="Display name (default: the email).")
@click.option("--role", type=click.Choice(["admin", "operator", "viewer"]), default="viewer",
              show_default=True)
@click.password_option(help="Prompted for when not given (at least 10 characters).")
@click.pass_context
@friendly_errors
def users_create(ctx: click.Context, supplier_name: str, email: str, name: str, role: str,
                 password: str) -> None:
    """Create a user of a supplier."""
    from app.accounts import create_user

    database = _database(_settings(ctx), require_head=True)
    _process(ctx, "cli")
    with database.Session() as session, session.begin():
        user = create_user(session, supplier_name=supplier_name, email=email, name=name,
                           password=password, role=role)
        log.info("created %s %s for %s", role, user.email, supplier_name)
        click.echo(f"created {role} {user.email} for {supplier_name}")


# -- processes ----------------------------------------------------------------------------


def web_server(settings: Settings, host: str, port: int) -> Any:
    """The portal's waitress server, listening and ready to ``run()`` (port 0: a free port,
    see its ``effective_port``)."""
    import gc

    from threadpoolctl import threadpool_limits
    from waitress import create_server

    from app import create_app

    app = create_app(settings)
    # One BLAS/OpenMP thread per request thread: waitress already serves requests side by side,
    # and on a busy two-core host OpenBLAS's own threads spin against each other. The asset
    # page's expectation plot (small ridge fits) took 3.9 s with the default threads against
    # 1.0 s with one, beside other work (see app.forecasting.engine.THREADS for the workers).
    threadpool_limits(limits=1)
    # What the app has built by now (Dash, plotly's validators, pandas, SQLAlchemy: some 250,000
    # objects) lives as long as the process. Frozen, a full collection no longer walks it all:
    # unfrozen, the asset page's year view (26,000 rollup rows a request) set one off every
    # other request, which took 180-400 ms on the busy 2-core bench machine (bench/dashboard.py).
    gc.collect()
    gc.freeze()
    return create_server(app, host=host, port=port, threads=settings.web.threads,
                         ident="energy-twin")


def _serve(settings: Settings, host: str, port: int) -> None:
    server = web_server(settings, host, port)
    log.info("portal on http://%s:%d (%d threads); API docs on http://%s:%d/api/v1/docs",
             host, port, settings.web.threads, host, port)
    server.print_listen("Serving on http://{}:{}")
    server.run()


@main.command()
@click.option("--host", default=None, help="Interface (default from settings: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 8050).")
@click.pass_context
@friendly_errors
def web(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the portal with waitress (a production WSGI server)."""
    settings = _settings(ctx)
    settings.require_secret_key()
    _database(settings, require_head=True)
    _process(ctx, "web")
    _serve(settings, host or settings.web.host, port or settings.web.port)


@main.command()
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--loglevel", default="INFO", show_default=True)
@click.pass_context
@friendly_errors
def worker(ctx: click.Context, concurrency: int, loglevel: str) -> None:
    """Run a Celery worker on the configured broker."""
    from workers.celery_app import create_celery

    settings = _settings(ctx)
    _database(settings, require_head=True)
    _require_broker(settings)
    _process(ctx, "worker")
    celery = create_celery(settings)
    celery.worker_main(["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel}"])


@main.command()
@click.option("--pidfile", default=None, help="Pid file (default: celerybeat.pid in the data home).")
@click.option("--loglevel", default="INFO", show_default=True)
@click.pass_context
@friendly_errors
def beat(ctx: click.Context, pidfile: str | None, loglevel: str) -> None:
    """Run Celery beat, the scheduler."""
    import socket
    import threading
    from datetime import timedelta

    from app import leases
    from app.schedule import ScheduleError
    from app.schedule import load as load_schedule
    from workers.celery_app import create_celery

    settings = _settings(ctx)
    try:
        entries = load_schedule(settings.pipeline.schedule_file)
    except ScheduleError as exc:
        _fail(str(exc), EXIT_SETTINGS)
    database = _database(settings, require_head=True)
    _require_broker(settings)
    _process(ctx, "beat")
    settings.home_dir.mkdir(parents=True, exist_ok=True)
    # Only one beat may schedule: a second waits for the first's lease to lapse.
    holder, ttl = f"{socket.gethostname()}:{os.getpid()}", timedelta(seconds=60)
    if not leases.acquire(database, "celery-beat", holder, ttl):
        log.warning("another beat holds the schedule lease; waiting to take over")
        while not leases.acquire(database, "celery-beat", holder, ttl):
            time.sleep(10)
    log.info("beat holds the schedule lease (%d pipeline entries)", len(entries))

    def renew() -> None:
        while True:
            time.sleep(ttl.total_seconds() / 3)
            if not leases.acquire(database, "celery-beat", holder, ttl):
                log.error("beat lost its schedule lease to another beat; stopping")
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=renew, name="beat-lease", daemon=True).start()
    celery = create_celery(settings, beat=True)
    try:
        celery.start([
            "beat",
            f"--schedule={settings.home_dir / 'celerybeat-schedule'}",
            f"--pidfile={pidfile or settings.home_dir / 'celerybeat.pid'}",
            f"--loglevel={loglevel}",
        ])
    finally:
        leases.release(database, "celery-beat", holder)


# -- the pipeline -------------------------------------------------------------------------


@main.group("pipeline")
def pipeline_group() -> None:
    """Run the twin's pipeline in this process."""


@pipeline_group.command("run")
@click.option("--asset", "asset_refs", multiple=True,
              help="An asset (id or name; repeat for several). Default: every live asset.")
@click.option("--supplier", "supplier_name", default=None,
              help="Only this supplier's assets (and where asset names are looked up).")
@click.option("--from", "start", default=None, help="Start (ISO; default: where the last run stopped).")
@click.option("--to", "end", default=None, help="End, exclusive (ISO; default: the newest data).")
@click.option("--target", "targets", multiple=True,
              help="Also train, predict and validate this target (default: the asset's chosen "
                   "targets, else the schedule's for its type).")
@click.option("--no-models", is_flag=True, help="Only calculate.")
@click.pass_context
@friendly_errors
def pipeline_run(ctx: click.Context, asset_refs: tuple[str, ...], supplier_name: str | None,
                 start: str | None, end: str | None, targets: tuple[str, ...], no_models: bool) -> None:
    """Calculate assets' data, then train (if needed), predict and validate their models: the
    same code the workers run, with a progress bar. Each asset ends with its status; one that
    fails does not stop the others (the exit code is 1 if any failed)."""
    from tqdm import tqdm

    from app import pipeline, schedule

    settings = _settings(ctx)
    begin = _parse_time(start, "--from") if start else None
    finish = _parse_time(end, "--to") if end else None
    database = _database(settings, require_head=True)
    _process(ctx, "cli")
    chosen = _pipeline_assets(database, asset_refs, supplier_name)
    if not chosen:
        _fail("no live assets to run: create one with `twin assets create`")
    entries = schedule.load(settings.pipeline.schedule_file)
    failed = 0
    for asset_id, name, asset_type, forecast_targets in chosen:
        wanted = [] if no_models else (list(targets) or schedule.slots_for(
            entries, asset_type, asset_id, forecast_targets))
        click.echo(f"asset {asset_id} {name!r} ({asset_type})")
        try:
            with tqdm(total=1, unit="batch", desc=f"asset {asset_id}", file=sys.stderr) as bar:
                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                summary = pipeline.run(database, settings, asset_id, wanted, start=begin, end=finish,
                                       progress=progress)
        except Exception as exc:  # one asset's failure is reported; the others go on
            log.exception("pipeline run of asset %s failed", asset_id)
            click.echo(f"  failed: {type(exc).__name__}: {exc}")
            failed += 1
            continue
        click.echo(f"  calculate: {summary.decision}; {summary.rows:,} readings in {summary.batches} batches")
        for target, outcome in summary.details.get("targets", {}).items():
            click.echo(f"  {target}: {outcome}")
        for note in summary.details.get("status", []):
            click.echo(f"  attention: {note}")
        if not summary.details.get("status"):
            click.echo("  status: ok")
        click.echo("  timings: " + ", ".join(f"{stage} {seconds:.2f} s"
                                             for stage, seconds in summary.timings_s.items()))
    if failed:
        sys.exit(1)


def _pipeline_assets(database: Any, refs: tuple[str, ...],
                     supplier_name: str | None) -> list[tuple[int, str, str, list[str] | None]]:
    """(id, name, type, chosen targets) of the assets ``refs`` name, or of every live asset."""
    from sqlalchemy import select

    from app.db.models import Asset, Site, Supplier

    with database.Session() as session:
        query = (select(Asset.id, Asset.name, Asset.asset_type, Asset.forecast_targets)
                 .join(Site, Site.id == Asset.site_id))
        if supplier_name:
            supplier_id = session.scalar(select(Supplier.id).where(Supplier.name == supplier_name))
            if supplier_id is None:
                _fail(f"no supplier {supplier_name!r}")
            query = query.where(Site.supplier_id == supplier_id)
        if not refs:
            query = query.where(Asset.retired_at.is_(None), Site.retired_at.is_(None))
            return [tuple(row) for row in session.execute(query.order_by(Asset.id))]  # type: ignore[misc]
        found = []
        for ref in refs:
            rows = session.execute(query.where(Asset.id == int(ref)) if ref.isdigit()
                                   else query.where(Asset.name == ref)).all()
            if not rows:
                _fail(f"no asset {ref}" if ref.isdigit() else f"no asset called {ref!r}")
            if len(rows) > 1:
                _fail(f"several assets are called {ref!r}: give its id (`twin assets list`)")
            found.append(tuple(rows[0]))
        return found  # type: ignore[return-value]


@main.group()
def rollups() -> None:
    """Hourly sensor rollups, which plots of long ranges read."""


@rollups.command("refresh")
@click.option("--asset", "asset_id", type=int, default=None,
              help="Only this asset's sensors and calculations (default: every one).")
@click.option("--from", "start", default=None,
              help="Recompute from the hour of this time on (ISO; default: all history).")
@click.pass_context
@friendly_errors
def rollups_refresh(ctx: click.Context, asset_id: int | None, start: str | None) -> None:
    """Recompute hourly rollups from the stored readings: once after upgrading, and after
    back-filling history older than what the pipeline has calculated."""
    from sqlalchemy import select

    from app.db.models import Asset, Sensor
    from app.series import refresh_calculation_rollups, refresh_rollups

    settings = _settings(ctx)
    since = _parse_time(start, "--from") if start else None
    database = _database(settings, require_head=True)
    _process(ctx, "cli")
    with database.Session() as session:
        query = select(Sensor.id) if asset_id is None else select(Sensor.id).where(
            Sensor.asset_id == asset_id)
        sensor_ids = list(session.scalars(query))
        asset_ids = list(session.scalars(select(Asset.id) if asset_id is None
                                         else select(Asset.id).where(Asset.id == asset_id)))
    written = refresh_rollups(database, sensor_ids, since=since)
    calculated = sum(refresh_calculation_rollups(database, one, since=since) for one in asset_ids)
    message = (f"refreshed {written:,} hourly rollups of {len(sensor_ids)} sensors and "
               f"{calculated:,} of the calculations of {len(asset_ids)} assets")
    log.info(message)
    click.echo(message)


@main.group()
def email() -> None:
    """Cost-summary and alert emails (normally sent by the workers)."""


def _deliver_now(settings: Settings, database: Any, log_ids: list[int]) -> None:
    from app.db.base import utcnow
    from app.mail.delivery import RetryLater, deliver

    for log_id in log_ids:
        try:
            outcome = deliver(database, settings, log_id, utcnow())
        except RetryLater as exc:
            outcome = f"not sent, try again later ({exc})"
        click.echo(f"email {log_id}: {outcome}")


@email.command("monthly")
@click.option("--now", "send_now", is_flag=True, help="Send in this process instead of queueing.")
@click.pass_context
@friendly_errors
def email_monthly(ctx: click.Context, send_now: bool) -> None:
    """Last month's cost summary of each supplier, to its billing contact (once per month)."""
    from app.db.base import utcnow
    from app.mail.requests import queue_monthly_summaries

    settings = _process(ctx, "cli")
    database = _database(settings, require_head=True)
    with database.Session() as session, session.begin():
        log_ids = queue_monthly_summaries(session, settings, utcnow())
    click.echo(f"{len(log_ids)} new monthly summar{'y' if len(log_ids) == 1 else 'ies'}")
    if send_now:
        _deliver_now(settings, database, log_ids)
    else:
        from app.queue import TaskQueue

        queue = TaskQueue(settings)
        for log_id in log_ids:
            queue.send("twin.email.send", log_id)


@email.command("flush")
@click.pass_context
@friendly_errors
def email_flush(ctx: click.Context) -> None:
    """Send, in this process, every message still waiting (pending, or stuck with a dead worker)."""
    from sqlalchemy import select

    from app.db.base import utcnow
    from app.db.models import EmailLog
    from app.mail.delivery import due

    settings = _process(ctx, "cli")
    database = _database(settings, require_head=True)
    with database.Session() as session:
        waiting = list(session.scalars(select(EmailLog.id).where(EmailLog.status == "pending")))
    _deliver_now(settings, database, sorted(set(waiting) | set(due(database, settings, utcnow()))))


@main.group()
def models() -> None:
    """The model registry."""


@models.command("list")
@click.option("--asset", "asset_id", type=int, default=None, help="Only this asset.")
@click.option("--supplier", "supplier_name", default=None,
              help="Only this supplier's assets (default: every supplier's).")
@click.pass_context
@friendly_errors
def models_list(ctx: click.Context, asset_id: int | None, supplier_name: str | None) -> None:
    """Print what serves for each asset, target and mode: the method and the baseline it beat,
    the horizon, the backtest per horizon, the latest validation and the version history."""
    from sqlalchemy import select

    from app.db.models import Supplier
    from app.model_registry import slots

    database = _database(_settings(ctx), require_head=True)
    with database.Session() as session:
        query = select(Supplier.id, Supplier.name).order_by(Supplier.name)
        if supplier_name:
            query = query.where(Supplier.name == supplier_name)
        suppliers = session.execute(query).all()
        if supplier_name and not suppliers:
            _fail(f"no supplier {supplier_name!r}")
        found = [(name, listed) for supplier_id, name in suppliers
                 if (listed := slots(session, supplier_id, asset_id))]
        if not found:
            click.echo("no models yet: `twin pipeline run --asset ID` trains one")
            return
        for name, listed in found:
            click.echo(name)
            for slot in listed:
                click.echo("\n".join(_slot_lines(slot)))


def _slot_lines(slot: Any) -> list[str]:
    """A model slot (:class:`app.model_registry.Slot`) as indented lines of plain text."""
    from app.model_registry import history_text, validation_text

    served = slot.served
    lines = [f"  asset {slot.asset_id} {slot.asset_label}: {slot.target} ({slot.mode})",
             f"    serving    {slot.serving_text}",
             f"    verdict    {served.verdict}"]
    label = "backtest" if served.backtested else "scores"
    for score in served.scores:
        ahead, n, mae, mape, coverage = score.cells(served.coverage_nominal)
        lines.append(f"    {label:<10} {ahead:<16} n {n:>7}  MAE {mae:>9}  MAPE {mape:>7}  "
                     f"coverage {coverage}")
        label = ""
    checked = "not yet"
    if slot.latest is not None:
        validation, number = slot.latest
        checked = f"v{number} {validation.window_to:%Y-%m-%d %H:%M} UTC, {validation_text(validation)}"
    lines += [f"    validated  {checked}", f"    versions   {history_text(slot.versions)}"]
    return lines


@main.command()
@click.option("--host", default=None, help="Interface (default from settings: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 8050).")
@click.pass_context
@friendly_errors
def run(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Everything at once: migrate, seed demo data on first run (demo mode), then the portal
    with a worker and beat. Ctrl-C stops all of it."""
    from app.db.migrate import upgrade
    from app.demo import is_seeded, read_logins

    settings = _settings(ctx)
    settings.require_secret_key()
    database = _database(settings)
    _require_broker(settings)
    _process(ctx, "run")
    upgrade(database.engine)
    with database.Session() as session:
        seeded = is_seeded(session)
    if settings.demo and not seeded:
        click.echo("First run: loading the demo estate (two or three minutes: 30 days of readings, "
                   "and a first model of each target backtested against its baselines)...")
        _seed(settings, database)
    database.dispose()

    children = [
        subprocess.Popen([sys.executable, "-m", "app", "worker"]),
        subprocess.Popen([sys.executable, "-m", "app", "beat"]),
    ]
    # Ctrl-C and SIGTERM both stop everything. SIGINT is set explicitly: a process started in
    # the background of a non-interactive shell inherits it ignored.
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    host, port = host or settings.web.host, port or settings.web.port
    try:
        if settings.demo:
            _print_logins(read_logins(settings))
        click.echo(f"Energy Twin portal: http://{host}:{port}   (Ctrl-C stops portal, worker and beat)")
        _serve(settings, host, port)
    except KeyboardInterrupt:
        click.echo("\nstopping...")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop(children)


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _stop(children: list[subprocess.Popen[bytes]], grace_s: float = 15.0) -> None:
    """Ask each child to finish (Celery shuts down warm on SIGTERM), then insist."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("process %d did not stop in %.0f s; killing it", child.pid, grace_s)
            child.kill()
            child.wait()


# The catalogue's commands live in their own module; it imports this one's helpers.
from app.cli_catalogue import COMMANDS  # noqa: E402

for _command in COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
