"""The catalogue a supplier manages itself: its sites, their assets and the assets' sensors.

One set of rules, called by the CLI (``twin sites|assets|sensors``), the REST API
(``/api/v1/sites|assets|sensors``), the portal's catalogue page and ``twin catalogue import``:

* every lookup is scoped to the actor's supplier; another supplier's site, asset or sensor
  behaves exactly like one that does not exist;
* names are unique within their parent (a site within its supplier, an asset within its
  site, a sensor within its asset); units are checked against pint's registry; an asset's
  type is one of ``app.twins``; its parameters are numbers; its formulas are checked by
  :mod:`app.plant.formulas`; its upstream link is an asset of the same supplier and makes
  no cycle; its forecast targets are its sensors or calculations;
* a mistake raises :class:`CatalogueError` naming the field, and nothing is stored (the
  caller's transaction rolls back);
* something with history (readings, calculations, alerts, models) is never deleted: the
  error says to retire it instead. Retiring keeps the history and takes the thing out of the
  pipeline and the lists;
* every change writes an audit row with the old and new values.

Functions take the caller's session and change nothing outside it: the caller commits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, exists, func, select
from sqlalchemy.orm import Session

from app import audit
from app.db.base import utcnow
from app.db.models import (
    Alert,
    Asset,
    Calculation,
    ModelVersion,
    Sensor,
    SensorReading,
    Site,
    Supplier,
)
from app.plant.formulas import FormulaError, names_in, parse_all
from app.twins import ASSET_TYPES

MAX_NAME = 200
MAX_SENSOR_NAME = 64
MAX_UNIT = 16
MAX_INTERVAL_S = 7 * 86_400
#: What a unit may be written with, before pint reads it: letters, digits, small powers,
#: products, quotients and degree signs; no quotes, brackets or anything pint would evaluate.
UNIT_TEXT = re.compile(r"^[A-Za-zµΩ°%0-9²³·*/^. -]+$")


class CatalogueError(ValueError):
    """A change the catalogue refuses. ``field`` names what to fix (``name``, ``unit``,
    ``formulas[1].formula``...), ``entry`` the record it is about when there is one."""

    def __init__(self, message: str, field: str | None = None, entry: str | None = None) -> None:
        super().__init__(message)
        self.field, self.entry = field, entry

    def __str__(self) -> str:
        if self.entry and self.field:
            return f"{self.entry}, {self.field}: {self.args[0]}"
        where = self.entry or self.field
        return f"{where}: {self.args[0]}" if where else str(self.args[0])


class NotInCatalogue(LookupError):
    """No such site, asset or sensor for this supplier (it may exist for another: we do not say)."""

    def __init__(self, what: str, ident: int | str) -> None:
        super().__init__(f"no {what} {ident!r}" if isinstance(ident, str) else f"no {what} {ident}")
        self.what, self.ident = what, ident


@dataclass(frozen=True)
class Actor:
    """Who makes a change, for scoping and the audit log."""

    supplier_id: int
    user_id: int | None = None
    ip: str | None = None
    via: str | None = None  # "cli", "api token 'name'", "portal"


# -- units ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _units() -> Any:
    import pint

    registry = pint.UnitRegistry()
    registry.define("fraction = [] = frac")  # a share between 0 and 1, as a tank's level
    return registry


def check_unit(unit: str) -> str:
    """``unit`` if pint knows it (``MW``, ``m³/h``, ``°C``, ``kWh``, ``1``...); else a
    :class:`CatalogueError` on ``unit``."""
    text = (unit or "").strip()
    if not text:
        raise CatalogueError("give a unit (use 1 for a pure number)", "unit")
    if len(text) > MAX_UNIT:
        raise CatalogueError(f"the unit is longer than {MAX_UNIT} characters", "unit")
    unknown = CatalogueError(f"unknown unit {text!r}: write it as in MW, kWh, m³/h, °C, bar, "
                             "L/min, % or 1", "unit")
    # pint evaluates powers: "10**10**10" would run for ever. Units need small ones (m³, s^-1).
    if (not UNIT_TEXT.match(text) or "**" in text or text.count("^") > 2
            or re.search(r"\d{4}|\^-?\d{2}|\d\s*\^", text)):
        raise unknown
    try:
        _units().parse_units(text)
    except Exception:  # pint's parser raises many kinds (TokenError, ZeroDivisionError...)
        raise unknown from None
    return text


# -- small checks -----------------------------------------------------------------------------


def _name(value: Any, limit: int = MAX_NAME, field: str = "name") -> str:
    text = str(value or "").strip()
    if not text:
        raise CatalogueError("give a name", field)
    if len(text) > limit:
        raise CatalogueError(f"the name is longer than {limit} characters", field)
    if any(ord(ch) < 32 for ch in text):
        raise CatalogueError("the name holds control characters", field)
    return text


def _sensor_name(value: Any) -> str:
    text = _name(value, MAX_SENSOR_NAME)
    if not text.replace("_", "a").isalnum() or not text[0].isalpha() or text != text.lower() \
            or not text.isascii():
        raise CatalogueError("a sensor's name starts with a letter and holds only lower-case "
                             "letters, digits and _ (it is used in formulas)", "name")
    return text


def _number(value: Any, field: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise CatalogueError("give a number", field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CatalogueError(f"{value!r} is not a number", field) from None
    if not math.isfinite(number):
        raise CatalogueError("give a finite number", field)
    return number


def _interval(value: Any) -> int | None:
    number = _number(value, "interval_s")
    if number is None:
        return None
    if number != int(number) or not 1 <= number <= MAX_INTERVAL_S:
        raise CatalogueError(f"the reporting interval is whole seconds from 1 to {MAX_INTERVAL_S}",
                             "interval_s")
    return int(number)


def _parameters(kind: str, value: Any) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise CatalogueError("parameters are a mapping of name to number", "parameters")
    defaults = ASSET_TYPES[kind].default_parameters
    out: dict[str, Any] = {}
    for key, raw in value.items():
        name = str(key)
        if defaults and name not in defaults:
            raise CatalogueError(f"a {kind} has no parameter {name!r} (it has: "
                                 f"{', '.join(sorted(defaults))})", f"parameters.{name}")
        if not name.replace("_", "a").isalnum() or len(name) > 64:
            raise CatalogueError("a parameter's name holds letters, digits and _", f"parameters.{name}")
        default = defaults.get(name)
        if isinstance(default, str):  # a choice, such as a boiler's control mode
            if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
                raise CatalogueError(f"give a word, as the default {default!r}", f"parameters.{name}")
            out[name] = raw.strip()
            continue
        number = _number(raw, f"parameters.{name}")
        if number is None:
            raise CatalogueError("give a number", f"parameters.{name}")
        out[name] = number
    return out


def _kind(value: Any) -> str:
    text = str(value or "").strip()
    if text not in ASSET_TYPES:
        raise CatalogueError(f"unknown type {text!r} (known: {', '.join(sorted(ASSET_TYPES))})",
                             "asset_type")
    return text


def _range(low: float | None, high: float | None) -> None:
    if low is not None and high is not None and low > high:
        raise CatalogueError("the normal minimum is above the normal maximum", "normal_min")


def _emails(value: Any) -> str | None:
    if value is None:
        return None
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    emails = [str(x).strip() for x in items if str(x).strip()]
    for email in emails:
        if "@" not in email or " " in email or len(email) > 254:
            raise CatalogueError(f"{email!r} is not an email address", "maintenance_emails")
    text = ", ".join(emails)
    if len(text) > 1000:
        raise CatalogueError("the list of emails is too long", "maintenance_emails")
    return text or None


# -- lookups ----------------------------------------------------------------------------------


def supplier_by_name(session: Session, name: str) -> Supplier:
    supplier = session.scalar(select(Supplier).where(Supplier.name == name))
    if supplier is None:
        raise NotInCatalogue("supplier", name)
    return supplier


def get_site(session: Session, supplier_id: int, site_id: int) -> Site:
    site = session.scalar(select(Site).where(Site.id == site_id, Site.supplier_id == supplier_id))
    if site is None:
        raise NotInCatalogue("site", site_id)
    return site


def find_site(session: Session, supplier_id: int, name: str) -> Site:
    site = session.scalar(select(Site).where(Site.name == name, Site.supplier_id == supplier_id))
    if site is None:
        raise NotInCatalogue("site", name)
    return site


def get_asset(session: Session, supplier_id: int, asset_id: int) -> Asset:
    asset = session.scalar(select(Asset).join(Site, Site.id == Asset.site_id)
                           .where(Asset.id == asset_id, Site.supplier_id == supplier_id))
    if asset is None:
        raise NotInCatalogue("asset", asset_id)
    return asset


def find_asset(session: Session, supplier_id: int, name: str, site: str | None = None) -> Asset:
    """The supplier's asset called ``name`` (in ``site`` when given: names are unique only
    within a site, so two sites' assets of one name need the site)."""
    query = (select(Asset).join(Site, Site.id == Asset.site_id)
             .where(Asset.name == name, Site.supplier_id == supplier_id))
    if site is not None:
        query = query.where(Site.name == site)
    found = list(session.scalars(query.limit(2)))
    if not found:
        raise NotInCatalogue("asset", name)
    if len(found) > 1:
        raise CatalogueError(f"more than one site has an asset called {name!r}: name the site",
                             "site")
    return found[0]


