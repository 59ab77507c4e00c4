"""The catalogue over the API: a supplier's sites, assets and sensors, listed, read, created,
changed, retired, restored and deleted.

Every change goes through :mod:`app.plant.catalogue`, the rules the CLI, the portal and estate
files use (scoped to the token's supplier, audited in the token's name) and needs an admin
token; any token may read. What the catalogue refuses is answered in the API's one error
shape, with the field to fix:

* **404** for an id in the path that the token's supplier has no record of; another
  supplier's record answers exactly like one that does not exist.
* **422** for a request the catalogue cannot carry out as it stands: a unit pint does not
  know, an unknown type, a formula reading a missing sensor or dividing by a constant zero, an
  upstream link that makes a cycle, a ``site_id`` or ``asset_id`` in the body that is not the
  supplier's (the same words whether it is another supplier's or free).
* **409** for a sound request that what is stored stands against: a name already taken within
  its parent, or a delete of something with history (the message says to retire it instead)
  or that other records depend on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from apiflask import APIBlueprint
from flask import Response, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api import schemas as s
from app.api.errors import ApiError, not_found, responses
from app.api.security import ADMIN, READ, auth, current
from app.db.models import Asset, Sensor, Site
from app.plant import catalogue
from app.plant.catalogue import Actor, CatalogueError, NotInCatalogue
from app.web.context import db_session, twin

bp = APIBlueprint("catalogue", __name__, tag="Catalogue")
Record = TypeVar("Record")
_INDEX = re.compile(r"\[(\d+)\]")
#: Documented for every change: scope, a body the catalogue refuses as it stands is the
#: automatic 422, what is stored standing against it 409.
CHANGE = responses(400, 403, 409, 413)


# -- errors and transactions ------------------------------------------------------------------


def refused(exc: CatalogueError) -> ApiError:
    """The API's answer to a refusal of the catalogue: 409 when a name is taken or a delete
    meets history or dependants, 422 otherwise; the field in the API's dotted form."""
    field = _INDEX.sub(r".\1", exc.field) if exc.field else "body"
    reason = str(exc.args[0])
    conflict = exc.field == "id" or (exc.field == "name" and "already" in reason)
    where = ", ".join(part for part in (exc.entry, field) if part)
    return ApiError(409 if conflict else 422, "conflict" if conflict else "validation_error",
                    f"{where}: {reason}",
                    [{"field": field, "code": "conflict" if conflict else "refused",
                      "message": reason}])


def _actor() -> Actor:
    token = current()
    return Actor(token.supplier_id, ip=request.remote_addr, via=f"API token '{token.name}'")


@contextmanager
def _change() -> Iterator[Session]:
    """The request's session for one change: committed when the block ends, rolled back (and
    answered as the API answers it) when the catalogue refuses."""
    session = db_session()
    try:
        yield session
        session.commit()
    except NotInCatalogue as exc:
        session.rollback()
        raise not_found(exc.what, exc.ident) from None  # type: ignore[arg-type]
    except CatalogueError as exc:
        session.rollback()
        raise refused(exc) from None
    except IntegrityError:
        # Two changes at once passed the checks; the database's unique keys stopped the second.
        session.rollback()
        raise ApiError(409, "conflict", "Another change to the catalogue got there first (the "
                       "name was just taken, or the record changed): read it again and retry.",
                       [{"field": "body", "code": "conflict", "message": "changed meanwhile"}]
                       ) from None


def _found(lookup: Callable[[Session, int, int], Record], what: str, ident: int) -> Record:
    try:
        return lookup(db_session(), current().supplier_id, ident)
    except NotInCatalogue:
        raise not_found(what, ident) from None


def _no_content() -> Response:
    response = Response(status=204)
    response.headers.remove("Content-Type")
    return response


# -- what the answers hold ----------------------------------------------------------------------


def _site_out(site: Site) -> dict[str, Any]:
    emails = [e.strip() for e in (site.maintenance_emails or "").split(",") if e.strip()]
    return {"id": site.id, "name": site.name, "location": site.location,
            "maintenance_emails": emails, "retired_at": site.retired_at}


def _sensor_out(sensor: Sensor) -> dict[str, Any]:
    return {"id": sensor.id, "asset_id": sensor.asset_id, "name": sensor.name,
            "unit": sensor.unit, "interval_s": sensor.interval_s, "normal_min": sensor.normal_min,
            "normal_max": sensor.normal_max, "retired_at": sensor.retired_at}


