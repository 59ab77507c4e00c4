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

Each concern also carries plain words for a board member, its estimated impact per day, and
its trend against the week before (:mod:`app.impact`); each site its owner, the maintenance
contacts.

``score`` orders assets worst first: every red asset above every amber one above every green
one, and within a level, more and bigger concerns first.

Queries: per supplier, a fixed handful (assets, sensors, unresolved alerts, active models,
their latest validations, the last two weeks' alerts and failed validations, today's tariffs),
plus one primary-key seek per sensor (latest reading), three per asset whose type keeps a damage
total (now, a week and two weeks ago), and two averages over at most a week per asset with an
energy-costing alert (during it, the week before it). No query grows with the history.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app import impact
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
from app.impact import Impact, Trend
from app.plain_text import classification
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
#: What each damage figure is, for a reader who sees only the number.
DAMAGE_MEANINGS: dict[str, str] = {
    # app/twins/drivetrain.py: destruction per second = ((torque/1e6)(speed/60) + oil C) / 5e6,
    # summed over every second since the twin began: a pure number, not a share of design life.
    "drivetrain": "the gearbox's destruction rate (from torque, speed and oil temperature) summed "
                  "over every second since the twin began watching it: a pure number, not a share "
                  "of design life",
    "boiler": "hours the water has spent above the boiler's rated temperature since the twin began watching it",
}

UNRESOLVED = ("open", "acknowledged")


@dataclass(frozen=True)
class Concern:
    """One reason an asset is not green: its level, its weight in the score, and the words.

    ``text`` is the short label (the schematic, the API); ``plain`` says the same to a reader
    who knows nothing of the twin. ``kind`` (alert, data, forecast, no_forecast, no_sensors,
    damage) says which facts ``impact`` and ``trend`` come from."""

    level: Level
    weight: float
    text: str
    kind: str = "other"
    plain: str = ""
    classifications: tuple[str, ...] = ()
    impact: Impact | None = None
    trend: Trend | None = None

    @property
    def words(self) -> str:
        return self.plain or self.text


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
    #: the concerns themselves, worst first: plain words, impact, trend
    details: list[Concern] = field(default_factory=list)
    #: what the damage figure is (see :data:`DAMAGE_MEANINGS`)
    damage_meaning: str | None = None
    #: ``model_status`` in plain words
    forecast_words: str = ""


@dataclass(frozen=True)
class SiteHealth:
    """A site and the health of each of its assets (ordered by name)."""

    id: int
    name: str
    location: str | None
    assets: list[AssetHealth] = field(default_factory=list)
    maintenance_emails: str | None = None

    @property
    def owner(self) -> str:
        """Who looks after the site: its maintenance contacts, or where to set them."""
        return impact.owner_text(self.maintenance_emails)

    @property
    def contacts(self) -> list[str]:
        """The site's valid maintenance addresses (none when unset)."""
        return impact.contacts(self.maintenance_emails)

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
    return ", ".join(sorted({classification(c) for c in classifications}))


#: What each alert classification means, in a board member's words.
PLAIN_CLASSES: dict[str, str] = {
    "leakage": "water is leaking",
    "overuse": "it is using more than usual",
    "sensor_error": "a sensor is reading wrong",
    "other": "a reading is outside its normal range",
}


def _alert_plain(severity: str, classifications: list[str]) -> str:
    kinds = sorted(set(classifications), key=lambda c: list(PLAIN_CLASSES).index(c) if c in PLAIN_CLASSES else 99)
    said = [PLAIN_CLASSES.get(c, c.replace("_", " ")) for c in kinds]
    what = said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]
    urgency = "Act now" if severity == "critical" else "Check soon"
    noun = "critical alert" if severity == "critical" else "warning"
    return f"{urgency}: {what} ({_plural(len(classifications), noun)} open)."


def _alert_concerns(critical: list[str], warning: list[str]) -> list[Concern]:
    concerns = []
    if critical:
        concerns.append(Concern("red", 100 + 10 * len(critical),
                                f"{_plural(len(critical), 'critical alert')} open: {_kinds(critical)}",
                                "alert", _alert_plain("critical", critical), tuple(sorted(set(critical)))))
    if warning:
        concerns.append(Concern("amber", 30 + 5 * len(warning),
                                f"{_plural(len(warning), 'warning')} open: {_kinds(warning)}",
                                "alert", _alert_plain("warning", warning), tuple(sorted(set(warning)))))
    return concerns


