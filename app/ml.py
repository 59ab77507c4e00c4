"""Forecasting models of an asset's quantities: train, predict with intervals, validate, and
decide between a champion and a challenger.

A target is one of the asset's sensors or calculations, forecast as ``resample_minutes`` means
(a 1-minute forecast would mostly forecast noise). Features are lags, rolling means and spreads
of past values, and the time of day and week. The model is scikit-learn's
RandomForestRegressor, trained on the older part of the history and scored on a time-ordered
hold-out (never shuffled: the future must not leak into training). Prediction intervals are
split-conformal: the hold-out's absolute errors give the half-width that covered the wanted
share of them. Forecasts further ahead than one step feed earlier forecasts back in as lags.

Model files are joblib (compressed) under the models directory; each has a ``model_versions``
row with its SHA-256, checked before the file is trusted.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import RandomForestRegressor
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import jobs
from app.db import Database
from app.db.base import utcnow
from app.db.models import (
    Calculation,
    ModelEvent,
    ModelVersion,
    Prediction,
    Sensor,
    SensorReading,
    Validation,
)
from app.db.upsert import upsert
from app.pipeline import raw_ts
from settings import Settings

log = logging.getLogger(__name__)

LAGS = (1, 2, 3, 6, 12)
ROLLING = (6, 36)
ALGORITHM = "RandomForestRegressor"


class ModelError(RuntimeError):
    """A model cannot be trained, loaded or used; ``str()`` says why."""


class NotEnoughData(ModelError):
    pass


class ModelFileError(ModelError):
    """A model file is missing or is not the file its row describes."""


# -- data and features --------------------------------------------------------------------


def load_target(db: Database, asset_id: int, target: str, start: datetime, end: datetime,
                step_minutes: int) -> pd.Series:
    """The target's ``step_minutes`` means over [start, end), from its sensor or calculation."""
    with db.Session() as session:
        sensor_id = session.scalar(select(Sensor.id).where(Sensor.asset_id == asset_id, Sensor.name == target))
    # The raw ts column, converted in one vectorised step (see app.pipeline.raw_ts).
    if sensor_id is not None:
        engine = db.sensors_engine
        query = (select(raw_ts(SensorReading.ts, engine.dialect.name), SensorReading.value)
                 .where(SensorReading.sensor_id == sensor_id, SensorReading.ts >= start, SensorReading.ts < end))
    else:
        engine = db.engine
        query = (select(raw_ts(Calculation.ts, engine.dialect.name), Calculation.value)
                 .where(Calculation.asset_id == asset_id, Calculation.name == target,
                        Calculation.ts >= start, Calculation.ts < end))
    with engine.connect() as conn:
        frame = pd.read_sql(query.order_by("ts"), conn)
    if frame.empty:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"), name=target)
    series = pd.Series(frame["value"].to_numpy(dtype=float),
                       index=pd.to_datetime(frame["ts"], utc=True, format="ISO8601"), name=target)
    # Label each mean by the end of its bucket: the value "at 10:10" is the mean of 10:00-10:10,
    # known at 10:10, so a forecast for 10:10 never uses data from after it.
    return series.resample(f"{step_minutes}min", label="right", closed="left").mean().dropna()


def target_step(db: Database, settings: Settings, asset_id: int, target: str) -> int:
    """The target's step in minutes: ``pipeline.resample_minutes``, or the target's own
    cadence when it reports more slowly (a half-hourly sensor is forecast half-hour by
    half-hour: a 10-minute step would leave two buckets of three empty). A calculation
    follows the asset's slowest sensor."""
    from app.plant.catalogue import asset_interval

    with db.Session() as session:
        interval = session.scalar(select(Sensor.interval_s).where(
            Sensor.asset_id == asset_id, Sensor.name == target))
        if interval is None:
            interval = asset_interval(session, asset_id)
    return max(settings.pipeline.resample_minutes, math.ceil((interval or 0) / 60))


def features(series: pd.Series) -> pd.DataFrame:
    """The feature frame for each time of ``series`` (from values strictly before it)."""
    past = series.shift(1)
    columns: dict[str, pd.Series] = {f"lag_{k}": series.shift(k) for k in LAGS}
    for window in ROLLING:
        columns[f"mean_{window}"] = past.rolling(window, min_periods=window).mean()
        columns[f"std_{window}"] = past.rolling(window, min_periods=window).std()
    index = series.index
    hours = index.hour + index.minute / 60
    columns["hour_sin"] = pd.Series(np.sin(2 * np.pi * hours / 24), index=index)
    columns["hour_cos"] = pd.Series(np.cos(2 * np.pi * hours / 24), index=index)
    columns["weekday"] = pd.Series(index.day_of_week.astype(float), index=index)
    return pd.DataFrame(columns, index=index)


