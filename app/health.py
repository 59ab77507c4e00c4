"""How healthy each of a supplier's assets is, in words a non-technical reader understands.

Used by the Overview ("/") and the Board view ("/board"). Every asset gets a level, green,
amber or red, and a list of concerns, each a short plain sentence. The level is the worst of
its concerns; with none the asset is green.

Red (act now):
- a critical alert is unresolved (open or acknowledged but not closed);
- no sensor data for :data:`STALE_RED` or longer;
- accumulated damage at or past its limit (``damage_limit`` in the asset's parameters).

Amber (keep an eye on it):
- a warning alert (any severity but critical) is unresolved;
- no sensor data for :data:`STALE_AMBER` or longer, or one of the sensors silent that long
  while the others still report;
- the asset has sensors but none has ever reported, or it has no sensors at all;
- a forecasting model's latest validation decided "retrain", or the model is marked for
  retraining;
- no active forecasting model at all (the twin cannot warn ahead of time);
- accumulated damage at :data:`DAMAGE_AMBER` of its limit or more.

``score`` orders assets worst first: every red asset above every amber one above every green
one, and within a level, more and bigger concerns first.

Queries: per supplier, a fixed handful (assets, sensors, unresolved alerts, active models,
their latest validations), plus one primary-key seek per sensor (latest reading) and one per
asset whose type keeps a damage total (latest value). No query grows with the history.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.db.models import (
    Alert,
    Asset,
    Calculation,
    ModelVersion,
    Sensor,
    SensorReading,
    Site,
    Validation,
)
from app.twins import ASSET_TYPES

Level = Literal["green", "amber", "red"]
LEVELS: tuple[Level, ...] = ("green", "amber", "red")

#: Data older than this is a concern (amber); the plant historian normally reports every minute.
STALE_AMBER = timedelta(hours=1)
#: Data older than this means the twin is blind to the asset (red).
STALE_RED = timedelta(hours=24)
#: ...and at least this many of a sensor's own reporting intervals without a reading
MISSED_AMBER = 3
MISSED_RED = 24
#: Share of the damage limit from which the damage is a concern (amber); red at the limit.
DAMAGE_AMBER = 0.8

#: Asset type -> (calculation that accumulates damage, what a reader calls it). Only types whose
#: ``calculations`` keep a running total of harm are here; the others have no damage figure.
DAMAGE_CALCULATIONS: dict[str, tuple[str, str]] = {
    "drivetrain": ("accumulated_destruction", "Wear"),
    "boiler": ("hours_above_rated", "Time above rated temperature"),
}

UNRESOLVED = ("open", "acknowledged")


@dataclass(frozen=True)
class Concern:
    """One reason an asset is not green: its level, its weight in the score, and the words."""

    level: Level
    weight: float
    text: str


@dataclass(frozen=True)
class AssetHealth:
    """One asset's health: the level, the concerns behind it, and the facts they come from."""

    id: int
    name: str
    asset_type: str
    type_label: str
    site_id: int
    site_name: str
    upstream_id: int | None
    level: Level
    score: float
    concerns: list[str]
    open_alerts_critical: int
    open_alerts_warning: int
    model_status: str
    damage: float | None
    damage_label: str | None
    damage_unit: str | None
    damage_fraction: float | None
    latest_reading_at: datetime | None
    sensors: int


@dataclass(frozen=True)
class SiteHealth:
    """A site and the health of each of its assets (ordered by name)."""

    id: int
    name: str
    location: str | None
    assets: list[AssetHealth] = field(default_factory=list)

    @property
    def level(self) -> Level:
        """The worst level of the site's assets (green for a site without any)."""
        return max((a.level for a in self.assets), key=LEVELS.index, default="green")


def latest_reading_times(sensor_source: Engine, sensor_ids: list[int]) -> dict[int, datetime | None]:
    """The time of each sensor's newest reading (None for a sensor that never reported)."""
    # One primary-key seek per sensor: max(ts) of a single sensor_id is an index lookup on every
    # database, where a GROUP BY over many sensors may scan their whole history.
    with sensor_source.connect() as conn:
        return {
            sid: conn.scalar(select(func.max(SensorReading.ts)).where(SensorReading.sensor_id == sid))
            for sid in sensor_ids
        }


