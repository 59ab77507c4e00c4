"""The forecasting service: train, serve, validate and retrain an asset's models, stored in the
database (``model_versions``, ``predictions``, ``validations``, ``model_events``) with their
files under the models directory.

A *slot* is an asset, a target (one of its sensors or calculations) and a mode:
- ``forecast``: the target's next ``pipeline.horizon_minutes`` from its past, at the target's
  own cadence (:func:`target_step`), by the method that won its rolling-origin backtest (a
  model, or a baseline when no model beat it; see :mod:`app.forecasting.engine`);
- ``surrogate``: a calculation estimated from the asset's concurrent sensor readings
  (:mod:`app.forecasting.surrogate`), checked against the calculation as it arrives.

Validation waits for ``thresholds.min_validation_points`` forecast/actual pairs, then asks two
questions: are the errors worse than the backtest promised (MAE above
``thresholds.degradation_ratio`` times it), and is the coverage below nominal by more than
chance (a one-sided binomial test at ``thresholds.coverage_alpha``)? One miss does not
retrain. A retraining trains one challenger, which replaces the champion only if it forecasts
better on data neither has been fitted on. Files are pruned: the active version, the newest
``model.keep_versions`` and any version with stored forecasts keep theirs.
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
from scipy.stats import binomtest
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from app import jobs
from app.db import Database
from app.db.base import raw_ts, utcnow
from app.db.models import (
    Alert,
    Calculation,
    ModelEvent,
    ModelVersion,
    Prediction,
    Sensor,
    SensorReading,
    Validation,
)
from app.db.upsert import upsert
from app.forecasting import engine, surrogate
from app.forecasting.features import Calendar, regular
from settings import Settings

log = logging.getLogger(__name__)

MODES = ("forecast", "surrogate")


class ModelError(RuntimeError):
    """A model cannot be trained, loaded or used; ``str()`` says why."""


class NotEnoughData(ModelError):
    pass


class ModelFileError(ModelError):
    """A model file is missing or is not the file its row describes."""


# -- data ---------------------------------------------------------------------------------


def load_raw(db: Database, asset_id: int, target: str, start: datetime, end: datetime) -> pd.Series:
    """The target's stored values over [start, end), from its sensor or calculation."""
    with db.Session() as session:
        sensor_id = session.scalar(select(Sensor.id).where(Sensor.asset_id == asset_id, Sensor.name == target))
    if sensor_id is not None:
        engine_ = db.sensors_engine
        query = (select(raw_ts(SensorReading.ts, engine_.dialect.name), SensorReading.value)
                 .where(SensorReading.sensor_id == sensor_id, SensorReading.ts >= start, SensorReading.ts < end))
    else:
        engine_ = db.engine
        query = (select(raw_ts(Calculation.ts, engine_.dialect.name), Calculation.value)
                 .where(Calculation.asset_id == asset_id, Calculation.name == target,
                        Calculation.ts >= start, Calculation.ts < end))
    with engine_.connect() as conn:
        frame = pd.read_sql(query.order_by("ts"), conn)
    if frame.empty:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"), name=target)
    return pd.Series(frame["value"].to_numpy(dtype=float),
                     index=pd.to_datetime(frame["ts"], utc=True, format="ISO8601"), name=target)


def load_target(db: Database, asset_id: int, target: str, start: datetime, end: datetime,
                step_minutes: int) -> pd.Series:
    """The target's ``step_minutes`` means over [start, end), each labelled by the end of its
    bucket (the value "at 10:10" is the mean of 10:00-10:10, known at 10:10); empty buckets
    are left out."""
    raw = load_raw(db, asset_id, target, start, end)
    return raw.resample(f"{step_minutes}min", label="right", closed="left").mean().dropna()


def grid(db: Database, settings: Settings, asset_id: int, target: str, start: datetime, end: datetime,
         step_minutes: int, *, interpolate: bool = True) -> pd.Series:
    """The target on its regular grid over [start, end): complete buckets only (a bucket ending
    after ``end`` is still filling), short gaps interpolated when ``interpolate``."""
    step = timedelta(minutes=step_minutes)
    raw = load_raw(db, asset_id, target, start, end)
    series = regular(raw, step, step * settings.model.max_gap_steps if interpolate else timedelta(0))
    return series[series.index <= pd.Timestamp(end)]