def _data_concerns(latest: dict[str, datetime | None], now: datetime,
                   intervals: dict[str, int | None] | None = None) -> list[Concern]:
    """Concerns about the data itself: none at all, none for a while, or one sensor silent.
    "A while" is at least :data:`STALE_AMBER` (:data:`STALE_RED`), and at least
    :data:`MISSED_AMBER` (:data:`MISSED_RED`) of a sensor's own readings: a half-hourly meter
    is not late after an hour, nor a daily one after a day."""
    if not latest:
        return [Concern("amber", 15, "No sensors set up", "no_sensors",
                        "No sensors are set up on it, so the twin cannot watch it.")]
    seen = [ts for ts in latest.values() if ts is not None]
    if not seen:
        return [Concern("amber", 40, "No data received yet", "data",
                        "None of its sensors has sent any data yet.")]
    slowest = timedelta(seconds=max([v for v in (intervals or {}).values() if v] or [0]))
    amber_after, red_after = max(STALE_AMBER, MISSED_AMBER * slowest), max(STALE_RED, MISSED_RED * slowest)
    age = now - max(seen)
    plain = f"The twin has had no data from it for {_duration(age)}."
    if age >= red_after:
        return [Concern("red", 90, f"No data for {_duration(age)}", "data", plain)]
    if age >= amber_after:
        return [Concern("amber", 25 + min(age / red_after, 1) * 10, f"No data for {_duration(age)}", "data", plain)]

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
        plain = (f"Its {silent[0].replace('_', ' ')} sensor has sent nothing "
                 f"{'for ' + _duration(now - ts) if ts else 'yet'}; the others still report.")
    else:
        text = f"{len(silent)} of {len(latest)} sensors silent"
        plain = f"{len(silent)} of its {len(latest)} sensors have gone quiet; the others still report."
    return [Concern("amber", 20, text, "data", plain)]


#: ``model_status`` in plain words
FORECAST_WORDS: dict[str, str] = {
    "No forecasting model yet": "No forecasts yet",
    "Forecasts checked and accurate": "Forecasts checked against what happened: accurate",
    "Forecasting, not yet checked": "Forecasting; not yet checked against what happened",
}
FAILING_WORDS = "Forecast missed its accuracy limit; being retrained automatically (no action needed)"


def _model_concerns(versions: list[ModelVersion], latest_validation: dict[int, Validation],
                    asset_name: str = "this asset") -> tuple[str, list[Concern]]:
    """The asset's forecasting in words, and the concern it raises, if any."""
    if not versions:
        return "No forecasting model yet", [Concern(
            "amber", 10, "No forecasting model yet", "no_forecast",
            f"The twin has no forecast for {asset_name} yet, so it cannot warn ahead of time.")]
    failing = [v for v in versions if v.needs_retraining
               or getattr(latest_validation.get(v.id), "disposition", None) == "retrain"]
    if failing:
        text = "Forecasts failing validation: retraining"
        targets = ", ".join(sorted(v.target.replace("_", " ") for v in failing))
        if len(versions) > 1:
            text += f" ({targets})"
        plain = (f"The twin's forecast for {asset_name} ({targets}) missed by more than its limit; "
                 f"it is being retrained automatically (no action needed).")
        return text, [Concern("amber", 20, text, "forecast", plain)]
    if all(v.id in latest_validation for v in versions):
        return "Forecasts checked and accurate", []
    return "Forecasting, not yet checked", []


def _damage_concern(label: str, fraction: float | None) -> list[Concern]:
    if fraction is None or fraction < DAMAGE_AMBER:
        return []
    percent = round(fraction * 100)
    if fraction >= 1:
        return [Concern("red", 95 + min(fraction - 1, 1) * 10, f"{label} past its limit ({percent} %)", "damage",
                        f"{label} is past the limit set for it ({percent} % of it): plan an inspection.")]
    return [Concern("amber", 30 + fraction * 10, f"{label} at {percent} % of its limit", "damage",
                    f"{label} has reached {percent} % of the limit set for it.")]