def get_sensor(session: Session, supplier_id: int, sensor_id: int) -> Sensor:
    sensor = session.scalar(select(Sensor).join(Asset, Asset.id == Sensor.asset_id)
                            .join(Site, Site.id == Asset.site_id)
                            .where(Sensor.id == sensor_id, Site.supplier_id == supplier_id))
    if sensor is None:
        raise NotInCatalogue("sensor", sensor_id)
    return sensor


def find_sensor(session: Session, asset: Asset, name: str) -> Sensor:
    sensor = session.scalar(select(Sensor).where(Sensor.asset_id == asset.id, Sensor.name == name))
    if sensor is None:
        raise NotInCatalogue("sensor", name)
    return sensor


def list_sites(session: Session, supplier_id: int, *, retired: bool = False) -> list[Site]:
    query = select(Site).where(Site.supplier_id == supplier_id)
    if not retired:
        query = query.where(Site.retired_at.is_(None))
    return list(session.scalars(query.order_by(Site.name, Site.id)))


def list_assets(session: Session, supplier_id: int, *, site_id: int | None = None,
                retired: bool = False) -> list[Asset]:
    query = select(Asset).join(Site, Site.id == Asset.site_id).where(Site.supplier_id == supplier_id)
    if site_id is not None:
        query = query.where(Asset.site_id == site_id)
    if not retired:
        query = query.where(Asset.retired_at.is_(None), Site.retired_at.is_(None))
    return list(session.scalars(query.order_by(Site.name, Asset.name, Asset.id)))


