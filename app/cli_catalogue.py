"""``twin sites``, ``twin assets``, ``twin sensors`` and ``twin catalogue``: a supplier's plant
from the command line, through the same rules as the API and the portal
(:mod:`app.plant.catalogue`). Registered on the ``twin`` group by :mod:`app.cli`.

Sites, assets and sensors are named as people name them: ``--site "Grid"``, ``twin assets
update "Feeder 7"``; a number is taken as an id. ``--supplier`` may be left out while the
database holds one supplier.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cli_support import _database, _fail, _process, _settings, friendly_errors

SUPPLIER_OPTION = click.option("--supplier", "supplier_name", default=None,
                               help="The supplier's name (needed when there are several).")
_FORMULA = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(?:\[([^\]]*)\])?\s*=\s*(.+)$", re.S)


@contextmanager
def _catalogue(ctx: click.Context, supplier_name: str | None, *, write: bool = True) -> Iterator[tuple[Session, Any]]:
    """A session in a transaction and the CLI's actor for the chosen supplier."""
    from app.db.models import Supplier
    from app.plant.catalogue import Actor, supplier_by_name

    settings = _settings(ctx)
    database = _database(settings, require_head=True)
    _process(ctx, "cli")
    with database.Session() as session:
        transaction = session.begin()
        try:
            if supplier_name:
                supplier = supplier_by_name(session, supplier_name)
            else:
                count = session.scalar(select(func.count()).select_from(Supplier)) or 0
                if count != 1:
                    _fail("name the supplier with --supplier" + (
                        f" (there are {count})" if count else ": there is none yet, create it "
                        "with `twin suppliers create NAME`"))
                supplier = session.scalars(select(Supplier)).one()
            session.info["readings"] = database.sensors_engine
            yield session, Actor(supplier.id, via="cli")
        except BaseException:
            transaction.rollback()
            raise
        if write:
            transaction.commit()
        else:  # a listing or a dry run: whatever it flushed goes
            transaction.rollback()


def _site(session: Session, actor: Any, ref: str) -> Any:
    from app.plant import catalogue as c

    return c.get_site(session, actor.supplier_id, int(ref)) if ref.isdigit() else \
        c.find_site(session, actor.supplier_id, ref)


def _asset(session: Session, actor: Any, ref: str, site: str | None) -> Any:
    from app.plant import catalogue as c

    return c.get_asset(session, actor.supplier_id, int(ref)) if ref.isdigit() else \
        c.find_asset(session, actor.supplier_id, ref, site)


def _sensor(session: Session, actor: Any, asset_ref: str, site: str | None, ref: str) -> Any:
    from app.plant import catalogue as c

    if ref.isdigit():
        return c.get_sensor(session, actor.supplier_id, int(ref))
    return c.find_sensor(session, _asset(session, actor, asset_ref, site), ref)