def _latest_calculation(session: Session, asset_id: int, name: str,
                        at: datetime | None = None) -> float | None:
    # A seek on the primary key (asset_id, name, ts), newest first: one row, whatever the history.
    query = select(Calculation.value).where(Calculation.asset_id == asset_id, Calculation.name == name)
    if at is not None:
        query = query.where(Calculation.ts <= at)
    return session.scalar(query.order_by(Calculation.ts.desc()).limit(1))


def _severity(severity: str) -> str:
    return "critical" if severity == "critical" else "warning"


@dataclass
class _Week:
    """What the impacts and trends are judged from, for every asset of the supplier."""

    session: Session
    sensors_engine: Engine
    supplier_id: int
    now: datetime
    #: (asset id, severity, classification) -> alerts started [this week, the week before]
    alerts: dict[tuple[int, str, str], list[int]]
    #: asset id -> when its earliest unresolved leak or overuse alert began
    costly_since: dict[int, datetime]
    #: asset id -> failed forecast checks [this week, the week before]
    failed_checks: dict[int, list[int]]
    _rates: dict[str, impact.UnitRate] | None = None

    def rates(self) -> dict[str, impact.UnitRate]:
        if self._rates is None:  # only read when some concern costs energy
            self._rates = impact.current_rates(self.session, self.supplier_id, self.now)
        return self._rates


def _week(session: Session, sensors_engine: Engine, supplier_id: int, owned: Any,
          now: datetime) -> _Week:
    week_ago = now - impact.WEEK
    alerts: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for asset_id, severity, classification, started_at in session.execute(
        select(Alert.asset_id, Alert.severity, Alert.classification, Alert.started_at)
        .where(Alert.asset_id.in_(owned), Alert.started_at >= now - 2 * impact.WEEK, Alert.started_at < now)
    ):
        alerts[asset_id, _severity(severity), classification][0 if started_at >= week_ago else 1] += 1
    costly_since = dict(session.execute(
        select(Alert.asset_id, func.min(Alert.started_at))
        .where(Alert.asset_id.in_(owned), Alert.status.in_(UNRESOLVED),
               Alert.classification.in_(impact.ENERGY_CLASSES))
        .group_by(Alert.asset_id)
    ).all())
    failed_checks: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for slot, (start, end) in enumerate(((week_ago, now), (now - 2 * impact.WEEK, week_ago))):
        for asset_id, count in session.execute(
            select(ModelVersion.asset_id, func.count(Validation.id))
            .join(ModelVersion, ModelVersion.id == Validation.model_version_id)
            .where(ModelVersion.asset_id.in_(owned), Validation.disposition == "retrain",
                   Validation.window_to > start, Validation.window_to <= end)
            .group_by(ModelVersion.asset_id)
        ):
            failed_checks[asset_id][slot] = count
    return _Week(session, sensors_engine, supplier_id, now, alerts, costly_since, failed_checks)


def _energy_impact(week: _Week, asset: Asset, classifications: tuple[str, ...]) -> Impact:
    """A leak's or overuse's impact on an asset whose twin measures energy (or water lost)."""
    started = week.costly_since.get(asset.id)
    spans = impact.windows(started, week.now) if started else None
    if spans is None:
        return Impact("Impact not estimated: the alert began less than an hour ago.")
    (during, before) = spans
    if asset.asset_type == "pipeline":
        lost = impact.EnergyUse("calculation", "flow_imbalance_m3h", "gas", "water lost")
        return impact.water_impact(
            impact.mean_kw(week.session, week.sensors_engine, asset.id, lost, *during),
            impact.mean_kw(week.session, week.sensors_engine, asset.id, lost, *before),
            impact.NOT_ESTIMATED["pipeline"])
    use = impact.ENERGY[asset.asset_type]
    return impact.energy_impact(
        impact.mean_kw(week.session, week.sensors_engine, asset.id, use, *during),
        impact.mean_kw(week.session, week.sensors_engine, asset.id, use, *before),
        use, week.rates().get(use.fuel))