def list_sensors(session: Session, supplier_id: int, asset_id: int, *,
                 retired: bool = False) -> list[Sensor]:
    get_asset(session, supplier_id, asset_id)
    query = select(Sensor).where(Sensor.asset_id == asset_id)
    if not retired:
        query = query.where(Sensor.retired_at.is_(None))
    return list(session.scalars(query.order_by(Sensor.id)))


def page_assets(session: Session, supplier_id: int, *, offset: int, limit: int,
                site_id: int | None = None, asset_type: str | None = None,
                retired: bool = False) -> tuple[list[tuple[Asset, str]], int]:
    """A page of the supplier's assets with their site's name (by site, then id), and how many
    match in all."""
    conditions = [Site.supplier_id == supplier_id]
    if site_id is not None:
        conditions.append(Site.id == site_id)
    if asset_type is not None:
        conditions.append(Asset.asset_type == asset_type)
    if not retired:
        conditions += [Asset.retired_at.is_(None), Site.retired_at.is_(None)]
    total = session.scalar(select(func.count()).select_from(Asset)
                           .join(Site, Site.id == Asset.site_id).where(*conditions)) or 0
    rows = session.execute(select(Asset, Site.name).join(Site, Site.id == Asset.site_id)
                           .where(*conditions).order_by(Site.name, Site.id, Asset.id)
                           .offset(offset).limit(limit)).all()
    return [(asset, site) for asset, site in rows], total


def sensors_of(session: Session, asset_ids: Sequence[int], *,
               retired: bool = False) -> dict[int, list[Sensor]]:
    """The sensors of each of ``asset_ids`` (live ones unless ``retired``), by id."""
    found: dict[int, list[Sensor]] = {asset_id: [] for asset_id in asset_ids}
    if not found:
        return found
    query = select(Sensor).where(Sensor.asset_id.in_(list(found)))
    if not retired:
        query = query.where(Sensor.retired_at.is_(None))
    for sensor in session.scalars(query.order_by(Sensor.asset_id, Sensor.id)):
        found[sensor.asset_id].append(sensor)
    return found


# -- what an asset computes and forecasts -------------------------------------------------