def _duration(delta: timedelta) -> str:
    """A rough, readable length of time: "45 minutes", "3 hours", "2 days"."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _kinds(classifications: list[str]) -> str:
    return ", ".join(sorted({c.replace("_", " ") for c in classifications}))


def _alert_concerns(critical: list[str], warning: list[str]) -> list[Concern]:
    concerns = []
    if critical:
        concerns.append(Concern("red", 100 + 10 * len(critical),
                                f"{_plural(len(critical), 'critical alert')} open: {_kinds(critical)}"))
    if warning:
        concerns.append(Concern("amber", 30 + 5 * len(warning),
                                f"{_plural(len(warning), 'warning')} open: {_kinds(warning)}"))
    return concerns


def _data_concerns(latest: dict[str, datetime | None], now: datetime,
                   intervals: dict[str, int | None] | None = None) -> list[Concern]:
    """Concerns about the data itself: none at all, none for a while, or one sensor silent.
    "A while" is at least :data:`STALE_AMBER` (:data:`STALE_RED`), and at least
    :data:`MISSED_AMBER` (:data:`MISSED_RED`) of a sensor's own readings: a half-hourly meter
    is not late after an hour, nor a daily one after a day."""
    if not latest:
        return [Concern("amber", 15, "No sensors set up")]
    seen = [ts for ts in latest.values() if ts is not None]
    if not seen:
        return [Concern("amber", 40, "No data received yet")]
    slowest = timedelta(seconds=max([v for v in (intervals or {}).values() if v] or [0]))
    amber_after, red_after = max(STALE_AMBER, MISSED_AMBER * slowest), max(STALE_RED, MISSED_RED * slowest)
    age = now - max(seen)
    if age >= red_after:
        return [Concern("red", 90, f"No data for {_duration(age)}")]
    if age >= amber_after:
        return [Concern("amber", 25 + min(age / red_after, 1) * 10, f"No data for {_duration(age)}")]

    def quiet(name: str) -> timedelta:
        own = (intervals or {}).get(name)
        return max(STALE_AMBER, MISSED_AMBER * timedelta(seconds=own)) if own else STALE_AMBER

    # The asset reports, but a sensor that has gone quiet is worth a look (a broken probe).
    silent = sorted((name for name, ts in latest.items() if ts is None or now - ts >= quiet(name)))
    if not silent:
        return []
    if len(silent) == 1:
        ts = latest[silent[0]]
        since = f"for {_duration(now - ts)}" if ts else "ever"
        text = f"Sensor '{silent[0].replace('_', ' ')}' silent {since}"
    else:
        text = f"{len(silent)} of {len(latest)} sensors silent"
    return [Concern("amber", 20, text)]


def _model_concerns(versions: list[ModelVersion],
                    latest_validation: dict[int, Validation]) -> tuple[str, list[Concern]]:
    """The asset's forecasting in words, and the concern it raises, if any."""
    if not versions:
        return "No forecasting model yet", [Concern("amber", 10, "No forecasting model yet")]
    failing = [v for v in versions if v.needs_retraining
               or getattr(latest_validation.get(v.id), "disposition", None) == "retrain"]
    if failing:
        text = "Forecasts failing validation: retraining"
        if len(versions) > 1:
            text += f" ({', '.join(sorted(v.target.replace('_', ' ') for v in failing))})"
        return text, [Concern("amber", 20, text)]
    if all(v.id in latest_validation for v in versions):
        return "Forecasts checked and accurate", []
    return "Forecasting, not yet checked", []


def _damage_concern(label: str, fraction: float | None) -> list[Concern]:
    if fraction is None or fraction < DAMAGE_AMBER:
        return []
    percent = round(fraction * 100)
    if fraction >= 1:
        return [Concern("red", 95 + min(fraction - 1, 1) * 10, f"{label} past its limit ({percent} %)")]
    return [Concern("amber", 30 + fraction * 10, f"{label} at {percent} % of its limit")]


def _latest_calculation(session: Session, asset_id: int, name: str) -> float | None:
    # A seek on the primary key (asset_id, name, ts), newest first: one row, whatever the history.
    return session.scalar(
        select(Calculation.value)
        .where(Calculation.asset_id == asset_id, Calculation.name == name)
        .order_by(Calculation.ts.desc())
        .limit(1)
    )


