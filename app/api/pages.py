"""The supplier's assets a page at a time, for the API.

A supplier may have thousands of assets, so a page is counted and cut in the database, and the
page's sensors come in one query. What a list shows follows the catalogue's lists
(:func:`app.plant.catalogue.list_assets`): retired assets, and the assets of retired sites,
only when asked for. Sites and an asset's sensors are few; their lists are the catalogue's own.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Asset, Sensor, Site


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