def calculation_names(asset: Asset) -> list[str]:
    """The asset's calculations: its type's, then its own formulas'."""
    kind = ASSET_TYPES.get(asset.asset_type)
    return list(kind.calculations if kind else ()) + [str(f.get("name")) for f in asset.formulas or ()]


def calculation_units(asset: Asset) -> dict[str, str]:
    kind = ASSET_TYPES.get(asset.asset_type)
    units = dict(kind.calculations) if kind else {}
    units.update({str(f.get("name")): str(f.get("unit") or "") for f in asset.formulas or ()})
    return units


def _check_formulas(asset: Asset, formulas: Any, sensor_names: Sequence[str]) -> list[dict[str, str]]:
    if formulas is None:
        return []
    if not isinstance(formulas, list | tuple):
        raise CatalogueError("formulas are a list of {name, unit, formula}", "formulas")
    entries = []
    for number, entry in enumerate(formulas):
        if not isinstance(entry, Mapping):
            raise CatalogueError("each formula is {name, unit, formula}", f"formulas[{number}]")
        if entry.get("unit"):
            try:
                check_unit(str(entry["unit"]))
            except CatalogueError as exc:
                raise CatalogueError(exc.args[0], f"formulas[{number}].unit") from None
        entries.append({"name": str(entry.get("name") or "").strip(),
                        "unit": str(entry.get("unit") or "").strip(),
                        "formula": str(entry.get("formula") or "").strip()})
    kind = ASSET_TYPES[asset.asset_type]
    try:
        parse_all(entries, sensor_names, list(kind.calculations), list(asset.parameters or {}))
    except FormulaError as exc:
        raise CatalogueError(str(exc), "formulas") from None
    return entries


def _check_targets(asset: Asset, targets: Any, sensor_names: Sequence[str]) -> list[str] | None:
    if targets is None:
        return None
    if isinstance(targets, str):
        targets = [t for t in (x.strip() for x in targets.split(",")) if t]
    if not isinstance(targets, list | tuple):
        raise CatalogueError("forecast targets are a list of sensor or calculation names",
                             "forecast_targets")
    known = set(sensor_names) | set(calculation_names(asset))
    out = []
    for target in targets:
        if str(target) not in known:
            raise CatalogueError(f"{target!r} is neither a sensor nor a calculation of the asset "
                                 f"(known: {', '.join(sorted(known)) or 'none'})", "forecast_targets")
        out.append(str(target))
    return list(dict.fromkeys(out))


def _upstream(session: Session, asset: Asset, upstream_id: Any) -> int | None:
    if upstream_id is None or upstream_id == "":
        return None
    try:
        wanted = int(upstream_id)
    except (TypeError, ValueError):
        raise CatalogueError("give the upstream asset's id", "upstream_id") from None
    supplier_id = session.scalar(select(Site.supplier_id).where(Site.id == asset.site_id))
    try:
        upstream = get_asset(session, supplier_id, wanted)
    except NotInCatalogue:
        raise CatalogueError(f"no asset {wanted} of this supplier", "upstream_id") from None
    seen = {asset.id} if asset.id is not None else set()
    cursor: Asset | None = upstream
    while cursor is not None:
        if cursor.id in seen or cursor is asset:
            raise CatalogueError("the upstream link makes a cycle (an asset would feed itself)",
                                 "upstream_id")
        seen.add(cursor.id)
        cursor = session.get(Asset, cursor.upstream_id) if cursor.upstream_id else None
    return upstream.id


# -- history ----------------------------------------------------------------------------------


def _has_readings(session: Session, sensor_ids: Sequence[int], readings: Engine | None) -> bool:
    if not sensor_ids:
        return False
    query = select(exists().where(SensorReading.sensor_id.in_(list(sensor_ids))))
    if readings is None:
        return bool(session.scalar(query))
    with readings.connect() as conn:
        return bool(conn.scalar(query))


def _asset_history(session: Session, asset: Asset, readings: Engine | None) -> str | None:
    sensor_ids = list(session.scalars(select(Sensor.id).where(Sensor.asset_id == asset.id)))
    if _has_readings(session, sensor_ids, readings):
        return "sensor readings"
    for what, model in (("calculations", Calculation), ("alerts", Alert), ("models", ModelVersion)):
        if session.scalar(select(exists().where(model.asset_id == asset.id))):
            return what
    return None


# -- changes ----------------------------------------------------------------------------------


