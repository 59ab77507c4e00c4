"""A supplier's whole catalogue in one YAML or JSON file: ``twin catalogue import|export``.

    sites:
      - name: Grid
        location: Leeds
        maintenance_emails: [control@northwind.example]
        assets:
          - name: Feeder 7
            type: generic
            parameters: {efficiency: 0.9}
            upstream: Feeder 6            # an asset of the same site, or "Site / Asset"
            sensors:
              - {name: demand, unit: MW, interval_s: 1800, normal_min: 0, normal_max: 80}
            calculations:
              - {name: energy_mwh, unit: MWh, formula: integrate(demand) / 3600}
            forecast_targets: [demand]
            retired: false

Importing applies the file through :mod:`app.plant.catalogue` (the same rules as the CLI, the
API and the portal) in the caller's transaction: all or nothing. It is idempotent: what is
already as the file says is left alone (and not audited again); what differs is updated; what
is missing is created. Nothing absent from the file is deleted (retire it with ``retired:
true``). An error names the entry and the field, e.g. ``sites[0] 'Grid' > assets[1] 'Feeder 7'
> sensors[0] 'demand', unit: unknown unit 'zorkmids'``. Export writes the same format, so an
export imported into an empty database gives the same catalogue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Asset, Sensor, Site
from app.plant import catalogue as c

SITE_KEYS = {"name", "location", "maintenance_emails", "assets", "retired"}
ASSET_KEYS = {"name", "type", "parameters", "upstream", "sensors", "calculations",
              "forecast_targets", "retired"}
SENSOR_KEYS = {"name", "unit", "interval_s", "normal_min", "normal_max", "retired"}


def read(path: Path) -> dict[str, Any]:
    """The file's document: YAML (``.yaml``/``.yml``) or JSON; a clear error otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise c.CatalogueError(f"cannot read {path}: {exc}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise c.CatalogueError(f"{path.name} is not valid {path.suffix.lstrip('.').upper() or 'YAML'}: "
                               f"{exc}".splitlines()[0]) from None
    if not isinstance(data, Mapping) or not isinstance(data.get("sites"), list):
        raise c.CatalogueError(f"{path.name}: expected a mapping with a list of sites "
                               "(sites: [...])")
    return dict(data)


def _entry(path: str, kind: str, index: int, raw: Any, keys: set[str]) -> tuple[str, dict[str, Any]]:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    label = f"{path}{' > ' if path else ''}{kind}[{index}]" + (f" {name!r}" if name else "")
    if not isinstance(raw, Mapping):
        raise c.CatalogueError("each entry is a mapping of field to value", None, label)
    unknown = sorted(set(map(str, raw)) - keys)
    if unknown:
        raise c.CatalogueError(f"unknown field (fields: {', '.join(sorted(keys))})", unknown[0], label)
    return label, dict(raw)


def _list(raw: dict[str, Any], key: str, label: str) -> list[Any]:
    value = raw.get(key) or []
    if not isinstance(value, list):
        raise c.CatalogueError("give a list", key, label)
    return value


def _retired(raw: dict[str, Any], label: str) -> bool | None:
    value = raw.get("retired")
    if value is not None and not isinstance(value, bool):
        raise c.CatalogueError("true or false", "retired", label)
    return value


def _differs(stored: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in wanted.items() if stored.get(k) != v}


