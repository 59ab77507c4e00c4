"""What the Models page shows: an asset's model versions, their validations and decisions, and
training on request. Every query is scoped to the user's supplier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import jobs
from app.db.models import Asset, Job, ModelEvent, ModelVersion, Site, Validation
from app.schedule import load as load_schedule
from app.schedule import targets_for


class AssetNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Overview:
    asset: Asset
    targets: list[str]
    versions: list[ModelVersion]
    validations: list[tuple[Validation, int]]  # (validation, model version number)
    events: list[tuple[ModelEvent, int | None]]
    job: Job | None


def supplier_assets(session: Session, supplier_id: int) -> list[tuple[int, str]]:
    return [(a.id, f"{site} · {a.name}") for a, site in session.execute(
        select(Asset, Site.name).join(Site, Site.id == Asset.site_id)
        .where(Site.supplier_id == supplier_id).order_by(Site.name, Asset.name)).all()]


def owned_asset(session: Session, supplier_id: int, asset_id: int) -> Asset:
    asset = session.scalar(select(Asset).join(Site, Site.id == Asset.site_id)
                           .where(Asset.id == asset_id, Site.supplier_id == supplier_id))
    if asset is None:
        raise AssetNotFound(asset_id)
    return asset


def overview(session: Session, supplier_id: int, asset_id: int,
             schedule_file: Path | None = None) -> Overview:
    asset = owned_asset(session, supplier_id, asset_id)
    versions = list(session.scalars(select(ModelVersion).where(ModelVersion.asset_id == asset_id)
                                    .order_by(ModelVersion.target, ModelVersion.version.desc())))
    numbers = {v.id: v.version for v in versions}
    validations = [(v, numbers[v.model_version_id]) for v in session.scalars(
        select(Validation).where(Validation.model_version_id.in_(list(numbers) or [-1]))
        .order_by(Validation.window_to))]
    events = [(e, numbers.get(e.model_version_id)) for e in session.scalars(
        select(ModelEvent).where(ModelEvent.asset_id == asset_id).order_by(ModelEvent.at.desc()).limit(50))]
    targets = list(dict.fromkeys([v.target for v in versions]
                                 + targets_for(load_schedule(schedule_file), asset.asset_type, asset.id,
                                             asset.forecast_targets)))
    return Overview(asset, targets, versions, validations, events,
                    jobs.latest_job(session, supplier_id, asset_id, "train"))


def request_training(session: Session, *, supplier_id: int, user_id: int, role: str,
                     asset_id: int, target: str) -> Job:
    """A training job for an admin, unless one is already waiting or running for the asset."""
    if role != "admin":
        raise PermissionError("only admins start training")
    asset = owned_asset(session, supplier_id, asset_id)
    current = jobs.latest_job(session, supplier_id, asset.id, "train")
    if current is not None and current.status in jobs.ACTIVE:
        return current
    return jobs.create_job(session, supplier_id=supplier_id, kind="train", asset_id=asset.id,
                           target=target, user_id=user_id, message="Waiting for a worker")