def _audit(session: Session, actor: Actor, action: str, entity: str, entity_id: int,
           old: dict[str, Any] | None = None, new: dict[str, Any] | None = None) -> None:
    if new is not None and actor.via:
        new = {**new, "via": actor.via}
    audit.record(session, action, supplier_id=actor.supplier_id, user_id=actor.user_id,
                 entity=entity, entity_id=entity_id, old=old, new=new, ip=actor.ip)


def _retire(session: Session, actor: Actor, entity: str, row: Any,
            record: Any, retired: bool) -> Any:
    old = record(row)
    row.retired_at = (row.retired_at or utcnow()) if retired else None
    session.flush()
    _audit(session, actor, f"{entity}.retire" if retired else f"{entity}.restore", entity, row.id,
           old=old, new=record(row))
    return row


def site_record(site: Site) -> dict[str, Any]:
    return {"id": site.id, "name": site.name, "location": site.location,
            "maintenance_emails": site.maintenance_emails,
            "retired_at": site.retired_at.isoformat() if site.retired_at else None}


def asset_record(asset: Asset) -> dict[str, Any]:
    return {"id": asset.id, "site_id": asset.site_id, "name": asset.name,
            "asset_type": asset.asset_type, "parameters": dict(asset.parameters or {}),
            "upstream_id": asset.upstream_id, "formulas": list(asset.formulas or []),
            "forecast_targets": asset.forecast_targets,
            "retired_at": asset.retired_at.isoformat() if asset.retired_at else None}


def sensor_record(sensor: Sensor) -> dict[str, Any]:
    return {"id": sensor.id, "asset_id": sensor.asset_id, "name": sensor.name, "unit": sensor.unit,
            "interval_s": sensor.interval_s, "normal_min": sensor.normal_min,
            "normal_max": sensor.normal_max,
            "retired_at": sensor.retired_at.isoformat() if sensor.retired_at else None}


def _unique(session: Session, model: Any, parent: Any, parent_id: int, name: str,
            own_id: int | None, what: str) -> None:
    query = select(model.id).where(parent == parent_id, model.name == name)
    if own_id is not None:
        query = query.where(model.id != own_id)
    if session.scalar(query) is not None:
        raise CatalogueError(f"there is already {what} called {name!r}", "name")


SITE_FIELDS = ("name", "location", "maintenance_emails")


def create_site(session: Session, actor: Actor, *, name: str, location: str | None = None,
                maintenance_emails: Any = None) -> Site:
    site = Site(supplier_id=actor.supplier_id)
    _apply_site(session, site, {"name": name, "location": location,
                                "maintenance_emails": maintenance_emails})
    session.add(site)
    session.flush()
    _audit(session, actor, "site.create", "site", site.id, new=site_record(site))
    return site


def _apply_site(session: Session, site: Site, changes: Mapping[str, Any]) -> None:
    if "name" in changes:
        name = _name(changes["name"])
        _unique(session, Site, Site.supplier_id, site.supplier_id, name, site.id, "a site")
        site.name = name
    if "location" in changes:
        location = str(changes["location"] or "").strip() or None
        if location and len(location) > MAX_NAME:
            raise CatalogueError(f"the location is longer than {MAX_NAME} characters", "location")
        site.location = location
    if "maintenance_emails" in changes:
        site.maintenance_emails = _emails(changes["maintenance_emails"])


def update_site(session: Session, actor: Actor, site_id: int, changes: Mapping[str, Any]) -> Site:
    _only(changes, SITE_FIELDS)
    site = get_site(session, actor.supplier_id, site_id)
    old = site_record(site)
    _apply_site(session, site, changes)
    session.flush()
    _audit(session, actor, "site.update", "site", site.id, old=old, new=site_record(site))
    return site


def delete_site(session: Session, actor: Actor, site_id: int) -> None:
    site = get_site(session, actor.supplier_id, site_id)
    if session.scalar(select(exists().where(Asset.site_id == site.id))):
        raise CatalogueError("the site has assets: delete them first, or retire the site to keep "
                             "their history", "id", f"site {site.name!r}")
    old = site_record(site)
    session.delete(site)
    session.flush()
    _audit(session, actor, "site.delete", "site", site_id, old=old)


def retire_site(session: Session, actor: Actor, site_id: int, *, retired: bool = True) -> Site:
    """Retire the site (its history stays), or bring it back with ``retired=False``."""
    return _retire(session, actor, "site", get_site(session, actor.supplier_id, site_id),
                   site_record, retired)