@dataclass(frozen=True)
class Metrics:
    n: int
    mae: float
    rmse: float
    mape: float
    r2: float
    coverage: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"n": self.n, "mae": self.mae, "rmse": self.rmse, "mape": self.mape, "r2": self.r2,
                "coverage": self.coverage}


def score(actual: np.ndarray, predicted: np.ndarray, lower: np.ndarray | None = None,
          upper: np.ndarray | None = None) -> Metrics:
    """MAE, RMSE, MAPE, R2 and interval coverage.

    MAPE divides by max(|actual|, 10 % of the mean |actual|): a quantity that passes through
    zero (an oil temperature in winter, a stopped shaft) would otherwise give infinite
    percentages for tiny absolute errors.
    """
    error = predicted - actual
    floor = max(0.1 * float(np.mean(np.abs(actual))), 1e-9)
    spread = float(np.sum((actual - np.mean(actual)) ** 2))
    coverage = None
    if lower is not None and upper is not None:
        coverage = float(np.mean((actual >= lower) & (actual <= upper)))
    return Metrics(
        n=len(actual),
        mae=float(np.mean(np.abs(error))),
        rmse=float(math.sqrt(np.mean(error**2))),
        mape=float(np.mean(np.abs(error) / np.maximum(np.abs(actual), floor))),
        r2=float(1 - np.sum(error**2) / spread) if spread > 0 else 0.0,
        coverage=coverage,
    )


# -- model files --------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_bundle(settings: Settings, row: ModelVersion) -> dict[str, Any]:
    """The model file of ``row``, refused unless its SHA-256 is the one recorded."""
    path = settings.models_path / row.file_path
    if not path.exists():
        raise ModelFileError(f"model file {path} of version {row.version} is missing")
    actual = sha256_of(path)
    if actual != row.file_sha256:
        raise ModelFileError(
            f"model file {path} does not match version {row.version}'s recorded SHA-256 "
            f"({actual[:12]}... != {row.file_sha256[:12]}...): refusing to load it; retrain to replace it"
        )
    return joblib.load(path)


def _save_bundle(settings: Settings, name: str, bundle: dict[str, Any]) -> tuple[str, str]:
    folder = settings.models_path
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    temporary = final.with_suffix(".tmp")
    joblib.dump(bundle, temporary, compress=3)
    temporary.replace(final)  # atomic: a reader never sees half a file
    return name, sha256_of(final)


# -- training -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Trained:
    version: ModelVersion
    holdout: Metrics