def _parameters(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, number = value.partition("=")
        if not sep or not key.strip():
            _fail(f"--param {value!r}: write NAME=NUMBER, e.g. --param efficiency=0.9")
        out[key.strip()] = number.strip()
    return out


def _formulas(values: tuple[str, ...]) -> list[dict[str, str]]:
    out = []
    for value in values:
        match = _FORMULA.match(value)
        if not match:
            _fail(f"--formula {value!r}: write NAME [UNIT] = EXPRESSION, e.g. "
                  "--formula 'power_kw [kW] = flow_m3h * dp_bar * 100 / 3.6 / efficiency'")
        out.append({"name": match.group(1), "unit": (match.group(2) or "").strip(),
                    "formula": match.group(3).strip()})
    return out


def _interval_text(seconds: int | None) -> str:
    if not seconds:
        return "-"
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _table(rows: list[list[Any]], header: list[str]) -> None:
    cells = [header] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _catalogue_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """friendly_errors, plus the catalogue's refusals as one line each."""
    from functools import wraps

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from app.plant.catalogue import CatalogueError, NotInCatalogue

        try:
            return func(*args, **kwargs)
        except CatalogueError as exc:
            _fail(str(exc))
        except NotInCatalogue as exc:
            _fail(f"{exc} for this supplier")

    return friendly_errors(wrapper)


# -- sites ------------------------------------------------------------------------------------


@click.group()
def sites() -> None:
    """A supplier's plant sites: create, list, update, retire, delete."""


@sites.command("create")
@SUPPLIER_OPTION
@click.option("--name", required=True)
@click.option("--location", default=None)
@click.option("--maintenance-email", "emails", multiple=True,
              help="Who gets the site's alert emails (repeat for several).")
@click.pass_context
@_catalogue_errors
def sites_create(ctx: click.Context, supplier_name: str | None, name: str, location: str | None,
                 emails: tuple[str, ...]) -> None:
    """Create a site."""
    from app.plant import catalogue as c

    with _catalogue(ctx, supplier_name) as (session, actor):
        site = c.create_site(session, actor, name=name, location=location,
                             maintenance_emails=list(emails) or None)
        click.echo(f"site {site.id} {site.name!r} created")


@sites.command("list")
@SUPPLIER_OPTION
@click.option("--retired", is_flag=True, help="Include retired sites.")
@click.pass_context
@_catalogue_errors
def sites_list(ctx: click.Context, supplier_name: str | None, retired: bool) -> None:
    """List the supplier's sites."""
    from app.plant import catalogue as c

    with _catalogue(ctx, supplier_name, write=False) as (session, actor):
        rows = [[s.id, s.name, s.location, len(c.list_assets(session, actor.supplier_id, site_id=s.id)),
                 "retired" if s.retired_at else "live"]
                for s in c.list_sites(session, actor.supplier_id, retired=retired)]
    _table(rows, ["id", "name", "location", "assets", "state"])


@sites.command("update")
@click.argument("site")
@SUPPLIER_OPTION
@click.option("--name", default=None, help="A new name.")
@click.option("--location", default=None)
@click.option("--maintenance-email", "emails", multiple=True, help="Replaces the list.")
@click.pass_context
@_catalogue_errors
def sites_update(ctx: click.Context, site: str, supplier_name: str | None, name: str | None,
                 location: str | None, emails: tuple[str, ...]) -> None:
    """Change a SITE (its name or id)."""
    from app.plant import catalogue as c

    changes: dict[str, Any] = {k: v for k, v in (("name", name), ("location", location)) if v is not None}
    if emails:
        changes["maintenance_emails"] = list(emails)
    with _catalogue(ctx, supplier_name) as (session, actor):
        found = c.update_site(session, actor, _site(session, actor, site).id, changes)
        click.echo(f"site {found.id} {found.name!r} updated")


@sites.command("retire")
@click.argument("site")
@SUPPLIER_OPTION
@click.option("--restore", is_flag=True, help="Bring a retired site back.")
@click.pass_context
@_catalogue_errors
def sites_retire(ctx: click.Context, site: str, supplier_name: str | None, restore: bool) -> None:
    """Retire a SITE: its history stays, its assets leave the pipeline and the lists."""
    from app.plant import catalogue as c

    with _catalogue(ctx, supplier_name) as (session, actor):
        found = c.retire_site(session, actor, _site(session, actor, site).id, retired=not restore)
        click.echo(f"site {found.id} {found.name!r} {'restored' if restore else 'retired'}")


@sites.command("delete")
@click.argument("site")
@SUPPLIER_OPTION
@click.pass_context
@_catalogue_errors
def sites_delete(ctx: click.Context, site: str, supplier_name: str | None) -> None:
    """Delete a SITE that has no assets (retire one that has)."""
    from app.plant import catalogue as c

    with _catalogue(ctx, supplier_name) as (session, actor):
        found = _site(session, actor, site)
        c.delete_site(session, actor, found.id)
        click.echo(f"site {found.name!r} deleted")


# -- assets -----------------------------------------------------------------------------------


def _asset_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--param", "params", multiple=True, help="A type parameter, NAME=NUMBER (repeat)."),
        click.option("--upstream", default=None, help="The asset it is fed from (name or id)."),
        click.option("--formula", "formulas", multiple=True,
                     help="A calculation, 'NAME [UNIT] = EXPRESSION' (repeat; replaces the list)."),
        click.option("--target", "targets", multiple=True,
                     help="A sensor or calculation to forecast (repeat; replaces the list)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _asset_changes(session: Session, actor: Any, site: str | None, params: tuple[str, ...],
                   upstream: str | None, formulas: tuple[str, ...], targets: tuple[str, ...]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if params:
        changes["parameters"] = _parameters(params)
    if upstream is not None:
        changes["upstream_id"] = _asset(session, actor, upstream, None).id if upstream else None
    if formulas:
        changes["formulas"] = _formulas(formulas)
    if targets:
        changes["forecast_targets"] = list(targets)
    return changes


@click.group()
def assets() -> None:
    """A site's assets: create, list, update, retire, delete."""


@assets.command("create")
@SUPPLIER_OPTION
@click.option("--site", required=True, help="The site (name or id).")
@click.option("--name", required=True)
@click.option("--type", "asset_type", default="generic", show_default=True,
              help="generic, or a built-in type: boiler, pressure_tank, pipeline, heat_exchanger, "
                   "drivetrain, water_dispenser.")
@click.option("--no-type-sensors", is_flag=True,
              help="Do not create a built-in type's sensors with the asset.")
@_asset_options
@click.pass_context
@_catalogue_errors
def assets_create(ctx: click.Context, supplier_name: str | None, site: str, name: str,
                  asset_type: str, no_type_sensors: bool, params: tuple[str, ...],
                  upstream: str | None, formulas: tuple[str, ...], targets: tuple[str, ...]) -> None:
    """Create an asset. A built-in type comes with its sensors; a generic one starts empty:
    add sensors with `twin sensors create`, then formulas and targets with `twin assets update`."""
    from app.plant import catalogue as c

    with _catalogue(ctx, supplier_name) as (session, actor):
        changes = _asset_changes(session, actor, site, params, upstream, formulas, targets)
        asset = c.create_asset(session, actor, site_id=_site(session, actor, site).id, name=name,
                               asset_type=asset_type, parameters=changes.get("parameters"),
                               upstream_id=changes.get("upstream_id"), formulas=changes.get("formulas"),
                               forecast_targets=changes.get("forecast_targets"),
                               type_sensors=not no_type_sensors)
        sensors = [s.name for s in c.list_sensors(session, actor.supplier_id, asset.id)]
        click.echo(f"asset {asset.id} {asset.name!r} ({asset.asset_type}) created"
                   + (f" with sensors {', '.join(sensors)}" if sensors else ""))


@assets.command("list")
@SUPPLIER_OPTION
@click.option("--site", default=None, help="Only this site (name or id).")
@click.option("--retired", is_flag=True, help="Include retired assets.")
@click.pass_context
@_catalogue_errors
def assets_list(ctx: click.Context, supplier_name: str | None, site: str | None, retired: bool) -> None:
    """List the supplier's assets."""
    from app.plant import catalogue as c

    with _catalogue(ctx, supplier_name, write=False) as (session, actor):
        site_id = _site(session, actor, site).id if site else None
        rows = []
        for asset in c.list_assets(session, actor.supplier_id, site_id=site_id, retired=retired):
            sensors = c.list_sensors(session, actor.supplier_id, asset.id)
            rows.append([asset.id, asset.site.name, asset.name, asset.asset_type, len(sensors),
                         ", ".join(c.calculation_names(asset)) or None,
                         ", ".join(asset.forecast_targets) if asset.forecast_targets is not None
                         else "(type default)", "retired" if asset.retired_at else "live"])
    _table(rows, ["id", "site", "name", "type", "sensors", "calculations", "forecast", "state"])


@assets.command("update")
@click.argument("asset")
@SUPPLIER_OPTION
@click.option("--site", default=None, help="The asset's site, when its name is not unique.")
@click.option("--name", default=None, help="A new name.")
@click.option("--move-to", default=None, help="Move it to this site (name or id).")
@click.option("--no-upstream", is_flag=True, help="Remove the upstream link.")
@click.option("--default-targets", is_flag=True, help="Forecast what the schedule gives its type.")
@click.option("--no-formulas", is_flag=True, help="Remove every formula.")
@_asset_options
@click.pass_context
@_catalogue_errors
def assets_update(ctx: click.Context, asset: str, supplier_name: str | None, site: str | None,
                  name: str | None, move_to: str | None, no_upstream: bool, default_targets: bool,
                  no_formulas: bool, params: tuple[str, ...], upstream: str | None,
                  formulas: tuple[str, ...], targets: tuple[str, ...]) -> None:
    """Change an ASSET (its name or id): name, site, parameters, upstream link, formulas,
    forecast targets."""
    from app.plant import catalogue as c

    with _catalogue(ctx, supplier_name) as (session, actor):
        found = _asset(session, actor, asset, site)
        changes = _asset_changes(session, actor, site, params, upstream, formulas, targets)
        if name:
            changes["name"] = name
        if move_to:
            changes["site_id"] = _site(session, actor, move_to).id
        if no_upstream:
            changes["upstream_id"] = None
        if default_targets:
            changes["forecast_targets"] = None
        if no_formulas:
            changes["formulas"] = []
        if not changes:
            _fail("nothing to change: see `twin assets update --help`")
        updated = c.update_asset(session, actor, found.id, changes)
        click.echo(f"asset {updated.id} {updated.name!r} updated")


@assets.command("retire")
@click.argument("asset")
@SUPPLIER_OPTION
@click.option("--site", default=None, help="The asset's site, when its name is not unique.")
@click.option("--restore", is_flag=True, help="Bring a retired asset back.")
@click.pass_context
@_catalogue_errors
def assets_retire(ctx: click.Context, asset: str, supplier_name: str | None, site: str | None,
                  restore: bool) -> None:
    """Retire an ASSET: its history stays; it leaves the pipeline and the lists."""
    from app.plant import catalogue as c

    with _catalogue(ctx, supplier_name) as (session, actor):
        found = c.retire_asset(session, actor, _asset(session, actor, asset, site).id,
                               retired=not restore)
        click.echo(f"asset {found.id} {found.name!r} {'restored' if restore else 'retired'}")


@assets.command("delete")
@click.argument("asset")
@SUPPLIER_OPTION
@click.option("--site", default=None, help="The asset's site, when its name is not unique.")
@click.pass_context
@_catalogue_errors
def assets_delete(ctx: click.Context, asset: str, supplier_name: str | None, site: str | None) -> None:
    """Delete an ASSET that has no history (retire one that has)."""
    from app.plant import catalogue as c

    with _catalogue(ctx, supplier_name) as (session, actor):
        found = _asset(session, actor, asset, site)
        c.delete_asset(session, actor, found.id, readings=session.info["readings"])
        click.echo(f"asset {found.name!r} deleted")


# -- sensors ----------------------------------------------------------------------------------


@click.group()
def sensors() -> None:
    """An asset's sensors: create, list, update, retire, delete."""


def _sensor_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--unit", default=None, help="MW, kWh, m³/h, °C, bar, L/min, %, 1..."),
        click.option("--interval", "interval_s", type=int, default=None,
                     help="Seconds between readings (detected on import when not given)."),
        click.option("--min", "normal_min", type=float, default=None, help="Normal minimum."),
        click.option("--max", "normal_max", type=float, default=None, help="Normal maximum."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


ASSET_OPTION = click.option("--asset", "asset_ref", required=True, help="The asset (name or id).")
SITE_OPTION = click.option("--site", default=None, help="The asset's site, when its name is not unique.")


@sensors.command("create")
@SUPPLIER_OPTION
@ASSET_OPTION
@SITE_OPTION
@click.option("--name", required=True, help="lower_case_with_underscores: formulas use it.")
@_sensor_options
@click.pass_context
@_catalogue_errors
def sensors_create(ctx: click.Context, supplier_name: str | None, asset_ref: str, site: str | None,
                   name: str, unit: str | None, interval_s: int | None, normal_min: float | None,
                   normal_max: float | None) -> None:
    """Add a sensor to an asset."""
    from app.plant import catalogue as c

    if unit is None:
        _fail("give --unit (use 1 for a pure number)")
    with _catalogue(ctx, supplier_name) as (session, actor):
        sensor = c.create_sensor(session, actor, asset_id=_asset(session, actor, asset_ref, site).id,
                                 name=name, unit=unit, interval_s=interval_s,
                                 normal_min=normal_min, normal_max=normal_max)
        click.echo(f"sensor {sensor.id} {sensor.name!r} ({sensor.unit}) created")


@sensors.command("list")
@SUPPLIER_OPTION
@ASSET_OPTION
@SITE_OPTION
@click.option("--retired", is_flag=True, help="Include retired sensors.")
@click.pass_context
@_catalogue_errors
def sensors_list(ctx: click.Context, supplier_name: str | None, asset_ref: str, site: str | None,
                 retired: bool) -> None:
    """List an asset's sensors, with their reporting interval and normal range."""
    from app.plant import catalogue as c

    with _catalogue(ctx, supplier_name, write=False) as (session, actor):
        asset = _asset(session, actor, asset_ref, site)
        rows = [[s.id, s.name, s.unit, _interval_text(s.interval_s), s.normal_min, s.normal_max,
                 "retired" if s.retired_at else "live"]
                for s in c.list_sensors(session, actor.supplier_id, asset.id, retired=retired)]
    _table(rows, ["id", "name", "unit", "interval", "min", "max", "state"])


@sensors.command("update")
@click.argument("sensor")
@SUPPLIER_OPTION
@ASSET_OPTION
@SITE_OPTION
@click.option("--name", default=None, help="A new name.")
@_sensor_options
@click.pass_context
@_catalogue_errors
def sensors_update(ctx: click.Context, sensor: str, supplier_name: str | None, asset_ref: str,
                   site: str | None, name: str | None, unit: str | None, interval_s: int | None,
                   normal_min: float | None, normal_max: float | None) -> None:
    """Change a SENSOR (its name or id) of an asset."""
    from app.plant import catalogue as c

    changes = {k: v for k, v in (("name", name), ("unit", unit), ("interval_s", interval_s),
                                 ("normal_min", normal_min), ("normal_max", normal_max)) if v is not None}
    if not changes:
        _fail("nothing to change: see `twin sensors update --help`")
    with _catalogue(ctx, supplier_name) as (session, actor):
        found = _sensor(session, actor, asset_ref, site, sensor)
        updated = c.update_sensor(session, actor, found.id, changes)
        click.echo(f"sensor {updated.id} {updated.name!r} updated")


@sensors.command("retire")
@click.argument("sensor")
@SUPPLIER_OPTION
@ASSET_OPTION
@SITE_OPTION
@click.option("--restore", is_flag=True, help="Bring a retired sensor back.")
@click.pass_context
@_catalogue_errors
def sensors_retire(ctx: click.Context, sensor: str, supplier_name: str | None, asset_ref: str,
                   site: str | None, restore: bool) -> None:
    """Retire a SENSOR: its readings stay; the pipeline stops reading it."""
    from app.plant import catalogue as c

    with _catalogue(ctx, supplier_name) as (session, actor):
        found = c.retire_sensor(session, actor, _sensor(session, actor, asset_ref, site, sensor).id,
                                retired=not restore)
        click.echo(f"sensor {found.id} {found.name!r} {'restored' if restore else 'retired'}")


@sensors.command("delete")
@click.argument("sensor")
@SUPPLIER_OPTION
@ASSET_OPTION
@SITE_OPTION
@click.pass_context
@_catalogue_errors
def sensors_delete(ctx: click.Context, sensor: str, supplier_name: str | None, asset_ref: str,
                   site: str | None) -> None:
    """Delete a SENSOR that has no readings (retire one that has)."""
    from app.plant import catalogue as c

    with _catalogue(ctx, supplier_name) as (session, actor):
        found = _sensor(session, actor, asset_ref, site, sensor)
        c.delete_sensor(session, actor, found.id, readings=session.info["readings"])
        click.echo(f"sensor {found.name!r} deleted")


# -- the whole estate in one file -------------------------------------------------------------


@click.group("catalogue")
def catalogue_group() -> None:
    """A supplier's whole catalogue in one YAML or JSON file (format: README, "The catalogue")."""


@catalogue_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@SUPPLIER_OPTION
@click.option("--dry-run", is_flag=True, help="Check the file and say what would change; store nothing.")
@click.pass_context
@_catalogue_errors
def catalogue_import(ctx: click.Context, file: Path, supplier_name: str | None, dry_run: bool) -> None:
    """Create or update sites, assets, sensors, calculations, targets and upstream links from
    FILE: all or nothing, and importing the same file again changes nothing."""
    from app.plant import estate_file

    document = estate_file.read(file)
    with _catalogue(ctx, supplier_name, write=not dry_run) as (session, actor):
        counts = estate_file.apply(session, actor, document)
    click.echo(("would have: " if dry_run else "") + counts.describe())


@catalogue_group.command("export")
@SUPPLIER_OPTION
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of to standard output.")
@click.pass_context
@_catalogue_errors
def catalogue_export(ctx: click.Context, supplier_name: str | None, fmt: str, output: Path | None) -> None:
    """Write the supplier's catalogue (retired entries included) in the import format."""
    from app.plant import estate_file

    with _catalogue(ctx, supplier_name, write=False) as (session, actor):
        text = estate_file.dump(estate_file.export(session, actor.supplier_id), fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


COMMANDS = (sites, assets, sensors, catalogue_group)