def _asset_out(asset: Asset, site: str, sensors: list[Sensor]) -> dict[str, Any]:
    return {"id": asset.id, "name": asset.name, "asset_type": asset.asset_type,
            "site_id": asset.site_id, "site": site, "upstream_id": asset.upstream_id,
            "parameters": dict(asset.parameters or {}), "formulas": list(asset.formulas or []),
            "forecast_targets": asset.forecast_targets, "retired_at": asset.retired_at,
            "sensors": [_sensor_out(x) for x in sensors]}


def _one_asset(session: Session, asset: Asset) -> dict[str, Any]:
    site = session.get(Site, asset.site_id)
    assert site is not None
    return _asset_out(asset, site.name, catalogue.sensors_of(session, [asset.id])[asset.id])


# -- sites --------------------------------------------------------------------------------------


@bp.get("/sites")
@bp.auth_required(auth, roles=READ)
@bp.input(s.RetiredQuery, location="query", arg_name="query")
@bp.output(s.SitePage)
@bp.doc(responses=responses())
def list_sites(query: s.RetiredQuery) -> dict[str, Any]:
    """List sites.

    The supplier's sites by name; retired ones with ``retired=true``."""
    sites = catalogue.list_sites(db_session(), current().supplier_id, retired=query.retired)
    shown = sites[query.offset:query.offset + query.per_page]
    return s.Page.of([_site_out(x) for x in shown], query, len(sites))


@bp.post("/sites")
@bp.auth_required(auth, roles=ADMIN)
@bp.input(s.SiteIn, location="json", arg_name="body")
@bp.output(s.SiteOut, status_code=201)
@bp.doc(responses=CHANGE)
def create_site(body: s.SiteIn) -> dict[str, Any]:
    """Create a site (admin token).

    A name unique among the supplier's sites (409 when taken), an optional location and the
    emails that hear of its maintenance."""
    with _change() as session:
        site = catalogue.create_site(session, _actor(), **body.model_dump())
        out = _site_out(site)
    return out


@bp.get("/sites/<id:site_id>")
@bp.auth_required(auth, roles=READ)
@bp.output(s.SiteOut)
@bp.doc(responses=responses())
def get_site(site_id: int) -> dict[str, Any]:
    """One site."""
    return _site_out(_found(catalogue.get_site, "site", site_id))


