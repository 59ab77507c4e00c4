"""What the Models page, the asset page and ``twin models list`` show: per asset, target and
mode (a *slot*), the version that serves, the method it serves with and the baseline it beat
in its backtest, the latest validation, the version history, and training on request.

Every query is scoped to the user's supplier. The texts made here are plain text, the same in
the portal and the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import jobs
from app.db.models import Asset, Job, ModelEvent, ModelVersion, Site, Validation
from app.forecasting import engine, surrogate
from app.schedule import load as load_schedule
from app.schedule import slots_for

#: what a served method is called where people read it
METHOD_NAMES = {
    "persistence": "persistence (last value)",
    "seasonal_daily": "seasonal naive (a day before)",
    "seasonal_weekly": "seasonal naive (a week before)",
    "gbm": "gradient-boosted trees",
    "ridge": "ridge regression",
    "mean": "training mean",
}
#: the methods that need no fitting; a model must beat the best of them to serve
BASELINES = frozenset({*engine.BASELINES, surrogate.BASELINE})
MODES = ("forecast", "surrogate")


def method_name(name: str | None) -> str:
    """The friendly name of a method (an unknown one, e.g. an old version's, as it is)."""
    return METHOD_NAMES.get(name or "", (name or "unknown method").replace("_", " "))


class AssetNotFound(LookupError):
    pass


def percent(value: float | None, places: int = 1) -> str:
    return "—" if value is None else f"{value:.{places}%}"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


@dataclass(frozen=True)
class Score:
    """The served method's scores at one horizon. ``h`` is the steps ahead (0: a surrogate's
    estimate at the same time; None: the hold-out of a version made before backtests)."""

    h: int | None
    minutes: int | None
    n: int | None
    mae: float | None
    mape: float | None
    coverage: float | None

    @property
    def ahead(self) -> str:
        if self.h is None:
            return "hold-out"
        if self.h == 0:
            return "same time"
        return f"{self.minutes} min ahead" if self.minutes is not None else f"{self.h} steps ahead"

    def cells(self, nominal: float | None) -> list[str]:
        """Ahead, points, MAE, MAPE, coverage (against the nominal when known)."""
        coverage = percent(self.coverage, 0)
        if self.coverage is not None and nominal is not None:
            coverage += f" (nominal {nominal:.0%})"
        return [self.ahead, "—" if self.n is None else f"{self.n:,}", _number(self.mae),
                percent(self.mape, 2), coverage]


@dataclass(frozen=True)
class Served:
    """How a version serves: its mode, method and horizon, and its backtest against the
    baselines (or, for a version made before backtests, its hold-out scores)."""

    version: int
    status: str
    mode: str
    method: str
    kind: str  # model | baseline
    step_minutes: int | None
    horizon_steps: int | None
    best_baseline: str | None
    improvement: float | None  # 1 - served MAE / best baseline MAE
    coverage_nominal: float | None
    scores: tuple[Score, ...]
    backtested: bool

    @property
    def method_label(self) -> str:
        return f"{self.kind}: {method_name(self.method)}"

    @property
    def horizon_minutes(self) -> int | None:
        if self.step_minutes is None or self.horizon_steps is None:
            return None
        return self.step_minutes * self.horizon_steps

    @property
    def horizon_label(self) -> str:
        step = f"{self.step_minutes}-min steps" if self.step_minutes else "step not recorded"
        if self.mode == "surrogate":
            return f"estimated from the sensors at the same time, {step}"
        if self.horizon_minutes is None:
            return f"horizon not recorded, {step}"
        return f"{self.horizon_minutes} min ahead in {step}"

    @property
    def verdict(self) -> str:
        """The served method against the baselines, in one sentence."""
        if not self.backtested:
            return (f"{method_name(self.method)}; made before models were compared with baselines, "
                    "so only its hold-out scores are known")
        if self.kind == "baseline":
            return f"no model beat the baselines; {method_name(self.method)} serves"
        if self.best_baseline is None or self.improvement is None:
            return method_name(self.method)
        direction = "lower" if self.improvement >= 0 else "higher"
        return (f"{method_name(self.method)}, {abs(self.improvement):.0%} {direction} MAE than "
                f"{method_name(self.best_baseline)}")


def describe(version: ModelVersion) -> Served:
    """What ``version`` serves and how it scored; rows without a backtest fall back to their
    hold-out metrics."""
    params = version.params or {}
    backtest = version.backtest or {}
    step = params.get("step_minutes")
    if step is None and (backtest.get("layout") or {}).get("step_s"):
        step = int(backtest["layout"]["step_s"]) // 60
    mode = version.mode or "forecast"
    if not backtest:
        holdout = version.holdout_metrics or {}
        return Served(version.version, version.status, mode, version.algorithm,
                      "baseline" if version.algorithm in BASELINES else "model", step,
                      params.get("horizon_steps"), None, None, params.get("interval_coverage"),
                      (Score(None, None, holdout.get("n"), holdout.get("mae"), holdout.get("mape"),
                             holdout.get("coverage")),), False)
    method = backtest.get("served") or version.algorithm
    scores_of = (backtest.get("methods") or {}).get(method) or {}
    kind = backtest.get("served_kind") or scores_of.get("kind") or (
        "baseline" if method in BASELINES else "model")
    scores = tuple(Score(h.get("h"), h["h"] * step if step is not None and h.get("h") is not None else None,
                         h.get("n"), h.get("mae"), h.get("mape"), h.get("coverage"))
                   for h in scores_of.get("horizons") or [])
    steps = params.get("horizon_steps")
    if steps is None and mode == "forecast":
        steps = max((s.h for s in scores if s.h is not None), default=None)
    return Served(version.version, version.status, mode, method, kind, step, steps,
                  backtest.get("best_baseline"), backtest.get("improvement"),
                  backtest.get("coverage_nominal", params.get("interval_coverage")), scores, True)


def p_value_text(validation: Validation) -> str:
    p_value = (validation.details or {}).get("p_value")
    return "—" if p_value is None else f"{p_value:.2g}"


def validation_text(validation: Validation) -> str:
    """A validation's outcome: disposition, pairs, MAPE, coverage and the binomial p-value."""
    details = validation.details or {}
    coverage = percent(validation.coverage, 0)
    if validation.coverage is not None and details.get("expected") is not None:
        coverage += f" (nominal {details['expected']:.0%})"
    text = (f"{validation.disposition}: {validation.n:,} pairs, MAPE {percent(validation.mape)}, "
            f"coverage {coverage}")
    if details.get("p_value") is not None:
        text += f", binomial p {p_value_text(validation)}"
    return text


def history_text(versions: Sequence[ModelVersion]) -> str:
    """Every version, newest first, with its status; pruned files are marked."""
    return " · ".join(f"v{v.version} {v.status}" + (" (file pruned)" if v.pruned_at else "")
                      for v in versions)


@dataclass(frozen=True)
class Slot:
    """One asset's model of one target in one mode, and its versions (newest first)."""

    asset_id: int
    asset_label: str  # "Site · Asset"
    target: str
    mode: str
    versions: tuple[ModelVersion, ...]
    latest: tuple[Validation, int] | None  # the newest validation and its version number

    @property
    def active(self) -> ModelVersion | None:
        return next((v for v in self.versions if v.status == "active"), None)

    @property
    def shown(self) -> ModelVersion:
        """The version that serves, or (when none does) the newest."""
        return self.active or self.versions[0]

    @property
    def served(self) -> Served:
        return describe(self.shown)

    @property
    def serving_text(self) -> str:
        """Which version serves, with what, and how far ahead."""
        version = self.shown
        if self.active is None:
            return f"nothing serves: the newest version, v{version.version}, is {version.status}"
        return f"v{version.version} · {self.served.method_label} · {self.served.horizon_label}"


def slots(session: Session, supplier_id: int, asset_id: int | None = None) -> list[Slot]:
    """The supplier's model slots (of one asset when ``asset_id``), by site, asset, target and
    mode; another supplier's asset has none."""
    owned = (select(ModelVersion, Asset.name, Site.name)
             .join(Asset, Asset.id == ModelVersion.asset_id).join(Site, Site.id == Asset.site_id)
             .where(Site.supplier_id == supplier_id))
    newest = (select(func.max(Validation.id)).join(ModelVersion, ModelVersion.id == Validation.model_version_id)
              .join(Asset, Asset.id == ModelVersion.asset_id).join(Site, Site.id == Asset.site_id)
              .where(Site.supplier_id == supplier_id))
    if asset_id is not None:
        owned = owned.where(ModelVersion.asset_id == asset_id)
        newest = newest.where(ModelVersion.asset_id == asset_id)
    rows = session.execute(owned.order_by(Site.name, Asset.name, ModelVersion.asset_id, ModelVersion.target,
                                          ModelVersion.mode, ModelVersion.version.desc())).all()
    latest = {v.model_version_id: v for v in session.scalars(
        select(Validation).where(Validation.id.in_(newest.group_by(Validation.model_version_id))))}
    grouped: dict[tuple[int, str, str], list[ModelVersion]] = {}
    labels: dict[int, str] = {}
    for version, asset_name, site_name in rows:
        grouped.setdefault((version.asset_id, version.target, version.mode), []).append(version)
        labels[version.asset_id] = f"{site_name} · {asset_name}"
    found = []
    for (asset, target, mode), versions in grouped.items():
        checks = [(latest[v.id], v.version) for v in versions if v.id in latest]
        found.append(Slot(asset, labels[asset], target, mode, tuple(versions),
                          max(checks, key=lambda c: (c[0].window_to, c[0].id), default=None)))
    return found


@dataclass(frozen=True)
class Overview:
    asset: Asset
    targets: list[str]
    versions: list[ModelVersion]
    validations: list[tuple[Validation, int]]  # (validation, model version number)
    events: list[tuple[ModelEvent, int | None]]
    job: Job | None
    slots: list[Slot]
    planned: list[tuple[str, str]]  # (target, mode) the schedule models for the asset

    def modes(self, target: str | None) -> list[str]:
        """The modes ``target`` is modelled in (trained or scheduled), forecast first."""
        return _modes([s.mode for s in self.slots if s.target == target] + [m for t, m in self.planned if t == target])

    def slot(self, target: str | None, mode: str) -> Slot | None:
        return next((s for s in self.slots if s.target == target and s.mode == mode), None)


def _modes(found: list[str]) -> list[str]:
    return sorted(set(found), key=lambda m: (MODES.index(m) if m in MODES else len(MODES), m))


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
    found = slots(session, supplier_id, asset_id)
    versions = sorted((v for s in found for v in s.versions), key=lambda v: (v.target, -v.version))
    numbers = {v.id: v.version for v in versions}
    validations = [(v, numbers[v.model_version_id]) for v in session.scalars(
        select(Validation).join(ModelVersion, ModelVersion.id == Validation.model_version_id)
        .where(ModelVersion.asset_id == asset.id).order_by(Validation.window_to))]
    events = [(e, numbers.get(e.model_version_id)) for e in session.scalars(
        select(ModelEvent).where(ModelEvent.asset_id == asset_id).order_by(ModelEvent.at.desc()).limit(50))]
    planned = slots_for(load_schedule(schedule_file), asset.asset_type, asset.id, asset.forecast_targets)
    targets = list(dict.fromkeys([s.target for s in found] + [t for t, _ in planned]))
    return Overview(asset, targets, versions, validations, events,
                    jobs.latest_job(session, supplier_id, asset_id, "train"), found, planned)


def train_mode(session: Session, supplier_id: int, asset_id: int, target: str,
               schedule_file: Path | None = None) -> str:
    """The mode "Train now" trains ``target`` in: a forecast, unless the target is modelled
    only as a surrogate."""
    asset = owned_asset(session, supplier_id, asset_id)
    trained = session.scalars(select(ModelVersion.mode).where(
        ModelVersion.asset_id == asset.id, ModelVersion.target == target).distinct())
    planned = slots_for(load_schedule(schedule_file), asset.asset_type, asset.id, asset.forecast_targets)
    return (_modes([*trained, *(m for t, m in planned if t == target)]) or ["forecast"])[0]


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