def apply(session: Session, actor: c.Actor, document: Mapping[str, Any]) -> c.EstateCounts:
    """Make the actor's catalogue say what ``document`` says (see the module docstring)."""
    counts = c.EstateCounts()
    links: list[tuple[str, Asset, Site, str]] = []
    for s_index, site_raw in enumerate(document.get("sites") or []):
        label, raw = _entry("", "sites", s_index, site_raw, SITE_KEYS)
        try:
            site = _site(session, actor, raw, counts)
            for a_index, asset_raw in enumerate(_list(raw, "assets", label)):
                a_label, a_raw = _entry(label, "assets", a_index, asset_raw, ASSET_KEYS)
                try:
                    asset = _asset(session, actor, site, a_raw, counts, a_label)
                except c.CatalogueError as exc:
                    raise exc if exc.entry else c.CatalogueError(exc.args[0], exc.field, a_label) from None
                if a_raw.get("upstream"):
                    links.append((a_label, asset, site, str(a_raw["upstream"])))
        except c.CatalogueError as exc:
            raise exc if exc.entry else c.CatalogueError(exc.args[0], exc.field, label) from None
    for a_label, asset, site, upstream in links:
        try:
            site_name, _, asset_name = upstream.rpartition("/")
            target = c.find_asset(session, actor.supplier_id, asset_name.strip(),
                                  site_name.strip() or site.name)
        except c.NotInCatalogue:
            raise c.CatalogueError(f"no asset {upstream!r} (name an asset of the same site, or "
                                   "'Site / Asset')", "upstream", a_label) from None
        if asset.upstream_id != target.id:
            try:
                c.update_asset(session, actor, asset.id, {"upstream_id": target.id})
            except c.CatalogueError as exc:
                raise c.CatalogueError(exc.args[0], "upstream", a_label) from None
            counts.add("updated", "upstream link")
    return counts


def _site(session: Session, actor: c.Actor, raw: dict[str, Any], counts: c.EstateCounts) -> Site:
    name = c._name(raw.get("name"))
    wanted = {k: raw[k] for k in ("location", "maintenance_emails") if k in raw}
    if "maintenance_emails" in wanted:
        wanted["maintenance_emails"] = c._emails(wanted["maintenance_emails"])
    site = session.scalar(select(Site).where(Site.supplier_id == actor.supplier_id, Site.name == name))
    if site is None:
        site = c.create_site(session, actor, name=name, **wanted)
        counts.add("created", "site")
    else:
        changes = _differs(c.site_record(site), wanted)
        if changes:
            c.update_site(session, actor, site.id, changes)
            counts.add("updated", "site")
        else:
            counts.add("unchanged", "site")
    retired = _retired(raw, "")
    if retired is not None and retired != (site.retired_at is not None):
        c.retire_site(session, actor, site.id, retired=retired)
    return site


def _asset(session: Session, actor: c.Actor, site: Site, raw: dict[str, Any],
           counts: c.EstateCounts, label: str) -> Asset:
    name = c._name(raw.get("name"))
    kind = c._kind(raw.get("type", "generic"))
    parameters = raw.get("parameters") or {}
    asset = session.scalar(select(Asset).where(Asset.site_id == site.id, Asset.name == name))
    created = asset is None
    if asset is None:
        asset = c.create_asset(session, actor, site_id=site.id, name=name, asset_type=kind,
                               parameters=parameters)
        counts.add("created", "asset")
    elif asset.asset_type != kind:
        raise c.CatalogueError(f"the stored asset is a {asset.asset_type}: a type cannot change",
                               "type", label)
    for index, sensor_raw in enumerate(_list(raw, "sensors", label)):
        s_label, s_raw = _entry(label, "sensors", index, sensor_raw, SENSOR_KEYS)
        try:
            _sensor(session, actor, asset, s_raw, counts)
        except c.CatalogueError as exc:
            raise c.CatalogueError(exc.args[0], exc.field, s_label) from None
    wanted: dict[str, Any] = {}
    if not created and parameters:
        merged = {**(asset.parameters or {}), **c._parameters(kind, parameters)}
        if merged != asset.parameters:
            wanted["parameters"] = parameters
    if "calculations" in raw:
        formulas = c._check_formulas(asset, _list(raw, "calculations", label),
                                     [s.name for s in session.scalars(
                                         select(Sensor).where(Sensor.asset_id == asset.id))])
        if formulas != list(asset.formulas or []):
            wanted["formulas"] = formulas
    if "forecast_targets" in raw and raw["forecast_targets"] != asset.forecast_targets:
        wanted["forecast_targets"] = raw["forecast_targets"]
    if wanted:
        c.update_asset(session, actor, asset.id, wanted)
        if not created:
            counts.add("updated", "asset")
    elif not created:
        counts.add("unchanged", "asset")
    retired = _retired(raw, label)
    if retired is not None and retired != (asset.retired_at is not None):
        c.retire_asset(session, actor, asset.id, retired=retired)
    return asset