def _assess(concerns: list[Concern], week: _Week, asset: Asset,
            latest: datetime | None, damage_growth: tuple[float | None, float | None]) -> list[Concern]:
    """Each concern with its impact and its trend (the concerns worst first, as given)."""
    assessed = []
    priced = False  # the energy is the asset's, so it is counted once, on its worst concern
    for c in concerns:
        if c.kind == "alert":
            severity = "critical" if c.level == "red" else "warning"
            found = impact.alert_impact(asset.asset_type, list(c.classifications))
            if found is None and priced:
                found = Impact("Energy counted with the alert above.")
            elif found is None:
                found, priced = _energy_impact(week, asset, c.classifications), True
            counts = [sum(week.alerts.get((asset.id, severity, k), [0, 0])[slot] for k in c.classifications)
                      for slot in (0, 1)]
            trend = impact.counts_trend(counts[0], counts[1], "alert" if severity == "critical" else "warning")
        elif c.kind == "data":
            found, trend = impact.no_cost("data"), impact.silence_trend(latest, week.now)
        elif c.kind == "forecast":
            this, last = week.failed_checks.get(asset.id, [0, 0])
            found, trend = impact.no_cost("forecast"), impact.counts_trend(this, last, "failed forecast check")
        elif c.kind in ("no_forecast", "no_sensors"):
            found = impact.no_cost(c.kind)
            trend = impact.since_trend(asset.created_at, week.now,
                                       "no forecast" if c.kind == "no_forecast" else "no sensors")
        elif c.kind == "damage":
            unit = " h" if asset.asset_type == "boiler" else ""
            found, trend = impact.no_cost("damage"), impact.growth_trend(*damage_growth, unit)
        else:
            found, trend = None, None
        assessed.append(replace(c, impact=found, trend=trend))
    return assessed


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
        alerts[asset_id, _severity(severity)].append(classification)

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

    week = _week(session, sensors_engine, supplier_id, owned, now)
    by_site: dict[int, list[AssetHealth]] = defaultdict(list)
    site_names = {site.id: site.name for site in sites}
    for asset in assets:
        type_ = ASSET_TYPES.get(asset.asset_type)
        critical = alerts.get((asset.id, "critical"), [])
        warning = alerts.get((asset.id, "warning"), [])
        readings = {name: latest.get(sid) for sid, name in sensors.get(asset.id, [])}
        seen = [ts for ts in readings.values() if ts is not None]
        model_status, model_concerns = _model_concerns(versions.get(asset.id, []), latest_validation,
                                                       asset.name)

        damage = damage_label = damage_unit = fraction = None
        growth: tuple[float | None, float | None] = (None, None)
        if asset.asset_type in DAMAGE_CALCULATIONS:
            calculation, damage_label = DAMAGE_CALCULATIONS[asset.asset_type]
            damage_unit = type_.calculations.get(calculation) if type_ else None
            damage = _latest_calculation(session, asset.id, calculation)
            limit = _damage_limit(asset.parameters)
            if damage is not None and limit is not None:
                fraction = damage / limit
            if fraction is not None and fraction >= DAMAGE_AMBER:  # only a concern has a trend
                growth = _growth(session, asset.id, calculation, damage, now)

        concerns = sorted(
            _alert_concerns(critical, warning)
            + _data_concerns(readings, now, {n: intervals.get(f"{asset.id}:{n}") for n in readings})
            + model_concerns
            + _damage_concern(damage_label or "Damage", fraction),
            key=lambda c: (LEVELS.index(c.level), c.weight), reverse=True,
        )
        concerns = _assess(concerns, week, asset, max(seen) if seen else None, growth)
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
            details=concerns,
            damage_meaning=DAMAGE_MEANINGS.get(asset.asset_type),
            forecast_words=FORECAST_WORDS.get(model_status, FAILING_WORDS),
        ))
    return [SiteHealth(site.id, site.name, site.location, by_site.get(site.id, []), site.maintenance_emails)
            for site in sites]


def _growth(session: Session, asset_id: int, calculation: str, now_value: float,
            now: datetime) -> tuple[float | None, float | None]:
    """How much a running total grew this week and the week before (None without figures)."""
    week_ago = _latest_calculation(session, asset_id, calculation, now - impact.WEEK)
    fortnight_ago = _latest_calculation(session, asset_id, calculation, now - 2 * impact.WEEK)
    if week_ago is None or fortnight_ago is None:
        return None, None
    return now_value - week_ago, week_ago - fortnight_ago


def worst_first(sites: list[SiteHealth]) -> list[AssetHealth]:
    """Every asset of every site, the most worrying first (then by site and name)."""
    return sorted((a for site in sites for a in site.assets), key=lambda a: (-a.score, a.site_name, a.name))