ASSET_FIELDS = ("site_id", "name", "asset_type", "parameters", "upstream_id", "formulas",
                "forecast_targets")


def create_asset(session: Session, actor: Actor, *, site_id: int, name: str, asset_type: str,
                 parameters: Mapping[str, Any] | None = None, upstream_id: int | None = None,
                 formulas: Sequence[Mapping[str, Any]] | None = None,
                 forecast_targets: Sequence[str] | None = None,
                 type_sensors: bool = True) -> Asset:
    """A new asset. A built-in type's sensors are created with it (``type_sensors``), with
    their units and normal ranges, so it is ready for data; a generic asset starts empty.
    Formulas and targets naming sensors still to be added are set after them (update)."""
    try:
        site = get_site(session, actor.supplier_id, int(site_id))
    except (NotInCatalogue, TypeError, ValueError):
        raise CatalogueError(f"no site {site_id!r} of this supplier", "site_id") from None
    if site.retired_at is not None:
        raise CatalogueError("the site is retired", "site_id")
    kind = _kind(asset_type)
    asset = Asset(site_id=site.id, asset_type=kind, name="")
    asset.name = _name(name)
    _unique(session, Asset, Asset.site_id, site.id, asset.name, None, "an asset on this site")
    asset.parameters = {**ASSET_TYPES[kind].default_parameters, **_parameters(kind, parameters)}
    session.add(asset)
    session.flush()
    sensor_names: list[str] = []
    if type_sensors:
        for spec in ASSET_TYPES[kind].sensors:
            session.add(Sensor(asset_id=asset.id, name=spec.name, unit=spec.unit,
                               normal_min=spec.normal_min, normal_max=spec.normal_max))
            sensor_names.append(spec.name)
    asset.upstream_id = _upstream(session, asset, upstream_id)
    asset.formulas = _check_formulas(asset, formulas, sensor_names) or None
    asset.forecast_targets = _check_targets(asset, forecast_targets, sensor_names)
    session.flush()
    _audit(session, actor, "asset.create", "asset", asset.id, new=asset_record(asset))
    return asset


def _only(changes: Mapping[str, Any], fields: Sequence[str]) -> None:
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise CatalogueError(f"cannot be changed here (fields: {', '.join(fields)})", unknown[0])


def update_asset(session: Session, actor: Actor, asset_id: int, changes: Mapping[str, Any]) -> Asset:
    """Change an asset's fields; ``parameters`` are merged into the stored ones (a None value
    removes one), ``formulas`` and ``forecast_targets`` replace the stored lists."""
    _only(changes, ASSET_FIELDS)
    asset = get_asset(session, actor.supplier_id, asset_id)
    old = asset_record(asset)
    if "asset_type" in changes and _kind(changes["asset_type"]) != asset.asset_type:
        raise CatalogueError("an asset's type cannot change: create a new asset and retire this one",
                             "asset_type")
    if "site_id" in changes and changes["site_id"] is not None:
        try:
            site = get_site(session, actor.supplier_id, int(changes["site_id"]))
        except (NotInCatalogue, TypeError, ValueError):
            raise CatalogueError(f"no site {changes['site_id']!r} of this supplier", "site_id") from None
        asset.site_id = site.id
    if "name" in changes or "site_id" in changes:
        name = _name(changes.get("name", asset.name))
        _unique(session, Asset, Asset.site_id, asset.site_id, name, asset.id, "an asset on this site")
        asset.name = name
    if "parameters" in changes:
        given = changes["parameters"] or {}
        if not isinstance(given, Mapping):
            raise CatalogueError("parameters are a mapping of name to number", "parameters")
        merged = dict(asset.parameters or {})
        merged.update(_parameters(asset.asset_type, {k: v for k, v in given.items() if v is not None}))
        for key in [k for k, v in given.items() if v is None]:
            merged.pop(str(key), None)
        asset.parameters = merged
    if "upstream_id" in changes:
        asset.upstream_id = _upstream(session, asset, changes["upstream_id"])
    sensors = [s.name for s in session.scalars(select(Sensor).where(Sensor.asset_id == asset.id))]
    if "formulas" in changes:
        asset.formulas = _check_formulas(asset, changes["formulas"], sensors) or None
    else:
        _check_formulas(asset, asset.formulas, sensors)
    if "forecast_targets" in changes:
        asset.forecast_targets = _check_targets(asset, changes["forecast_targets"], sensors)
    else:  # a formula removed must not stay a target
        try:
            _check_targets(asset, asset.forecast_targets, sensors)
        except CatalogueError as exc:
            raise CatalogueError(f"{exc.args[0]}: it is still a forecast target; change the "
                                 "targets too", "formulas") from None
    session.flush()
    _audit(session, actor, "asset.update", "asset", asset.id, old=old, new=asset_record(asset))
    return asset