def train(db: Database, settings: Settings, asset_id: int, target: str, *, now: datetime,
          reason: str, activate_if_first: bool = True, job_id: int | None = None,
          finish_job: bool = True) -> Trained:
    """Train a new version on the ``training_days`` before ``now`` and register it.

    The first version of a slot becomes active at once; later ones are candidates until
    :func:`challenge` decides. With ``job_id`` the version row is stamped with it, and (when
    ``finish_job``) the job is marked done in the same transaction: a redelivered task whose
    job is done has nothing left to do.
    """
    jobs.set_progress(db, job_id, 10, f"Loading {target}")
    step = target_step(db, settings, asset_id, target)
    series = load_target(db, asset_id, target, now - timedelta(days=settings.pipeline.training_days),
                         now, step)
    table = features(series).assign(y=series).dropna()
    if len(table) < settings.pipeline.min_training_rows:
        raise NotEnoughData(
            f"{len(table)} usable {step}-minute points of {target} for asset {asset_id}; "
            f"training needs {settings.pipeline.min_training_rows}"
        )
    split = int(len(table) * (1 - settings.model.holdout_fraction))
    fit, holdout = table.iloc[:split], table.iloc[split:]
    feature_names = [c for c in table.columns if c != "y"]
    model = RandomForestRegressor(
        n_estimators=settings.model.n_estimators, max_depth=settings.model.max_depth,
        min_samples_leaf=settings.model.min_samples_leaf, n_jobs=settings.model.n_jobs,
        random_state=0,
    )
    jobs.set_progress(db, job_id, 30, f"Fitting on {len(fit):,} points")
    model.fit(fit[feature_names].to_numpy(), fit["y"].to_numpy())
    jobs.set_progress(db, job_id, 80, "Scoring the hold-out and saving")
    predicted = model.predict(holdout[feature_names].to_numpy())
    residuals = np.abs(holdout["y"].to_numpy() - predicted)
    # Split-conformal half-width: the smallest that covered the wanted share of hold-out errors.
    level = min(1.0, math.ceil((len(residuals) + 1) * settings.model.interval_coverage) / len(residuals))
    half_width = float(np.quantile(residuals, level, method="higher"))
    metrics = score(holdout["y"].to_numpy(), predicted, predicted - half_width, predicted + half_width)

    with db.Session() as session, session.begin():
        version = (session.scalar(select(func.max(ModelVersion.version)).where(
            ModelVersion.asset_id == asset_id, ModelVersion.target == target)) or 0) + 1
        file_name, digest = _save_bundle(settings, f"asset{asset_id}-{target}-v{version}.joblib", {
            "model": model, "features": feature_names, "half_width": half_width,
            "step_minutes": step, "target": target,
        })
        has_active = session.scalar(select(ModelVersion.id).where(
            ModelVersion.asset_id == asset_id, ModelVersion.target == target,
            ModelVersion.status == "active"))
        activate = activate_if_first and has_active is None
        row = ModelVersion(
            asset_id=asset_id, target=target, version=version,
            status="active" if activate else "candidate", algorithm=ALGORITHM,
            file_path=file_name, file_sha256=digest, features=feature_names,
            params={"n_estimators": settings.model.n_estimators, "max_depth": settings.model.max_depth,
                    "min_samples_leaf": settings.model.min_samples_leaf, "step_minutes": step,
                    "interval_coverage": settings.model.interval_coverage, "half_width": half_width,
                    "job_id": job_id},
            library_versions={"scikit-learn": sklearn.__version__, "numpy": np.__version__,
                              "pandas": pd.__version__, "joblib": joblib.__version__},
            train_from=fit.index[0].to_pydatetime(), train_to=holdout.index[-1].to_pydatetime(),
            rows=len(table), holdout_metrics=metrics.as_dict(),
            activated_at=utcnow() if activate else None,
        )
        session.add(row)
        session.flush()
        session.add(ModelEvent(asset_id=asset_id, target=target, model_version_id=row.id,
                               event="activated" if activate else "trained",
                               reason=f"{reason}; first model of this target" if activate else reason))
        if finish_job:
            jobs.finish(session, job_id, f"Trained version {version}")
    log.info("trained %s v%d for asset %s (%s): hold-out %s", target, version, asset_id, reason,
             metrics.as_dict())
    return Trained(row, metrics)


def active_version(session: Session, asset_id: int, target: str) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(
        ModelVersion.asset_id == asset_id, ModelVersion.target == target, ModelVersion.status == "active"))


# -- prediction ---------------------------------------------------------------------------


def forecast(bundle: dict[str, Any], history: pd.Series, steps: int) -> pd.DataFrame:
    """``steps`` forecasts after the end of ``history``, each with its interval."""
    step = pd.Timedelta(minutes=bundle["step_minutes"])
    series = history.copy()
    rows = []
    for _ in range(steps):
        ts = series.index[-1] + step
        extended = pd.concat([series, pd.Series([np.nan], index=[ts])])
        x = features(extended).iloc[[-1]][bundle["features"]]
        if x.isna().any(axis=None):
            raise NotEnoughData("not enough recent history to build the forecast's features")
        value = float(bundle["model"].predict(x.to_numpy())[0])
        rows.append((ts, value, value - bundle["half_width"], value + bundle["half_width"]))
        series = pd.concat([series, pd.Series([value], index=[ts])])
    return pd.DataFrame(rows, columns=["ts", "value", "lower", "upper"]).set_index("ts")