@bp.patch("/sites/<id:site_id>")
@bp.auth_required(auth, roles=ADMIN)
@bp.input(s.SitePatch, location="json", arg_name="body")
@bp.output(s.SiteOut)
@bp.doc(responses=CHANGE)
def update_site(site_id: int, body: s.SitePatch) -> dict[str, Any]:
    """Change a site (admin token).

    Only the fields sent change; a name already taken is a 409."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        return _site_out(_found(catalogue.get_site, "site", site_id))
    with _change() as session:
        out = _site_out(catalogue.update_site(session, _actor(), site_id, changes))
    return out


@bp.delete("/sites/<id:site_id>")
@bp.auth_required(auth, roles=ADMIN)
@bp.output({}, status_code=204)
@bp.doc(responses=responses(403, 409))
def delete_site(site_id: int) -> Response:
    """Delete a site (admin token).

    Only a site without assets; one with assets is a 409 (delete them first, or retire the
    site to keep their history)."""
    with _change() as session:
        catalogue.delete_site(session, _actor(), site_id)
    return _no_content()


def _retire_site(site_id: int, retired: bool) -> dict[str, Any]:
    with _change() as session:
        out = _site_out(catalogue.retire_site(session, _actor(), site_id, retired=retired))
    return out


@bp.post("/sites/<id:site_id>/retire")
@bp.auth_required(auth, roles=ADMIN)
@bp.output(s.SiteOut)
@bp.doc(responses=responses(403, 413))
def retire_site(site_id: int) -> dict[str, Any]:
    """Retire a site (admin token).

    Its history stays; it and its assets leave the lists and the pipeline."""
    return _retire_site(site_id, True)


@bp.post("/sites/<id:site_id>/restore")
@bp.auth_required(auth, roles=ADMIN)
@bp.output(s.SiteOut)
@bp.doc(responses=responses(403, 413))
def restore_site(site_id: int) -> dict[str, Any]:
    """Restore a retired site (admin token)."""
    return _retire_site(site_id, False)


# -- assets -------------------------------------------------------------------------------------


@bp.get("/assets")
@bp.auth_required(auth, roles=READ)
@bp.input(s.AssetQuery, location="query", arg_name="query")
@bp.output(s.AssetPage)
@bp.doc(responses=responses())
def list_assets(query: s.AssetQuery) -> dict[str, Any]:
    """List assets.

    The supplier's plant assets with their sensors, by site; retired assets (and those of
    retired sites) with ``retired=true``."""
    session = db_session()
    rows, total = catalogue.page_assets(session, current().supplier_id, offset=query.offset,
                              limit=query.per_page, site_id=query.site_id,
                              asset_type=query.asset_type, retired=query.retired)
    sensors = catalogue.sensors_of(session, [asset.id for asset, _ in rows], retired=query.retired)
    return s.Page.of([_asset_out(asset, site, sensors[asset.id]) for asset, site in rows],
                     query, total)


@bp.post("/assets")
@bp.auth_required(auth, roles=ADMIN)
@bp.input(s.AssetIn, location="json", arg_name="body")
@bp.output(s.AssetOut, status_code=201)
@bp.doc(responses=CHANGE)
def create_asset(body: s.AssetIn) -> dict[str, Any]:
    """Create an asset (admin token).

    On a live site of the supplier, with a name unique on the site (409 when taken). A
    built-in type comes with its sensors; a ``generic`` asset starts without any: add them
    (``POST /sensors``), then the formulas and forecast targets that read them (``PATCH``)."""
    with _change() as session:
        asset = catalogue.create_asset(session, _actor(), **body.model_dump())
        out = _one_asset(session, asset)
    return out


@bp.get("/assets/<id:asset_id>")
@bp.auth_required(auth, roles=READ)
@bp.output(s.AssetOut)
@bp.doc(responses=responses())
def get_asset(asset_id: int) -> dict[str, Any]:
    """One asset, with its live sensors."""
    return _one_asset(db_session(), _found(catalogue.get_asset, "asset", asset_id))


@bp.patch("/assets/<id:asset_id>")
@bp.auth_required(auth, roles=ADMIN)
@bp.input(s.AssetPatch, location="json", arg_name="body")
@bp.output(s.AssetOut)
@bp.doc(responses=CHANGE)
def update_asset(asset_id: int, body: s.AssetPatch) -> dict[str, Any]:
    """Change an asset (admin token).

    Only the fields sent change. ``parameters`` are merged into the stored ones (null removes
    one); ``formulas`` and ``forecast_targets`` replace the stored lists and are checked
    against the asset's sensors. The type cannot change."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        return _one_asset(db_session(), _found(catalogue.get_asset, "asset", asset_id))
    with _change() as session:
        asset = catalogue.update_asset(session, _actor(), asset_id, changes)
        out = _one_asset(session, asset)
    return out


@bp.delete("/assets/<id:asset_id>")
@bp.auth_required(auth, roles=ADMIN)
@bp.output({}, status_code=204)
@bp.doc(responses=responses(403, 409))
def delete_asset(asset_id: int) -> Response:
    """Delete an asset (admin token).

    Only an asset without history, with its sensors. One with readings, calculations, alerts
    or models is a 409 saying to retire it instead; one that other assets name as upstream is
    a 409 too."""
    with _change() as session:
        catalogue.delete_asset(session, _actor(), asset_id, readings=twin().db.sensors_engine)
    return _no_content()


def _retire_asset(asset_id: int, retired: bool) -> dict[str, Any]:
    with _change() as session:
        asset = catalogue.retire_asset(session, _actor(), asset_id, retired=retired)
        out = _one_asset(session, asset)
    return out


@bp.post("/assets/<id:asset_id>/retire")
@bp.auth_required(auth, roles=ADMIN)
@bp.output(s.AssetOut)
@bp.doc(responses=responses(403, 413))
def retire_asset(asset_id: int) -> dict[str, Any]:
    """Retire an asset (admin token).

    Its history stays; it leaves the lists (see ``retired=true``) and the pipeline."""
    return _retire_asset(asset_id, True)