def delete_asset(session: Session, actor: Actor, asset_id: int, *,
                 readings: Engine | None = None) -> None:
    """Delete an asset that has no history (with its sensors); one with history is refused."""
    asset = get_asset(session, actor.supplier_id, asset_id)
    label = f"asset {asset.name!r}"
    history = _asset_history(session, asset, readings)
    if history:
        raise CatalogueError(f"it has {history}: retire it instead to keep its history", "id", label)
    if session.scalar(select(exists().where(Asset.upstream_id == asset.id))):
        raise CatalogueError("other assets name it as their upstream: change their links first",
                             "id", label)
    old = asset_record(asset)
    from app.db.models import Job, PipelineRun, PipelineState, SensorRollup

    sensor_ids = list(session.scalars(select(Sensor.id).where(Sensor.asset_id == asset.id)))
    for model, column in ((SensorRollup, SensorRollup.sensor_id),):
        if sensor_ids:
            session.query(model).filter(column.in_(sensor_ids)).delete(synchronize_session=False)
    for model in (Sensor, PipelineState, PipelineRun, Job):
        session.query(model).filter(model.asset_id == asset.id).delete(synchronize_session=False)
    session.delete(asset)
    session.flush()
    _audit(session, actor, "asset.delete", "asset", asset_id, old=old)


def retire_asset(session: Session, actor: Actor, asset_id: int, *, retired: bool = True) -> Asset:
    """Retire the asset (its history stays), or bring it back with ``retired=False``."""
    return _retire(session, actor, "asset", get_asset(session, actor.supplier_id, asset_id),
                   asset_record, retired)


SENSOR_FIELDS = ("name", "unit", "interval_s", "normal_min", "normal_max")


def create_sensor(session: Session, actor: Actor, *, asset_id: int, name: str, unit: str,
                  interval_s: int | None = None, normal_min: float | None = None,
                  normal_max: float | None = None) -> Sensor:
    try:
        asset = get_asset(session, actor.supplier_id, int(asset_id))
    except (NotInCatalogue, TypeError, ValueError):
        raise CatalogueError(f"no asset {asset_id!r} of this supplier", "asset_id") from None
    sensor = Sensor(asset_id=asset.id, name="", unit="")
    _apply_sensor(session, asset, sensor, {"name": name, "unit": unit, "interval_s": interval_s,
                                           "normal_min": normal_min, "normal_max": normal_max})
    session.add(sensor)
    session.flush()
    _audit(session, actor, "sensor.create", "sensor", sensor.id, new=sensor_record(sensor))
    return sensor


def _apply_sensor(session: Session, asset: Asset, sensor: Sensor, changes: Mapping[str, Any]) -> None:
    if "name" in changes:
        name = _sensor_name(changes["name"])
        _unique(session, Sensor, Sensor.asset_id, asset.id, name, sensor.id, "a sensor on this asset")
        if name in calculation_names(asset):
            raise CatalogueError(f"{name!r} is already a calculation of the asset", "name")
        if sensor.id is not None and name != sensor.name:
            _not_used(asset, sensor.name, "renamed")
        sensor.name = name
    if "unit" in changes:
        sensor.unit = check_unit(changes["unit"])
    if "interval_s" in changes:
        sensor.interval_s = _interval(changes["interval_s"])
    if "normal_min" in changes:
        sensor.normal_min = _number(changes["normal_min"], "normal_min")
    if "normal_max" in changes:
        sensor.normal_max = _number(changes["normal_max"], "normal_max")
    _range(sensor.normal_min, sensor.normal_max)


def _not_used(asset: Asset, sensor_name: str, verb: str) -> None:
    for formula in asset.formulas or ():
        if sensor_name in names_in(str(formula.get("formula") or "")):
            raise CatalogueError(f"the calculation {formula.get('name')!r} reads it: change that "
                                 f"formula before the sensor is {verb}", "name")
    if sensor_name in (asset.forecast_targets or ()):
        raise CatalogueError(f"it is a forecast target of the asset: change the targets before "
                             f"it is {verb}", "name")