def _sensor(session: Session, actor: c.Actor, asset: Asset, raw: dict[str, Any],
            counts: c.EstateCounts) -> None:
    name = c._sensor_name(raw.get("name"))
    fields = {k: raw[k] for k in ("unit", "interval_s", "normal_min", "normal_max") if k in raw}
    sensor = session.scalar(select(Sensor).where(Sensor.asset_id == asset.id, Sensor.name == name))
    if sensor is None:
        if "unit" not in fields:
            raise c.CatalogueError("give a unit (use 1 for a pure number)", "unit")
        sensor = c.create_sensor(session, actor, asset_id=asset.id, name=name, **fields)
        counts.add("created", "sensor")
    else:
        stored = c.sensor_record(sensor)
        changes = {k: v for k, v in fields.items()
                   if (float(v) if k in ("normal_min", "normal_max") and v is not None else v) != stored[k]}
        if changes:
            c.update_sensor(session, actor, sensor.id, changes)
            counts.add("updated", "sensor")
        else:
            counts.add("unchanged", "sensor")
    retired = _retired(raw, "")
    if retired is not None and retired != (sensor.retired_at is not None):
        c.retire_sensor(session, actor, sensor.id, retired=retired)


def export(session: Session, supplier_id: int) -> dict[str, Any]:
    """The supplier's whole catalogue, retired entries included, in the import format."""
    sites = []
    for site in c.list_sites(session, supplier_id, retired=True):
        assets = []
        names = {a.id: a.name for a in c.list_assets(session, supplier_id, retired=True)}
        site_assets = [a for a in c.list_assets(session, supplier_id, site_id=site.id, retired=True)]
        for asset in site_assets:
            entry: dict[str, Any] = {"name": asset.name, "type": asset.asset_type}
            if asset.parameters:
                entry["parameters"] = dict(asset.parameters)
            if asset.upstream_id is not None:
                upstream = session.get(Asset, asset.upstream_id)
                same = upstream is not None and upstream.site_id == site.id
                entry["upstream"] = names.get(asset.upstream_id) if same else (
                    f"{upstream.site.name} / {upstream.name}" if upstream else None)
            entry["sensors"] = [_sensor_out(s) for s in c.list_sensors(session, supplier_id, asset.id,
                                                                       retired=True)]
            if asset.formulas:
                entry["calculations"] = [dict(f) for f in asset.formulas]
            if asset.forecast_targets is not None:
                entry["forecast_targets"] = list(asset.forecast_targets)
            if asset.retired_at is not None:
                entry["retired"] = True
            assets.append(entry)
        out: dict[str, Any] = {"name": site.name}
        if site.location:
            out["location"] = site.location
        if site.maintenance_emails:
            out["maintenance_emails"] = [e.strip() for e in site.maintenance_emails.split(",")]
        if site.retired_at is not None:
            out["retired"] = True
        out["assets"] = assets
        sites.append(out)
    return {"sites": sites}


def _sensor_out(sensor: Sensor) -> dict[str, Any]:
    out: dict[str, Any] = {"name": sensor.name, "unit": sensor.unit}
    for key in ("interval_s", "normal_min", "normal_max"):
        value = getattr(sensor, key)
        if value is not None:
            out[key] = value
    if sensor.retired_at is not None:
        out["retired"] = True
    return out


def dump(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