@bp.post("/assets/<id:asset_id>/restore")
@bp.auth_required(auth, roles=ADMIN)
@bp.output(s.AssetOut)
@bp.doc(responses=responses(403, 413))
def restore_asset(asset_id: int) -> dict[str, Any]:
    """Restore a retired asset (admin token)."""
    return _retire_asset(asset_id, False)


# -- sensors ------------------------------------------------------------------------------------


@bp.get("/assets/<id:asset_id>/sensors")
@bp.auth_required(auth, roles=READ)
@bp.input(s.RetiredQuery, location="query", arg_name="query")
@bp.output(s.SensorPage)
@bp.doc(responses=responses())
def list_sensors(asset_id: int, query: s.RetiredQuery) -> dict[str, Any]:
    """List an asset's sensors.

    Live sensors by id; retired ones with ``retired=true``."""
    try:
        sensors = catalogue.list_sensors(db_session(), current().supplier_id, asset_id,
                                         retired=query.retired)
    except NotInCatalogue:
        raise not_found("asset", asset_id) from None
    shown = sensors[query.offset:query.offset + query.per_page]
    return s.Page.of([_sensor_out(x) for x in shown], query, len(sensors))


@bp.post("/sensors")
@bp.auth_required(auth, roles=ADMIN)
@bp.input(s.SensorIn, location="json", arg_name="body")
@bp.output(s.SensorOut, status_code=201)
@bp.doc(responses=CHANGE)
def create_sensor(body: s.SensorIn) -> dict[str, Any]:
    """Add a sensor to an asset (admin token).

    A name unique on the asset (409 when taken), a unit pint knows (MW, kWh, m³/h, °C...), and
    optionally its reporting interval and normal range (a static limit that raises alerts)."""
    with _change() as session:
        out = _sensor_out(catalogue.create_sensor(session, _actor(), **body.model_dump()))
    return out


@bp.get("/sensors/<id:sensor_id>")
@bp.auth_required(auth, roles=READ)
@bp.output(s.SensorOut)
@bp.doc(responses=responses())
def get_sensor(sensor_id: int) -> dict[str, Any]:
    """One sensor."""
    return _sensor_out(_found(catalogue.get_sensor, "sensor", sensor_id))


@bp.patch("/sensors/<id:sensor_id>")
@bp.auth_required(auth, roles=ADMIN)
@bp.input(s.SensorPatch, location="json", arg_name="body")
@bp.output(s.SensorOut)
@bp.doc(responses=CHANGE)
def update_sensor(sensor_id: int, body: s.SensorPatch) -> dict[str, Any]:
    """Change a sensor (admin token).

    Only the fields sent change. A sensor a formula or forecast target reads cannot be
    renamed until they change."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        return _sensor_out(_found(catalogue.get_sensor, "sensor", sensor_id))
    with _change() as session:
        out = _sensor_out(catalogue.update_sensor(session, _actor(), sensor_id, changes))
    return out


@bp.delete("/sensors/<id:sensor_id>")
@bp.auth_required(auth, roles=ADMIN)
@bp.output({}, status_code=204)
@bp.doc(responses=responses(403, 409))
def delete_sensor(sensor_id: int) -> Response:
    """Delete a sensor (admin token).

    Only a sensor without readings that no formula or forecast target reads; one with readings
    is a 409 saying to retire it instead."""
    with _change() as session:
        catalogue.delete_sensor(session, _actor(), sensor_id, readings=twin().db.sensors_engine)
    return _no_content()


def _retire_sensor(sensor_id: int, retired: bool) -> dict[str, Any]:
    with _change() as session:
        out = _sensor_out(catalogue.retire_sensor(session, _actor(), sensor_id, retired=retired))
    return out


@bp.post("/sensors/<id:sensor_id>/retire")
@bp.auth_required(auth, roles=ADMIN)
@bp.output(s.SensorOut)
@bp.doc(responses=responses(403, 413))
def retire_sensor(sensor_id: int) -> dict[str, Any]:
    """Retire a sensor (admin token).

    Its readings stay; it leaves the lists and the pipeline."""
    return _retire_sensor(sensor_id, True)


@bp.post("/sensors/<id:sensor_id>/restore")
@bp.auth_required(auth, roles=ADMIN)
@bp.output(s.SensorOut)
@bp.doc(responses=responses(403, 413))
def restore_sensor(sensor_id: int) -> dict[str, Any]:
    """Restore a retired sensor (admin token)."""
    return _retire_sensor(sensor_id, False)