def update_sensor(session: Session, actor: Actor, sensor_id: int, changes: Mapping[str, Any]) -> Sensor:
    _only(changes, SENSOR_FIELDS)
    sensor = get_sensor(session, actor.supplier_id, sensor_id)
    asset = session.get(Asset, sensor.asset_id)
    assert asset is not None
    old = sensor_record(sensor)
    _apply_sensor(session, asset, sensor, changes)
    session.flush()
    _audit(session, actor, "sensor.update", "sensor", sensor.id, old=old, new=sensor_record(sensor))
    return sensor


def delete_sensor(session: Session, actor: Actor, sensor_id: int, *,
                  readings: Engine | None = None) -> None:
    sensor = get_sensor(session, actor.supplier_id, sensor_id)
    asset = session.get(Asset, sensor.asset_id)
    assert asset is not None
    label = f"sensor {sensor.name!r}"
    if _has_readings(session, [sensor.id], readings) or session.scalar(
            select(exists().where(Alert.sensor_id == sensor.id))):
        raise CatalogueError("it has readings: retire it instead to keep its history", "id", label)
    try:
        _not_used(asset, sensor.name, "deleted")
    except CatalogueError as exc:
        raise CatalogueError(exc.args[0], "id", label) from None
    from app.db.models import SensorRollup

    old = sensor_record(sensor)
    session.query(SensorRollup).filter(SensorRollup.sensor_id == sensor.id).delete(
        synchronize_session=False)
    session.delete(sensor)
    session.flush()
    _audit(session, actor, "sensor.delete", "sensor", sensor_id, old=old)


def retire_sensor(session: Session, actor: Actor, sensor_id: int, *, retired: bool = True) -> Sensor:
    """Retire the sensor (its history stays), or bring it back with ``retired=False``."""
    return _retire(session, actor, "sensor", get_sensor(session, actor.supplier_id, sensor_id),
                   sensor_record, retired)


# -- cadence ----------------------------------------------------------------------------------


def detect_interval(stamps: Sequence[datetime] | Any) -> int | None:
    """A sensor's reporting interval in whole seconds from its reading times: the median gap,
    or None with fewer than 3 readings."""
    import pandas as pd

    index = pd.DatetimeIndex(pd.to_datetime(pd.Series(list(stamps)), utc=True)).sort_values().unique()
    if len(index) < 3:
        return None
    gap = pd.Series(index).diff().dropna().median()
    seconds = int(round(gap.total_seconds()))
    return min(max(seconds, 1), MAX_INTERVAL_S)


def fill_detected_intervals(session: Session, sensor_ids: Sequence[int], readings: Engine,
                            sample: int = 1000) -> dict[int, int]:
    """Set the interval of each sensor that has none from its newest ``sample`` readings;
    returns what was set. An interval a user set is never overwritten."""
    found: dict[int, int] = {}
    unset = list(session.scalars(select(Sensor).where(Sensor.id.in_(list(sensor_ids)),
                                                      Sensor.interval_s.is_(None))))
    if not unset:
        return found
    with readings.connect() as conn:
        for sensor in unset:
            stamps = list(conn.scalars(select(SensorReading.ts).where(SensorReading.sensor_id == sensor.id)
                                       .order_by(SensorReading.ts.desc()).limit(sample)))
            interval = detect_interval(stamps)
            if interval is not None:
                sensor.interval_s = interval
                found[sensor.id] = interval
    session.flush()
    return found


def asset_interval(session: Session, asset_id: int) -> int | None:
    """The slowest reporting interval of the asset's live sensors (what a batch or a window of
    the whole asset must span to see every sensor at least once), or None when none is known."""
    return session.scalar(select(func.max(Sensor.interval_s)).where(
        Sensor.asset_id == asset_id, Sensor.retired_at.is_(None)))


@dataclass
class EstateCounts:
    """What an import or a bulk change did, by kind."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str, kind: str) -> None:
        bucket = getattr(self, outcome)
        bucket[kind] = bucket.get(kind, 0) + 1

    def describe(self) -> str:
        parts = []
        for outcome in ("created", "updated", "unchanged"):
            bucket = getattr(self, outcome)
            if bucket:
                parts.append(f"{outcome} " + ", ".join(f"{n} {k}{'s' if n != 1 else ''}"
                                                      for k, n in sorted(bucket.items())))
        return "; ".join(parts) or "nothing to do"