def predict(db: Database, settings: Settings, asset_id: int, target: str, *, now: datetime) -> int:
    """Forecast the next ``horizon_minutes`` after the newest data before ``now`` with the
    active model; stores them (idempotent per version and time) and returns how many."""
    with db.Session() as session:
        row = active_version(session, asset_id, target)
        if row is None:
            raise ModelError(f"asset {asset_id} has no active model of {target}")
        session.expunge(row)
    bundle = load_bundle(settings, row)
    step = bundle["step_minutes"]
    history = load_target(db, asset_id, target, now - timedelta(days=2), now, step)
    steps = max(1, settings.pipeline.horizon_minutes // step)
    frame = forecast(bundle, history, steps)
    with db.engine.begin() as conn:
        upsert(conn, Prediction.__table__, [
            {"model_version_id": row.id, "ts": ts.to_pydatetime(), "value": r.value,
             "lower": r.lower, "upper": r.upper, "created_at": utcnow()}
            for ts, r in frame.iterrows()
        ], keys=["model_version_id", "ts"])
    return len(frame)


# -- validation and the champion/challenger decision --------------------------------------


def validate(db: Database, settings: Settings, asset_id: int, target: str, *,
             now: datetime) -> Validation | None:
    """Compare the active model's forecasts not yet validated with what happened.

    Stores a validation row with the metrics and a disposition: ``keep``, or ``retrain`` when
    MAPE is above ``thresholds.mape_max`` or coverage below ``thresholds.coverage_min`` (the
    model is then marked for retraining). Returns None while too few forecasts have actuals.
    """
    with db.Session() as session:
        row = active_version(session, asset_id, target)
        if row is None:
            return None
        since = session.scalar(select(func.max(Validation.window_to)).where(
            Validation.model_version_id == row.id))
        query = select(Prediction.ts, Prediction.value, Prediction.lower, Prediction.upper).where(
            Prediction.model_version_id == row.id, Prediction.ts <= now)
        if since is not None:
            query = query.where(Prediction.ts > since)
        predicted = pd.DataFrame(session.execute(query.order_by(Prediction.ts)).all(),
                                 columns=["ts", "value", "lower", "upper"])
    if predicted.empty:
        return None
    predicted["ts"] = pd.to_datetime(predicted["ts"], utc=True)
    step = row.params.get("step_minutes", settings.pipeline.resample_minutes)
    actual = load_target(db, asset_id, target, predicted["ts"].min() - timedelta(minutes=step),
                         now + timedelta(microseconds=1), step)
    joined = predicted.set_index("ts").join(actual.rename("actual"), how="inner").dropna()
    if len(joined) < settings.thresholds.min_validation_points:
        return None
    metrics = score(joined["actual"].to_numpy(), joined["value"].to_numpy(),
                    joined["lower"].to_numpy(), joined["upper"].to_numpy())
    problems = []
    if metrics.mape > settings.thresholds.mape_max:
        problems.append(f"MAPE {metrics.mape:.1%} is above {settings.thresholds.mape_max:.0%}")
    if metrics.coverage is not None and metrics.coverage < settings.thresholds.coverage_min:
        problems.append(f"interval coverage {metrics.coverage:.0%} is below {settings.thresholds.coverage_min:.0%}")
    disposition = "retrain" if problems else "keep"
    reason = "; ".join(problems) or (f"MAPE {metrics.mape:.1%} and coverage "
                                     f"{(metrics.coverage or 0):.0%} within thresholds")
    with db.Session() as session, session.begin():
        validation = Validation(
            model_version_id=row.id, window_from=joined.index[0].to_pydatetime(),
            window_to=joined.index[-1].to_pydatetime(), n=metrics.n, mae=metrics.mae,
            rmse=metrics.rmse, mape=metrics.mape, r2=metrics.r2, coverage=metrics.coverage,
            disposition=disposition, reason=reason,
        )
        session.add(validation)
        if disposition == "retrain":
            session.execute(update(ModelVersion).where(ModelVersion.id == row.id).values(needs_retraining=True))
            session.add(ModelEvent(asset_id=asset_id, target=target, model_version_id=row.id,
                                   event="marked_for_retraining", reason=reason))
        session.flush()
        session.expunge(validation)
    log.info("validated %s v%d of asset %s: %s (%s)", target, row.version, asset_id, disposition, reason)
    return validation


def one_step_errors(bundle: dict[str, Any], series: pd.Series, window: pd.DatetimeIndex) -> Metrics:
    """How a model scores one step ahead over ``window`` of ``series``."""
    x = features(series).loc[window, bundle["features"]].dropna()
    predicted = bundle["model"].predict(x.to_numpy())
    return score(series.loc[x.index].to_numpy(), predicted)


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    champion: ModelVersion | None
    challenger: ModelVersion


def challenge(db: Database, settings: Settings, asset_id: int, target: str, *, now: datetime,
              reason: str, job_id: int | None = None) -> Decision:
    """Train a challenger and make it the active version only if it scores better than the
    champion on the same recent window (the challenger's hold-out: data neither was fitted on,
    when the champion is older). The decision and its reason are recorded as model events,
    and the job (if any) finished, in one transaction.

    A redelivered job reuses the challenger it already trained rather than training another.
    """
    with db.Session() as session:
        earlier = [v for v in session.scalars(select(ModelVersion).where(
            ModelVersion.asset_id == asset_id, ModelVersion.target == target,
            ModelVersion.status == "candidate")) if job_id is not None and v.params.get("job_id") == job_id]
        for version in earlier:
            session.expunge(version)
    if earlier:
        challenger = earlier[0]
    else:
        challenger = train(db, settings, asset_id, target, now=now, reason=reason, job_id=job_id,
                           finish_job=False).version
    with db.Session() as session:
        champion = session.scalar(select(ModelVersion).where(
            ModelVersion.asset_id == asset_id, ModelVersion.target == target,
            ModelVersion.status == "active", ModelVersion.id != challenger.id))
        if champion is not None:
            session.expunge(champion)
    if champion is None:  # the challenger was the first model and is already active
        with db.Session() as session, session.begin():
            jobs.finish(session, job_id, f"Trained version {challenger.version}, the first model")
        return Decision(True, "no active model: the new version is active", None, challenger)
    step = challenger.params.get("step_minutes", target_step(db, settings, asset_id, target))
    series = load_target(db, asset_id, target, now - timedelta(days=settings.pipeline.training_days), now, step)
    # Exactly the challenger's hold-out: the usable feature rows split the way train() split
    # them (splitting the raw series instead puts its last fitted rows into the window).
    usable = features(series).assign(y=series).dropna().index
    holdout = usable[int(len(usable) * (1 - settings.model.holdout_fraction)):]
    # The fair window is data neither model was fitted on: the challenger's hold-out after the
    # champion's training ended. Too little of it (a champion trained moments ago) and the
    # whole hold-out is used, which favours the champion: a challenger must then be clearly better.
    unseen = holdout[holdout > pd.Timestamp(champion.train_to)]
    window = unseen if len(unseen) >= settings.thresholds.min_validation_points else holdout
    fairness = "" if window is unseen else " (the champion had seen part of this window)"
    try:
        champion_score = one_step_errors(load_bundle(settings, champion), series, window)
    except ModelFileError as exc:
        champion_score, why = None, f"the champion's file is unusable ({exc})"
    challenger_score = one_step_errors(load_bundle(settings, challenger), series, window)
    promoted = champion_score is None or challenger_score.mae < champion_score.mae
    if champion_score is not None:
        why = (f"on the same {challenger_score.n} recent points{fairness} the challenger's MAE is "
               f"{challenger_score.mae:.4g} against the champion's {champion_score.mae:.4g}")
    with db.Session() as session, session.begin():
        now_ = utcnow()
        if promoted:
            session.execute(update(ModelVersion).where(ModelVersion.id == champion.id).values(
                status="retired", retired_at=now_))
            session.execute(update(ModelVersion).where(ModelVersion.id == challenger.id).values(
                status="active", activated_at=now_))
            session.add(ModelEvent(asset_id=asset_id, target=target, model_version_id=champion.id,
                                   event="retired", reason=f"replaced by v{challenger.version}: {why}"))
            session.add(ModelEvent(asset_id=asset_id, target=target, model_version_id=challenger.id,
                                   event="activated", reason=f"promoted over v{champion.version}: {why}"))
        else:
            session.execute(update(ModelVersion).where(ModelVersion.id == challenger.id).values(status="rejected"))
            session.add(ModelEvent(asset_id=asset_id, target=target, model_version_id=challenger.id,
                                   event="rejected", reason=f"v{champion.version} stays active: {why}"))
        jobs.finish(session, job_id, f"Version {challenger.version} "
                    f"{'promoted' if promoted else 'trained but not better'}: {why}")
    log.info("asset %s %s: challenger v%d %s (%s)", asset_id, target, challenger.version,
             "promoted" if promoted else "rejected", why)
    return Decision(promoted, why, champion, challenger)


def bootstrap(db: Database, settings: Settings, asset_id: int, target: str, *, now: datetime) -> Validation | None:
    """The whole loop at once for a new target (demo data, a first deployment): train on data up
    to two horizons ago, forecast the horizon after that, validate it against what has since
    happened, and forecast the next horizon from now."""
    cutoff = now - timedelta(minutes=2 * settings.pipeline.horizon_minutes)
    train(db, settings, asset_id, target, now=cutoff, reason="initial model")
    predict(db, settings, asset_id, target, now=cutoff)
    validation = validate(db, settings, asset_id, target, now=now)
    predict(db, settings, asset_id, target, now=now)
    return validation
