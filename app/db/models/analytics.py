"""What the twin computes: calculations, model versions, their predictions and validations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, HourSummary, UTCDateTime, utcnow


class Calculation(Base):
    """A derived quantity of an asset at a time (e.g. accumulated destruction)."""

    __tablename__ = "calculations"

    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class CalculationRollup(Base, HourSummary):
    """One calculation of one asset in one UTC hour, summarised like :class:`SensorRollup`
    (count, extremes, sum, first and last time), kept by
    :func:`app.series.refresh_calculation_rollups` whenever the pipeline stores calculations,
    so a year's plot of a calculation reads 8,760 rows instead of 525,600."""

    __tablename__ = "calculation_rollups"

    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)


class ModelVersion(Base):
    """A trained model of one asset's target, its file, and how it was made and how it scored.

    ``status`` is candidate, active, retired or rejected; ``file_sha256`` is checked before the
    file is loaded. ``mode`` is ``forecast`` (the target's future from its past) or
    ``surrogate`` (a calculation estimated from the asset's concurrent sensor readings);
    ``algorithm`` is the method that serves (a model, or the baseline that beat it) and
    ``backtest`` its rolling-origin scores per horizon against every baseline.
    ``pruned_at`` is set when the file was deleted (the row and its history stay).
    """

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("asset_id", "target", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    target: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="candidate")
    algorithm: Mapped[str] = mapped_column(String(64))
    file_path: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64))
    features: Mapped[list[str]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    library_versions: Mapped[dict[str, str]] = mapped_column(JSON)
    train_from: Mapped[datetime] = mapped_column(UTCDateTime)
    train_to: Mapped[datetime] = mapped_column(UTCDateTime)
    rows: Mapped[int] = mapped_column(Integer)
    holdout_metrics: Mapped[dict[str, float]] = mapped_column(JSON)
    needs_retraining: Mapped[bool] = mapped_column(Boolean, default=False)
    mode: Mapped[str] = mapped_column(String(16), default="forecast", server_default="forecast")
    backtest: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    pruned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Prediction(Base):
    """A forecast value with its interval, one per model version, time and horizon (the number
    of steps between the forecast's origin and ``ts``): the same time forecast an hour ahead
    and ten minutes ahead is two rows, each validated at its own horizon. A surrogate's
    estimates have horizon 0."""

    __tablename__ = "predictions"

    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id"), primary_key=True
    )
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    horizon: Mapped[int] = mapped_column(Integer, primary_key=True, default=0, server_default="0")
    value: Mapped[float] = mapped_column(Float)
    lower: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Validation(Base):
    """How a model version's predictions compared with what happened over a window, and what
    was decided because of it (``disposition`` keep or retrain, with ``reason``)."""

    __tablename__ = "validations"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    window_from: Mapped[datetime] = mapped_column(UTCDateTime)
    window_to: Mapped[datetime] = mapped_column(UTCDateTime)
    n: Mapped[int] = mapped_column(Integer)
    mae: Mapped[float | None] = mapped_column(Float)
    rmse: Mapped[float | None] = mapped_column(Float)
    mape: Mapped[float | None] = mapped_column(Float)
    r2: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float | None] = mapped_column(Float)
    disposition: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500))
    #: per-horizon scores and the coverage test (``horizons``, ``p_value``, ``expected``)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PipelineState(Base):
    """Where an asset's pipeline got to: the newest sensor time it has calculated."""

    __tablename__ = "pipeline_state"

    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PipelineRun(Base):
    """One run of a pipeline stage for an asset: what it did, how long each part took, and
    what it decided."""

    __tablename__ = "pipeline_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # calculate, train, predict, validate
    target: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ModelEvent(Base):
    """The history of a model slot (asset and target): versions activated, retired, rejected,
    marked for retraining, each with the reason."""

    __tablename__ = "model_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    target: Mapped[str] = mapped_column(String(64))
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    event: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Job(Base):
    """A background job a person asked for (e.g. "Train now"), with progress the portal polls;
    it outlives a page reload."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(String(500))
    task_id: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Lease(Base):
    """A named lease one process holds until it expires (e.g. the one beat that may run)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