def _damage_limit(parameters: dict[str, object] | None) -> float | None:
    limit = (parameters or {}).get("damage_limit")
    try:
        value = float(limit)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def estate_health(session: Session, sensors_engine: Engine, supplier_id: int,
                  now: datetime) -> list[SiteHealth]:
    """Every site of the supplier (by name) with the health of each of its assets (by name).

    ``sensors_engine`` is where sensor readings live (the plant historian, when configured);
    ``now`` is a timezone-aware UTC time the data's age is measured against.
    """
    sites = session.scalars(select(Site).where(Site.supplier_id == supplier_id,
                                               Site.retired_at.is_(None)).order_by(Site.name)).all()
    if not sites:
        return []
    live = (Site.supplier_id == supplier_id, Site.retired_at.is_(None), Asset.retired_at.is_(None))
    owned = select(Asset.id).join(Site, Site.id == Asset.site_id).where(*live)
    assets = session.scalars(
        select(Asset).join(Site, Site.id == Asset.site_id).where(*live).order_by(Asset.name)
    ).all()

    sensors: dict[int, list[tuple[int, str]]] = defaultdict(list)
    intervals: dict[str, int | None] = {}
    for sensor_id, asset_id, name, interval_s in session.execute(
        select(Sensor.id, Sensor.asset_id, Sensor.name, Sensor.interval_s)
        .where(Sensor.asset_id.in_(owned), Sensor.retired_at.is_(None)).order_by(Sensor.id)
    ):
        sensors[asset_id].append((sensor_id, name))
        intervals[f"{asset_id}:{name}"] = interval_s
    latest = latest_reading_times(sensors_engine, [sid for rows in sensors.values() for sid, _ in rows])

    alerts: dict[tuple[int, str], list[str]] = defaultdict(list)
    for asset_id, severity, classification in session.execute(
        select(Alert.asset_id, Alert.severity, Alert.classification)
        .where(Alert.asset_id.in_(owned), Alert.status.in_(UNRESOLVED))
    ):
        alerts[asset_id, "critical" if severity == "critical" else "warning"].append(classification)

    versions: dict[int, list[ModelVersion]] = defaultdict(list)
    for version in session.scalars(
        select(ModelVersion).where(ModelVersion.asset_id.in_(owned), ModelVersion.status == "active")
    ):
        versions[version.asset_id].append(version)
    newest = (
        select(func.max(Validation.id))
        .join(ModelVersion, ModelVersion.id == Validation.model_version_id)
        .where(ModelVersion.asset_id.in_(owned), ModelVersion.status == "active")
        .group_by(Validation.model_version_id)
    )
    latest_validation = {v.model_version_id: v for v in session.scalars(
        select(Validation).where(Validation.id.in_(newest)))}

    by_site: dict[int, list[AssetHealth]] = defaultdict(list)
    site_names = {site.id: site.name for site in sites}
    for asset in assets:
        type_ = ASSET_TYPES.get(asset.asset_type)
        critical = alerts.get((asset.id, "critical"), [])
        warning = alerts.get((asset.id, "warning"), [])
        readings = {name: latest.get(sid) for sid, name in sensors.get(asset.id, [])}
        seen = [ts for ts in readings.values() if ts is not None]
        model_status, model_concerns = _model_concerns(versions.get(asset.id, []), latest_validation)

        damage = damage_label = damage_unit = fraction = None
        if asset.asset_type in DAMAGE_CALCULATIONS:
            calculation, damage_label = DAMAGE_CALCULATIONS[asset.asset_type]
            damage_unit = type_.calculations.get(calculation) if type_ else None
            damage = _latest_calculation(session, asset.id, calculation)
            limit = _damage_limit(asset.parameters)
            if damage is not None and limit is not None:
                fraction = damage / limit

        concerns = sorted(
            _alert_concerns(critical, warning)
            + _data_concerns(readings, now, {n: intervals.get(f"{asset.id}:{n}") for n in readings})
            + model_concerns
            + _damage_concern(damage_label or "Damage", fraction),
            key=lambda c: (LEVELS.index(c.level), c.weight), reverse=True,
        )
        level = max((c.level for c in concerns), key=LEVELS.index, default="green")
        by_site[asset.site_id].append(AssetHealth(
            id=asset.id, name=asset.name, asset_type=asset.asset_type,
            type_label=type_.label if type_ else asset.asset_type,
            site_id=asset.site_id, site_name=site_names[asset.site_id], upstream_id=asset.upstream_id,
            level=level,
            # Level first, so no pile of amber concerns outranks a single red one.
            score=LEVELS.index(level) * 1000 + sum(c.weight for c in concerns),
            concerns=[c.text for c in concerns],
            open_alerts_critical=len(critical), open_alerts_warning=len(warning),
            model_status=model_status,
            damage=damage, damage_label=damage_label, damage_unit=damage_unit, damage_fraction=fraction,
            latest_reading_at=max(seen) if seen else None,
            sensors=len(readings),
        ))
    return [SiteHealth(site.id, site.name, site.location, by_site.get(site.id, [])) for site in sites]


def worst_first(sites: list[SiteHealth]) -> list[AssetHealth]:
    """Every asset of every site, the most worrying first (then by site and name)."""
    return sorted((a for site in sites for a in site.assets), key=lambda a: (-a.score, a.site_name, a.name))
