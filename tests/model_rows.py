"""Model versions, validations and predictions written straight to the database, shaped as the
forecasting service stores them, for the pages and commands that show them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.db import Database
from app.db.models import ModelVersion, Prediction, Validation
from tests.conftest import utc

TRAINED = utc(2026, 11, 1)


def horizons(mae: float, steps: int, *, coverage: float = 0.85) -> list[dict[str, Any]]:
    """Per-horizon scores, ``h`` 1 to ``steps`` (0 alone for a surrogate: ``steps`` 0)."""
    return [{"h": h, "n": 900 - h, "mae": mae + h, "rmse": mae * 1.3, "mape": 0.0063,
             "coverage": coverage, "half_width": mae * 2} for h in (range(1, steps + 1) if steps else [0])]


def backtest(served: str = "ridge", served_kind: str = "model", best_baseline: str = "seasonal_weekly",
             improvement: float = 0.75, steps: int = 2, step_s: int = 1800) -> dict[str, Any]:
    """A rolling-origin backtest report: ``served`` and every other method's scores."""
    names = (["gbm", "ridge", "mean"] if steps == 0
             else ["gbm", "ridge", "persistence", "seasonal_daily", "seasonal_weekly"])
    methods = {name: {"name": name, "kind": "baseline" if name not in ("gbm", "ridge") else "model",
                      "mae": 150.2 if name == served else 600.0, "mape": 0.0063,
                      "horizons": horizons(150.2 if name == served else 600.0, steps)} for name in names}
    return {"served": served, "served_kind": served_kind, "best_baseline": best_baseline,
            "improvement": improvement, "coverage_nominal": 0.9,
            "layout": {"step_s": step_s, "horizon": steps, "recent": [0, 1, 2], "seasonal": [47, 48], "exog": []},
            "methods": methods, "timings_s": {"total": 1.5}}


def add_version(database: Database, asset_id: int, target: str, *, version: int = 1, status: str = "active",
                mode: str = "forecast", report: dict[str, Any] | None = None, algorithm: str | None = None,
                step_minutes: int | None = 30, horizon_steps: int | None = 2,
                pruned_at: datetime | None = None) -> int:
    """A model version; without ``report`` (and ``algorithm``) one made before backtests."""
    params: dict[str, Any] = {}
    if step_minutes is not None:
        params["step_minutes"] = step_minutes
    if horizon_steps is not None:
        params["horizon_steps"] = horizon_steps
    with database.Session() as session, session.begin():
        row = ModelVersion(
            asset_id=asset_id, target=target, version=version, status=status, mode=mode,
            algorithm=algorithm or (report or {}).get("served", "RandomForestRegressor"),
            file_path=f"asset{asset_id}-{target}-v{version}.joblib", file_sha256="ab" * 32, features=[],
            params=params, library_versions={}, train_from=TRAINED - timedelta(days=30), train_to=TRAINED,
            rows=1440, holdout_metrics={"n": 288, "mae": 3.25, "mape": 0.042, "rmse": 4.0, "coverage": 0.88},
            backtest=report, pruned_at=pruned_at, created_at=TRAINED)
        session.add(row)
        session.flush()
        return row.id


def add_validation(database: Database, version_id: int, *, disposition: str = "keep",
                   window_to: datetime = TRAINED + timedelta(days=2),
                   details: dict[str, Any] | None = None) -> None:
    with database.Session() as session, session.begin():
        session.add(Validation(model_version_id=version_id, window_from=window_to - timedelta(hours=6),
                               window_to=window_to, n=30, mae=160.0, rmse=200.0, mape=0.007, r2=0.9,
                               coverage=0.87, disposition=disposition, reason="as the backtest promised",
                               details=details))


def add_predictions(database: Database, version_id: int,
                    rows: list[tuple[datetime, int, float, datetime]]) -> None:
    """Predictions as (time, horizon, value, issued at); the interval is value ± 5."""
    with database.Session() as session, session.begin():
        session.add_all(Prediction(model_version_id=version_id, ts=ts, horizon=h, value=value,
                                   lower=value - 5, upper=value + 5, created_at=issued)
                        for ts, h, value, issued in rows)