def target_step(db: Database, settings: Settings, asset_id: int, target: str) -> int:
    """The target's step in minutes: ``pipeline.resample_minutes``, or the target's own
    cadence when it reports more slowly (a half-hourly sensor is forecast half-hour by
    half-hour). A calculation follows the asset's slowest sensor."""
    from app.plant.catalogue import asset_interval

    with db.Session() as session:
        interval = session.scalar(select(Sensor.interval_s).where(
            Sensor.asset_id == asset_id, Sensor.name == target))
        if interval is None:
            interval = asset_interval(session, asset_id)
    return max(settings.pipeline.resample_minutes, math.ceil((interval or 0) / 60))


def horizon_steps(settings: Settings, step_minutes: int) -> int:
    return max(1, settings.pipeline.horizon_minutes // step_minutes)


def calendar_of(settings: Settings) -> Calendar:
    return Calendar(settings.model.timezone, settings.model.holidays_country, settings.model.holidays_subdiv)


def sensor_grid(db: Database, settings: Settings, asset_id: int, start: datetime, end: datetime,
                step_minutes: int, exclude: str | None = None) -> pd.DataFrame:
    """Every live sensor of the asset on the grid (a surrogate's inputs)."""
    with db.Session() as session:
        names = list(session.scalars(select(Sensor.name).where(
            Sensor.asset_id == asset_id, Sensor.retired_at.is_(None)).order_by(Sensor.name)))
    columns = {name: grid(db, settings, asset_id, name, start, end, step_minutes)
               for name in names if name != exclude}
    return pd.DataFrame(columns)


def inputs(db: Database, settings: Settings, asset_id: int, names: tuple[str, ...], start: datetime,
           end: datetime, step_minutes: int) -> pd.DataFrame | None:
    """The sensors a forecast was fitted with as inputs (its layout's ``exog``), on the grid."""
    if not names:
        return None
    return pd.DataFrame({name: grid(db, settings, asset_id, name, start, end, step_minutes) for name in names})


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
    """MAE, RMSE, MAPE (with the floor of :func:`app.forecasting.engine.mape_floor`), R2 and
    interval coverage."""
    error = predicted - actual
    floor = engine.mape_floor(actual)
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
    if row.pruned_at is not None:
        raise ModelFileError(f"version {row.version}'s file was pruned on {row.pruned_at:%Y-%m-%d}")
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
    report: dict[str, Any]
    #: the models as fitted before the backtest period (for a fair challenge; not stored)
    backtest_estimators: list[Any] | None = None


def _slot(query: Any, asset_id: int, target: str, mode: str) -> Any:
    return query.where(ModelVersion.asset_id == asset_id, ModelVersion.target == target,
                       ModelVersion.mode == mode)


def active_version(session: Session, asset_id: int, target: str, mode: str = "forecast") -> ModelVersion | None:
    return session.scalar(_slot(select(ModelVersion), asset_id, target, mode).where(ModelVersion.status == "active"))


def fit(db: Database, settings: Settings, asset_id: int, target: str, *, now: datetime,
        mode: str = "forecast") -> tuple[dict[str, Any], list[Any] | None]:
    """Fit and backtest the slot on the ``pipeline.training_days`` before ``now``: the bundle to
    serve (its report included) and the backtest-period estimators of the served model."""
    step = target_step(db, settings, asset_id, target)
    start = now - timedelta(days=settings.pipeline.training_days)
    y = grid(db, settings, asset_id, target, start, now, step)
    options = {"coverage": settings.model.interval_coverage,
               "backtest_fraction": settings.model.backtest_fraction,
               "min_rows": settings.pipeline.min_training_rows,
               "models": tuple(settings.model.candidates), "max_fit_rows": settings.model.max_fit_rows}
    try:
        if mode == "surrogate":
            sensors = sensor_grid(db, settings, asset_id, start, now, step, exclude=target)
            if sensors.empty:
                raise engine.NotEnoughHistory(f"asset {asset_id} has no sensors to estimate {target} from")
            bundle = surrogate.select(y, sensors, **options)
            early = None
        else:
            selection = engine.select(y, timedelta(minutes=step), horizon_steps(settings, step),
                                      calendar=calendar_of(settings), **options)
            sensors = (sensor_grid(db, settings, asset_id, start, now, step, exclude=target)
                       if settings.model.exogenous_sensors else pd.DataFrame())
            if not sensors.empty:  # the same backtest with the asset's other sensors as inputs
                informed = engine.select(y, timedelta(minutes=step), horizon_steps(settings, step),
                                         calendar=calendar_of(settings), exog=sensors, **options)
                if (informed.served_method.kind == "model"
                        and informed.served_method.mae < selection.served_method.mae):
                    selection = informed
            bundle = engine.bundle_of(selection) | {
                "train_from": selection.train_from, "train_to": selection.train_to,
                "rows": selection.rows, "backtest_from": selection.backtest_from}
            early = selection.backtest_estimators.get(selection.served)
    except engine.NotEnoughHistory as exc:
        raise NotEnoughData(f"{target} of asset {asset_id}: {exc}") from exc
    bundle |= {"target": target, "step_minutes": step, "mode": mode}
    return bundle, early


def train(db: Database, settings: Settings, asset_id: int, target: str, *, now: datetime,
          reason: str, mode: str = "forecast", activate_if_first: bool = True, job_id: int | None = None,
          finish_job: bool = True) -> Trained:
    """Fit, backtest and register a new version of the slot.

    The first version of a slot becomes active at once; later ones are candidates until
    :func:`challenge` decides. With ``job_id`` the version row is stamped with it, and (when
    ``finish_job``) the job is marked done in the same transaction: a redelivered task whose
    job is done has nothing left to do.
    """
    jobs.set_progress(db, job_id, 30, f"Fitting and backtesting {target}")
    bundle, early = fit(db, settings, asset_id, target, now=now, mode=mode)
    report = bundle["report"]
    served = report["methods"][report["served"]]
    jobs.set_progress(db, job_id, 80, "Saving")
    with db.Session() as session, session.begin():
        version = (session.scalar(select(func.max(ModelVersion.version)).where(
            ModelVersion.asset_id == asset_id, ModelVersion.target == target)) or 0) + 1
        file_name, digest = _save_bundle(settings, f"asset{asset_id}-{target}-{mode}-v{version}.joblib", bundle)
        activate = activate_if_first and active_version(session, asset_id, target, mode) is None
        coverage = [h["coverage"] for h in served["horizons"] if h["coverage"] is not None]
        row = ModelVersion(
            asset_id=asset_id, target=target, version=version, mode=mode,
            status="active" if activate else "candidate", algorithm=report["served"],
            file_path=file_name, file_sha256=digest,
            features=list(report.get("sensors") or _feature_names(bundle)),
            params={"step_minutes": bundle["step_minutes"], "horizon_steps": len(served["horizons"]) if mode == "forecast" else 0,
                    "interval_coverage": settings.model.interval_coverage,
                    "candidates": list(settings.model.candidates), "job_id": job_id},
            library_versions={"scikit-learn": sklearn.__version__, "numpy": np.__version__,
                              "pandas": pd.__version__, "joblib": joblib.__version__},
            train_from=bundle["train_from"].to_pydatetime(), train_to=bundle["train_to"].to_pydatetime(),
            rows=int(bundle["rows"]), backtest=_plain(report),
            holdout_metrics={"n": served["horizons"][0]["n"], "mae": served["mae"], "mape": served["mape"],
                             "rmse": float(np.mean([h["rmse"] for h in served["horizons"]])), "r2": None,
                             "coverage": float(np.mean(coverage)) if coverage else None},
            activated_at=utcnow() if activate else None,
        )
        session.add(row)
        session.flush()
        why = _served_text(report)
        session.add(ModelEvent(asset_id=asset_id, target=target, model_version_id=row.id,
                               event="activated" if activate else "trained",
                               reason=(f"{reason}; first {mode} model of this target; {why}" if activate
                                       else f"{reason}; {why}")[:500]))
        if finish_job:
            jobs.finish(session, job_id, f"Trained version {version}: {why}")
    log.info("trained %s %s v%d for asset %s (%s): %s", mode, target, version, asset_id, reason, why)
    prune(db, settings, asset_id, target)
    return Trained(row, report, early)


def _feature_names(bundle: dict[str, Any]) -> list[str]:
    shape = bundle.get("layout")
    if shape is None:
        return []
    return ([f"lag_{k}" for k in shape.recent] + [f"season_{k}" for k in shape.seasonal]
            + ["calendar", "holiday"] + [f"x_{name}" for name in shape.exog])


def _plain(value: Any) -> Any:
    """``value`` with floats that JSON cannot hold (NaN, infinity) as None."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.floating):
        return _plain(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def _served_text(report: dict[str, Any]) -> str:
    served, baseline = report["served"], report["best_baseline"]
    mape = report["methods"][served]["mape"]
    if report["served_kind"] == "baseline":
        return f"no model beat the baselines; {served} serves (backtest MAPE {mape:.2%})"
    return (f"{served} serves, backtest MAPE {mape:.2%}, {report['improvement']:.0%} lower MAE "
            f"than {baseline}")


# -- serving ------------------------------------------------------------------------------


def _loaded_active(db: Database, settings: Settings, asset_id: int, target: str,
                   mode: str) -> tuple[ModelVersion, dict[str, Any]]:
    with db.Session() as session:
        row = active_version(session, asset_id, target, mode)
        if row is None:
            raise ModelError(f"asset {asset_id} has no active {mode} model of {target}")
        session.expunge(row)
    return row, load_bundle(settings, row)


def predict(db: Database, settings: Settings, asset_id: int, target: str, *, now: datetime,
            mode: str = "forecast") -> int:
    """Serve the slot: the next horizon after the newest complete step before ``now`` (a
    forecast), or estimates for the steps since the last ones (a surrogate). Stored
    idempotently per version, time and horizon; returns how many rows."""
    row, bundle = _loaded_active(db, settings, asset_id, target, mode)
    step = bundle["step_minutes"]
    if mode == "surrogate":
        with db.Session() as session:
            last = session.scalar(select(func.max(Prediction.ts)).where(Prediction.model_version_id == row.id))
        start = max(pd.Timestamp(last).to_pydatetime() if last else row.train_to, now - timedelta(days=7))
        sensors = sensor_grid(db, settings, asset_id, start, now, step, exclude=target)
        frame = surrogate.estimate(bundle, sensors[sensors.index > pd.Timestamp(start)] if not sensors.empty else sensors)
    else:
        shape = bundle["layout"]
        reach = timedelta(minutes=step) * (shape.history_steps + 2)
        history = grid(db, settings, asset_id, target, now - reach - timedelta(days=2), now, step)
        exog = inputs(db, settings, asset_id, shape.exog, now - reach - timedelta(days=2), now, step)
        try:
            frame = engine.forecast(bundle, history, exog)
        except engine.NotEnoughHistory as exc:
            raise NotEnoughData(f"{target} of asset {asset_id}: {exc}") from exc
    if frame.empty:
        return 0
    created = utcnow()
    with db.engine.begin() as conn:
        upsert(conn, Prediction.__table__, [
            {"model_version_id": row.id, "ts": ts.to_pydatetime(), "horizon": int(r.horizon),
             "value": float(r.value), "lower": float(r.lower), "upper": float(r.upper), "created_at": created}
            for ts, r in frame.iterrows()
        ], keys=["model_version_id", "ts", "horizon"])
    return len(frame)


# -- validation ---------------------------------------------------------------------------


def validate(db: Database, settings: Settings, asset_id: int, target: str, *, now: datetime,
             mode: str = "forecast") -> Validation | None:
    """Judge the active version's forecasts not yet validated against what happened.

    Returns None (and stores nothing) while fewer than ``thresholds.min_validation_points``
    pairs have actuals. Otherwise stores a validation with per-horizon scores and a
    disposition: ``retrain`` when the MAE is above ``thresholds.degradation_ratio`` times the
    backtest's, or when a one-sided binomial test finds the coverage below nominal at
    ``thresholds.coverage_alpha``; ``keep`` otherwise.
    """
    with db.Session() as session:
        row = active_version(session, asset_id, target, mode)
        if row is None:
            return None
        since = session.scalar(select(func.max(Validation.window_to)).where(
            Validation.model_version_id == row.id))
        query = select(Prediction.ts, Prediction.horizon, Prediction.value, Prediction.lower,
                       Prediction.upper).where(Prediction.model_version_id == row.id, Prediction.ts <= now)
        if since is not None:
            query = query.where(Prediction.ts > since)
        predicted = pd.DataFrame(session.execute(query.order_by(Prediction.ts)).all(),
                                 columns=["ts", "horizon", "value", "lower", "upper"])
        session.expunge(row)
    if predicted.empty:
        return None
    predicted["ts"] = pd.to_datetime(predicted["ts"], utc=True)
    step = row.params.get("step_minutes", settings.pipeline.resample_minutes)
    actual = grid(db, settings, asset_id, target, predicted["ts"].min() - timedelta(minutes=step),
                  now + timedelta(microseconds=1), step, interpolate=False).dropna()
    joined = predicted.join(actual.rename("actual"), on="ts", how="inner").dropna(subset=["actual"])
    faulty = during_alerts(db, asset_id, joined, row, now)
    if len(joined) - int(faulty.sum()) < settings.thresholds.min_validation_points:
        return None
    verdict = judge(joined[~faulty], row.backtest or {}, settings)
    if faulty.any():
        verdict.details["excluded_during_alerts"] = int(faulty.sum())
    with db.Session() as session, session.begin():
        validation = Validation(
            model_version_id=row.id, window_from=joined["ts"].min().to_pydatetime(),
            window_to=joined["ts"].max().to_pydatetime(), n=verdict.metrics.n, mae=verdict.metrics.mae,
            rmse=verdict.metrics.rmse, mape=verdict.metrics.mape, r2=verdict.metrics.r2,
            coverage=verdict.metrics.coverage, disposition=verdict.disposition, reason=verdict.reason[:500],
            details=_plain(verdict.details),
        )
        session.add(validation)
        if verdict.disposition == "retrain":
            session.execute(update(ModelVersion).where(ModelVersion.id == row.id).values(needs_retraining=True))
            session.add(ModelEvent(asset_id=asset_id, target=target, model_version_id=row.id,
                                   event="marked_for_retraining", reason=verdict.reason[:500]))
        session.flush()
        session.expunge(validation)
    log.info("validated %s %s v%d of asset %s: %s (%s)", mode, target, row.version, asset_id,
             verdict.disposition, verdict.reason)
    return validation


def during_alerts(db: Database, asset_id: int, pairs: pd.DataFrame, row: ModelVersion,
                  now: datetime) -> np.ndarray:
    """Which forecast/actual ``pairs`` touch one of the asset's alert episodes that concern the
    target: a sensor error of its own sensor, or a fault of the asset itself (a leak, overuse:
    those change every quantity of the asset); for a calculation, any alert of the asset. The
    actual, or a value the forecast was made from (its recent steps, or the same
    time a day or a week before), fell while the asset was faulty. They are left out of the validation: a stuck
    sensor makes any forecast miss, for a day and a week after as well as during, and it is the
    alert's business, not a reason to retrain; they are counted in the validation's details."""
    if pairs.empty:
        return np.zeros(0, dtype=bool)
    step = pd.Timedelta(minutes=row.params.get("step_minutes", 10))
    layout = (row.backtest or {}).get("layout") or {}
    recent = max(layout.get("recent") or [0]) + engine.SCALE_STEPS
    seasons = sorted({s for s in layout.get("seasonal") or []})
    reach = step * (max(seasons + [recent]) + 2)
    with db.Session() as session:
        query = select(Alert.started_at, Alert.ended_at).where(
            Alert.asset_id == asset_id, Alert.started_at <= pairs["ts"].max().to_pydatetime(),
            func.coalesce(Alert.ended_at, now) >= (pairs["ts"].min() - reach).to_pydatetime())
        sensor_id = session.scalar(select(Sensor.id).where(Sensor.asset_id == asset_id, Sensor.name == row.target))
        if sensor_id is not None:  # another sensor's error does not touch this one
            query = query.where((Alert.classification != "sensor_error") | (Alert.sensor_id == sensor_id)
                                | Alert.sensor_id.is_(None))
        episodes = session.execute(query).all()
    if not episodes:
        return np.zeros(len(pairs), dtype=bool)
    ts = pairs["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    origin = ts - pairs["horizon"].to_numpy() * step.to_timedelta64()
    # The intervals each pair depends on: [origin - recent steps, ts], and a step either side of
    # each seasonal lag before ts.
    spans = [(origin - recent * step.to_timedelta64(), ts)]
    spans += [(ts - (s + 1) * step.to_timedelta64(), ts - (s - 1) * step.to_timedelta64()) for s in seasons]
    hit = np.zeros(len(pairs), dtype=bool)
    for started, ended in episodes:
        begin = _naive(started) - step.to_timedelta64()  # the step it fell in
        end = _naive(ended or now) + step.to_timedelta64()
        for low, high in spans:
            hit |= (low <= end) & (high >= begin)
    return hit


def _naive(moment: datetime) -> np.datetime64:
    stamp = pd.Timestamp(moment)
    return (stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp).to_datetime64()


@dataclass(frozen=True)
class Verdict:
    metrics: Metrics
    disposition: str
    reason: str
    details: dict[str, Any]


def judge(pairs: pd.DataFrame, backtest: dict[str, Any], settings: Settings) -> Verdict:
    """The disposition of forecast/actual ``pairs`` (columns horizon, value, lower, upper, actual)
    against what the backtest promised (see :func:`validate`)."""
    actual, value = pairs["actual"].to_numpy(), pairs["value"].to_numpy()
    metrics = score(actual, value, pairs["lower"].to_numpy(), pairs["upper"].to_numpy())
    served = (backtest.get("methods") or {}).get(backtest.get("served"), {})
    promised = {h["h"]: h["mae"] for h in served.get("horizons", []) if h.get("mae") is not None}
    horizons = []
    for h, part in pairs.groupby("horizon"):
        m = score(part["actual"].to_numpy(), part["value"].to_numpy(), part["lower"].to_numpy(),
                  part["upper"].to_numpy())
        horizons.append({"h": int(h), "n": m.n, "mae": m.mae, "mape": m.mape, "coverage": m.coverage,
                         "backtest_mae": promised.get(int(h))})
    # The MAE the backtest promised for these pairs, horizon by horizon.
    expected_mae = sum(promised[h["h"]] * h["n"] for h in horizons if h["h"] in promised)
    counted = sum(h["n"] for h in horizons if h["h"] in promised)
    expected_mae = expected_mae / counted if counted else None
    nominal = float(backtest.get("coverage_nominal") or settings.model.interval_coverage)
    # The coverage promised: nominal, or less where the backtest itself covered less (the
    # Models page shows that; validation looks for a change, not for what was known).
    shown = [h["coverage"] for h in served.get("horizons", []) if h.get("coverage") is not None]
    expected = min(nominal, float(np.mean(shown))) if shown else nominal
    # The forecasts of one issue share their origin and err together: the test counts issues
    # (distinct origins), not pairs, with the share of pairs covered.
    step = pd.Timedelta(seconds=((backtest.get("layout") or {}).get("step_s") or 600))
    issues = int((pairs["ts"] - pairs["horizon"] * step).nunique()) if "ts" in pairs else metrics.n
    hits = int(math.floor((metrics.coverage or 0) * issues + 1e-9))
    p_value = float(binomtest(hits, issues, expected, alternative="less").pvalue)
    problems = []
    ratio = settings.thresholds.degradation_ratio
    if expected_mae is not None and metrics.mae > ratio * expected_mae:
        problems.append(f"MAE {metrics.mae:.4g} is above {ratio:g} x the backtest's {expected_mae:.4g}")
    if p_value < settings.thresholds.coverage_alpha:
        problems.append(f"interval coverage {metrics.coverage:.0%} of {metrics.n} pairs ({issues} issues) "
                        f"is below the {expected:.0%} promised beyond chance (binomial p = {p_value:.2g})")
    if problems:
        reason = "; ".join(problems)
    else:
        reason = (f"MAPE {metrics.mape:.2%} over {metrics.n} pairs"
                  + (f" (backtest MAE {expected_mae:.4g}, now {metrics.mae:.4g})" if expected_mae else "")
                  + f"; coverage {metrics.coverage:.0%} against {expected:.0%} (p = {p_value:.2g})")
    details = {"horizons": horizons, "p_value": p_value, "expected": expected, "nominal": nominal,
               "issues": issues, "backtest_mae": expected_mae}
    return Verdict(metrics, "retrain" if problems else "keep", reason, details)


# -- the champion and its challenger ------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    champion: ModelVersion | None
    challenger: ModelVersion


def challenge(db: Database, settings: Settings, asset_id: int, target: str, *, now: datetime,
              reason: str, job_id: int | None = None, mode: str = "forecast") -> Decision:
    """Train one challenger and make it the active version only if it scores better than the
    champion on data neither was fitted on: the origins after the champion's training ended
    that also fall in the challenger's backtest period (scored with the challenger's
    backtest-period fit). When there are too few of them the challenger's whole backtest period
    is used, which the champion may have seen: it then has to win against a champion with
    that advantage. Decision and reason are recorded as model events, and the job (if any)
    finished, in one transaction. A redelivered job reuses the challenger it already trained.
    """
    with db.Session() as session:
        earlier = [v for v in session.scalars(_slot(select(ModelVersion), asset_id, target, mode).where(
            ModelVersion.status == "candidate")) if job_id is not None and v.params.get("job_id") == job_id]
        for version in earlier:
            session.expunge(version)
    early = None
    if earlier:
        challenger = earlier[0]
    else:
        trained = train(db, settings, asset_id, target, now=now, reason=reason, job_id=job_id,
                        finish_job=False, mode=mode)
        challenger, early = trained.version, trained.backtest_estimators
    with db.Session() as session:
        champion = session.scalar(_slot(select(ModelVersion), asset_id, target, mode).where(
            ModelVersion.status == "active", ModelVersion.id != challenger.id))
        if champion is not None:
            session.expunge(champion)
    if champion is None:  # the challenger was the first model and is already active
        with db.Session() as session, session.begin():
            jobs.finish(session, job_id, f"Trained version {challenger.version}, the first model")
        return Decision(True, "no active model: the new version is active", None, challenger)
    promoted, why = _compare(db, settings, asset_id, target, champion, challenger, early, mode)
    with db.Session() as session, session.begin():
        now_ = utcnow()
        if promoted:
            session.execute(update(ModelVersion).where(ModelVersion.id == champion.id).values(
                status="retired", retired_at=now_))
            session.execute(update(ModelVersion).where(ModelVersion.id == challenger.id).values(
                status="active", activated_at=now_))
            session.add(ModelEvent(asset_id=asset_id, target=target, model_version_id=champion.id,
                                   event="retired", reason=f"replaced by v{challenger.version}: {why}"[:500]))
            session.add(ModelEvent(asset_id=asset_id, target=target, model_version_id=challenger.id,
                                   event="activated", reason=f"promoted over v{champion.version}: {why}"[:500]))
        else:
            session.execute(update(ModelVersion).where(ModelVersion.id == challenger.id).values(status="rejected"))
            session.add(ModelEvent(asset_id=asset_id, target=target, model_version_id=challenger.id,
                                   event="rejected", reason=f"v{champion.version} stays active: {why}"[:500]))
        jobs.finish(session, job_id, f"Version {challenger.version} "
                    f"{'promoted' if promoted else 'trained but not better'}: {why}")
    log.info("asset %s %s: challenger v%d %s (%s)", asset_id, target, challenger.version,
             "promoted" if promoted else "rejected", why)
    prune(db, settings, asset_id, target)
    return Decision(promoted, why, champion, challenger)


def _compare(db: Database, settings: Settings, asset_id: int, target: str, champion: ModelVersion,
             challenger: ModelVersion, early: list[Any] | None, mode: str) -> tuple[bool, str]:
    """Whether the challenger beats the champion, and why, on the same data."""
    try:
        champion_bundle = load_bundle(settings, champion)
    except ModelFileError as exc:
        return True, f"the champion's file is unusable ({exc})"
    challenger_bundle = load_bundle(settings, challenger)
    step = challenger_bundle["step_minutes"]
    if mode == "surrogate" or champion_bundle.get("step_minutes") != step or "layout" not in champion_bundle:
        # Different grids (the target's cadence changed) or estimates: compare held-out MAE.
        ours = challenger.holdout_metrics.get("mae")
        theirs = champion.holdout_metrics.get("mae")
        better = theirs is None or (ours is not None and ours < theirs)
        return better, f"held-out MAE {ours:.4g} against the champion's {theirs or float('nan'):.4g}"
    backtest_from = pd.Timestamp(challenger_bundle["backtest_from"])
    since = max(pd.Timestamp(champion.train_to), backtest_from)
    shape = challenger_bundle["layout"]
    y = grid(db, settings, asset_id, target,
             (backtest_from - pd.Timedelta(challenger_bundle["layout"].step) * (shape.history_steps + 2)).to_pydatetime(),
             pd.Timestamp(challenger_bundle["train_to"]).to_pydatetime() + timedelta(microseconds=1), step)
    fairness = ""
    names = tuple(dict.fromkeys([*champion_bundle["layout"].exog, *shape.exog]))
    exog = inputs(db, settings, asset_id, names, y.index[0].to_pydatetime(),
                  y.index[-1].to_pydatetime() + timedelta(microseconds=1), step)
    theirs = engine.evaluate(champion_bundle, y, since, exog=exog)
    if min(s.n for s in theirs.scores) < settings.thresholds.min_validation_points:
        since, fairness = backtest_from, " (the champion had seen part of this window)"
        theirs = engine.evaluate(champion_bundle, y, since, exog=exog)
    ours = engine.evaluate(challenger_bundle, y, since, exog=exog,
                           estimators=early if challenger_bundle["kind"] == "model" else None)
    promoted = ours.mae < theirs.mae
    n = ours.scores[0].n
    return promoted, (f"on the same {n} forecast origins{fairness} the challenger ({challenger.algorithm}) has "
                      f"MAE {ours.mae:.4g} against the champion's ({champion.algorithm}) {theirs.mae:.4g}")


# -- keeping files in check ---------------------------------------------------------------


def prune(db: Database, settings: Settings, asset_id: int, target: str) -> int:
    """Delete the files of the slot's versions that are neither active, a candidate, among the
    newest ``model.keep_versions``, nor referenced by a stored forecast; their rows stay, with
    ``pruned_at``. Returns how many files went."""
    with db.Session() as session, session.begin():
        rows = list(session.scalars(select(ModelVersion).where(
            ModelVersion.asset_id == asset_id, ModelVersion.target == target,
            ModelVersion.pruned_at.is_(None)).order_by(ModelVersion.version.desc())))
        newest = {row.id for row in rows[:settings.model.keep_versions]}
        pruned = 0
        for row in rows:
            if row.id in newest or row.status in ("active", "candidate"):
                continue
            if session.scalar(select(exists().where(Prediction.model_version_id == row.id))):
                continue
            (settings.models_path / row.file_path).unlink(missing_ok=True)
            row.pruned_at = utcnow()
            pruned += 1
    return pruned


def bootstrap(db: Database, settings: Settings, asset_id: int, target: str, *, now: datetime,
              mode: str = "forecast", replay: timedelta = timedelta(hours=12)) -> Validation | None:
    """The whole loop at once for a new target (demo data, a first deployment): train on the
    data up to ``replay`` ago, serve as the schedule would have (every hour) up to now,
    validate those forecasts against what happened, and serve from now."""
    cutoff = now - replay
    train(db, settings, asset_id, target, now=cutoff, reason="initial model", mode=mode)
    moment = cutoff
    while moment < now:
        predict(db, settings, asset_id, target, now=moment, mode=mode)
        moment += timedelta(hours=1)
    validation = validate(db, settings, asset_id, target, now=now, mode=mode)
    predict(db, settings, asset_id, target, now=now, mode=mode)
    return validation
