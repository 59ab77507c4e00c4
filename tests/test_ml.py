"""Forecasting models: train, the model file's integrity, predict, validate, champion/challenger.

The data is a boiler's water temperature: 1-minute readings from the generator (68..84 C, one
cycle a day, 0.24 C of noise), modelled as 10-minute means. Models are small (20 trees, one
thread: a one-thread forest predicts bit-for-bit the same every time) so the file runs in
seconds; the numbers below are worked out from those settings.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sqlalchemy import func, select

from app import ml
from app.db import Database
from app.db.models import ModelEvent, ModelVersion, Prediction, Validation
from app.generator import generate_chunks
from app.ingest import write_sensor_readings
from app.twins.boiler import ASSET_TYPE as BOILER
from settings import Settings
from tests.conftest import Plant, add_plant, make_settings, utc

T0 = utc(2024, 3, 4)  # a Monday, midnight UTC
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
TARGET = "water_temperature"
CUTOFF = T0 + 3 * DAY  # the first model is trained on the 3 days before this
SMALL: dict[str, object] = {
    "model__n_estimators": 20,
    "model__n_jobs": 1,
    "pipeline__training_days": 3,
    "pipeline__min_training_rows": 100,
    "pipeline__resample_minutes": 10,
}
# 3 days of 10-minute means = 432 points; the 36-point rolling features need 36 earlier
# points, so 432 - 36 = 396 usable rows, the first labelled T0 + 37 x 10 min = 06:10;
# int(396 x 0.8) = 316 are fitted on and the last 80 are the hold-out.
ROWS, HOLDOUT = 396, 80


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Small models whose files go to the test's own folder (never the repository's)."""
    return make_settings(tmp_path, models_dir=str(tmp_path / "models"), **SMALL)


# -- helpers --------------------------------------------------------------------------------


def boiler(database: Database) -> Plant:
    return add_plant(database, [TARGET], asset_type="boiler", name="Boiler House")


def write_target(
    database: Database,
    plant: Plant,
    start: datetime,
    end: datetime,
    *,
    seed: int = 1,
    scale: float = 1.0,
) -> None:
    """1-minute water temperatures over [start, end), multiplied by ``scale`` (a level jump)."""
    signal = BOILER.sensor(TARGET).signal
    for chunk in generate_chunks(signal, plant.sensor_ids[0], start, end, MINUTE, seed=seed):
        write_sensor_readings(database.sensors_engine, chunk.assign(value=chunk["value"] * scale))


def first_model(database: Database, settings: Settings) -> tuple[Plant, ml.Trained]:
    """A boiler with 3 normal days before CUTOFF and version 1 trained on them."""
    plant = boiler(database)
    write_target(database, plant, T0, CUTOFF)
    return plant, ml.train(database, settings, plant.asset_id, TARGET, now=CUTOFF, reason="test")


def version(database: Database, asset_id: int, number: int) -> ModelVersion:
    with database.Session() as session:
        row = session.scalar(
            select(ModelVersion).where(
                ModelVersion.asset_id == asset_id,
                ModelVersion.target == TARGET,
                ModelVersion.version == number,
            )
        )
        assert row is not None
        session.expunge(row)
        return row


def events(database: Database, asset_id: int) -> list[tuple[int | None, str, str]]:
    """(model version number, event, reason) of the slot, oldest first."""
    with database.Session() as session:
        rows = session.execute(
            select(ModelVersion.version, ModelEvent.event, ModelEvent.reason)
            .join(ModelVersion, ModelVersion.id == ModelEvent.model_version_id)
            .where(ModelEvent.asset_id == asset_id)
            .order_by(ModelEvent.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def predictions(database: Database, version_id: int) -> pd.DataFrame:
    with database.Session() as session:
        rows = session.execute(
            select(Prediction.ts, Prediction.value, Prediction.lower, Prediction.upper)
            .where(Prediction.model_version_id == version_id)
            .order_by(Prediction.ts)
        ).all()
    return pd.DataFrame(rows, columns=["ts", "value", "lower", "upper"])


def count(database: Database, model: type) -> int:
    with database.Session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# -- score ------------------------------------------------------------------------------------


def test_score_computes_mae_rmse_mape_r2_and_coverage_with_the_documented_mape_floor() -> None:
    actual, predicted = np.array([2.0, 4.0, 0.0]), np.array([3.0, 3.0, 1.0])

    metrics = ml.score(
        actual, predicted, lower=np.array([2.5, 2.0, 0.5]), upper=np.array([3.5, 5.0, 1.5])
    )

    # errors +1, -1, +1: MAE = 1, RMSE = sqrt(3/3) = 1.
    # MAPE floor = 10 % of mean |actual| = 0.1 x 2 = 0.2, so the zero actual divides by 0.2:
    # (1/2 + 1/4 + 1/0.2) / 3 = (0.5 + 0.25 + 5) / 3 = 1.91666...
    # R2 = 1 - 3 / ((2-2)^2 + (4-2)^2 + (0-2)^2) = 1 - 3/8 = 0.625
    # coverage: 2 not in [2.5, 3.5], 4 in [2, 5], 0 not in [0.5, 1.5] -> 1/3
    assert metrics == ml.Metrics(
        n=3,
        mae=1.0,
        rmse=1.0,
        mape=pytest.approx(5.75 / 3, rel=1e-12),
        r2=0.625,
        coverage=pytest.approx(1 / 3, rel=1e-12),
    )


def test_score_of_a_constant_actual_has_r2_zero_and_no_coverage_without_an_interval() -> None:
    metrics = ml.score(np.array([5.0, 5.0]), np.array([4.0, 7.0]))

    # errors -1, +2: MAE 1.5, RMSE sqrt((1 + 4) / 2) = sqrt(2.5); MAPE (1/5 + 2/5) / 2 = 0.3
    assert (metrics.mae, metrics.rmse, metrics.mape) == (
        1.5,
        pytest.approx(2.5**0.5),
        pytest.approx(0.3),
    )
    assert metrics.r2 == 0.0 and metrics.coverage is None


# -- train ------------------------------------------------------------------------------------


def test_train_registers_version_1_active_with_holdout_metrics_and_how_it_was_made(
    db: Database, settings: Settings
) -> None:
    plant, trained = first_model(db, settings)

    row = version(db, plant.asset_id, 1)
    assert (row.status, row.algorithm, row.needs_retraining) == (
        "active",
        "RandomForestRegressor",
        False,
    )
    assert row.activated_at is not None and row.retired_at is None
    assert row.rows == ROWS
    assert (row.train_from, row.train_to) == (T0 + timedelta(hours=6, minutes=10), CUTOFF)
    assert row.holdout_metrics == trained.holdout.as_dict() and row.holdout_metrics["n"] == HOLDOUT
    # A sine of 16 C with 0.24 C of noise is easy: well inside the 10 % MAPE threshold.
    assert row.holdout_metrics["mape"] < 0.01 and row.holdout_metrics["coverage"] >= 0.8
    assert row.library_versions == {
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }
    assert row.features == [
        "lag_1",
        "lag_2",
        "lag_3",
        "lag_6",
        "lag_12",
        "mean_6",
        "std_6",
        "mean_36",
        "std_36",
        "hour_sin",
        "hour_cos",
        "weekday",
    ]
    assert row.params["n_estimators"] == 20 and row.params["step_minutes"] == 10
    path = settings.models_path / row.file_path
    assert path.parent == settings.models_path and path.is_file()
    assert row.file_sha256 == ml.sha256_of(path)
    assert events(db, plant.asset_id) == [(1, "activated", "test; first model of this target")]


def test_train_refuses_too_few_points_and_registers_nothing(
    db: Database, settings: Settings
) -> None:
    plant = boiler(db)
    write_target(db, plant, T0, T0 + timedelta(hours=12))  # 72 ten-minute means, 36 usable

    with pytest.raises(ml.NotEnoughData, match="36 usable 10-minute points.*training needs 100"):
        ml.train(db, settings, plant.asset_id, TARGET, now=T0 + timedelta(hours=12), reason="test")

    assert count(db, ModelVersion) == 0 and count(db, ModelEvent) == 0
    assert not settings.models_path.exists() or not any(settings.models_path.iterdir())


# -- the model file -------------------------------------------------------------------------


def test_a_model_file_whose_bytes_changed_is_refused_by_its_sha256(
    db: Database, settings: Settings
) -> None:
    plant, trained = first_model(db, settings)
    path = settings.models_path / trained.version.file_path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(data))

    with pytest.raises(ml.ModelFileError, match="SHA-256"):
        ml.load_bundle(settings, version(db, plant.asset_id, 1))
    with pytest.raises(ml.ModelFileError, match="SHA-256"):
        ml.predict(db, settings, plant.asset_id, TARGET, now=CUTOFF)
    assert count(db, Prediction) == 0


def test_a_missing_model_file_is_refused_as_missing(db: Database, settings: Settings) -> None:
    plant, trained = first_model(db, settings)
    (settings.models_path / trained.version.file_path).unlink()

    with pytest.raises(ml.ModelFileError, match="missing"):
        ml.predict(db, settings, plant.asset_id, TARGET, now=CUTOFF)


# -- predict ----------------------------------------------------------------------------------


def test_predict_stores_one_forecast_per_step_of_the_horizon_inside_its_interval(
    any_db: Database, settings: Settings
) -> None:
    plant, trained = first_model(any_db, settings)

    stored = ml.predict(any_db, settings, plant.asset_id, TARGET, now=CUTOFF)
    again = ml.predict(any_db, settings, plant.asset_id, TARGET, now=CUTOFF)

    # 60-minute horizon / 10-minute steps = 6 forecasts, 00:10 to 01:00 after the cutoff;
    # the second call rewrites the same 6 rows.
    assert stored == again == 6
    frame = predictions(any_db, trained.version.id)
    assert [pd.Timestamp(ts) for ts in frame["ts"]] == [
        pd.Timestamp(CUTOFF + timedelta(minutes=10 * k)) for k in range(1, 7)
    ]
    assert ((frame["lower"] < frame["value"]) & (frame["value"] < frame["upper"])).all()
    half_width = trained.version.params["half_width"]
    np.testing.assert_allclose(frame["upper"] - frame["value"], half_width, rtol=1e-12)
    np.testing.assert_allclose(frame["value"] - frame["lower"], half_width, rtol=1e-12)
    assert frame["value"].between(60.0, 90.0).all()  # the signal spans 68..84 C


def test_predict_without_an_active_model_says_so(db: Database, settings: Settings) -> None:
    plant = boiler(db)

    with pytest.raises(ml.ModelError, match="no active model of water_temperature"):
        ml.predict(db, settings, plant.asset_id, TARGET, now=CUTOFF)


# -- validate ---------------------------------------------------------------------------------


def test_validate_keeps_a_model_whose_forecasts_match_what_happened(
    db: Database, settings: Settings
) -> None:
    plant, _ = first_model(db, settings)
    write_target(db, plant, CUTOFF, CUTOFF + DAY, seed=2)  # the same pattern continues
    ml.predict(db, settings, plant.asset_id, TARGET, now=CUTOFF)

    result = ml.validate(db, settings, plant.asset_id, TARGET, now=CUTOFF + timedelta(hours=1))

    assert result is not None and result.disposition == "keep"
    assert "within thresholds" in result.reason
    assert (result.n, result.window_from, result.window_to) == (
        6,
        CUTOFF + timedelta(minutes=10),
        CUTOFF + timedelta(hours=1),
    )
    assert result.mape < 0.1 and result.coverage >= 0.8
    assert None not in (result.mae, result.rmse, result.r2)
    assert result.rmse >= result.mae  # always so: the check that the two are not swapped
    assert count(db, Validation) == 1
    assert version(db, plant.asset_id, 1).needs_retraining is False
    # Validating again finds no forecast not yet validated.
    assert (
        ml.validate(db, settings, plant.asset_id, TARGET, now=CUTOFF + timedelta(hours=1)) is None
    )


# -- drift, retraining and the champion/challenger decision ----------------------------------


def drifted(database: Database, settings: Settings) -> Plant:
    """Version 1 trained on 3 normal days, then 2 days whose level is 30 % higher, forecast
    from the cutoff and validated over the first hour after it."""
    plant, _ = first_model(database, settings)
    write_target(database, plant, CUTOFF, CUTOFF + 2 * DAY, seed=2, scale=1.3)
    ml.predict(database, settings, plant.asset_id, TARGET, now=CUTOFF)
    return plant


def test_a_level_jump_after_the_cutoff_marks_the_model_for_retraining_naming_mape(
    db: Database, settings: Settings
) -> None:
    plant = drifted(db, settings)

    result = ml.validate(db, settings, plant.asset_id, TARGET, now=CUTOFF + timedelta(hours=1))

    assert result is not None and result.disposition == "retrain"
    # Forecasts at the old level against actuals 1.3 x as high: |1 - 1.3| / 1.3 = 0.23 of each.
    assert result.mape == pytest.approx(0.3 / 1.3, abs=0.02)
    assert "MAPE" in result.reason and "above 10%" in result.reason
    assert version(db, plant.asset_id, 1).needs_retraining is True
    assert events(db, plant.asset_id)[-1] == (1, "marked_for_retraining", result.reason)


def test_a_challenger_trained_on_the_drifted_data_replaces_the_champion(
    db: Database, settings: Settings
) -> None:
    plant = drifted(db, settings)
    ml.validate(db, settings, plant.asset_id, TARGET, now=CUTOFF + timedelta(hours=1))

    decision = ml.challenge(
        db, settings, plant.asset_id, TARGET, now=CUTOFF + 2 * DAY, reason="marked for retraining"
    )

    assert decision.promoted is True
    champion, challenger = version(db, plant.asset_id, 1), version(db, plant.asset_id, 2)
    assert (champion.status, challenger.status) == ("retired", "active")
    assert champion.retired_at is not None and challenger.activated_at is not None
    assert challenger.train_to == CUTOFF + 2 * DAY  # trained on the 3 days up to now
    history = events(db, plant.asset_id)
    assert [(number, event) for number, event, _ in history] == [
        (1, "activated"),
        (1, "marked_for_retraining"),
        (2, "trained"),
        (1, "retired"),
        (2, "activated"),
    ]
    retired, activated = history[3][2], history[4][2]
    assert retired.startswith("replaced by v2: ") and activated.startswith("promoted over v1: ")
    # The champion never saw a temperature above 84 C; the drifted hold-out is 88..109 C.
    challenger_mae, champion_mae = mae_pair(decision.reason)
    assert challenger_mae < champion_mae and champion_mae > 10 * challenger_mae
    assert decision.reason in retired and decision.reason in activated


def test_a_challenger_worse_than_the_champion_is_rejected_and_the_champion_stays(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    plant, _ = first_model(db, settings)
    # One depth-1 tree can only say "high half" or "low half" of a 16 C sine: far worse than
    # the champion's 20-tree forest on the same data and the same hold-out.
    stump = make_settings(
        tmp_path,
        models_dir=str(settings.models_path),
        **{**SMALL, "model__n_estimators": 1, "model__max_depth": 1},
    )

    decision = ml.challenge(db, stump, plant.asset_id, TARGET, now=CUTOFF, reason="scheduled")

    assert decision.promoted is False
    assert (version(db, plant.asset_id, 1).status, version(db, plant.asset_id, 2).status) == (
        "active",
        "rejected",
    )
    challenger_mae, champion_mae = mae_pair(decision.reason)
    assert challenger_mae > 2 * champion_mae
    assert events(db, plant.asset_id)[-1] == (2, "rejected", f"v1 stays active: {decision.reason}")


def test_a_challenger_only_as_good_as_the_champion_is_not_promoted(
    db: Database, settings: Settings
) -> None:
    plant, _ = first_model(db, settings)

    # Same data, same settings, same seed: the challenger is the champion's exact twin.
    decision = ml.challenge(db, settings, plant.asset_id, TARGET, now=CUTOFF, reason="scheduled")

    challenger_mae, champion_mae = mae_pair(decision.reason)
    assert challenger_mae == champion_mae and decision.promoted is False
    assert version(db, plant.asset_id, 1).status == "active"


def test_the_challenge_is_judged_only_on_points_the_challenger_was_not_fitted_on(
    db: Database, settings: Settings
) -> None:
    plant = drifted(db, settings)

    decision = ml.challenge(
        db, settings, plant.asset_id, TARGET, now=CUTOFF + 2 * DAY, reason="test"
    )

    # The challenger's hold-out is its last 80 usable rows (see ROWS, HOLDOUT): the window
    # "neither model was fitted on" is those 80 points, not the last 20 % of all 432 means
    # (87 points, 7 of which the challenger was fitted on).
    assert decision.challenger.holdout_metrics["n"] == HOLDOUT
    assert f"on the same {HOLDOUT} recent points" in decision.reason


def mae_pair(reason: str) -> tuple[float, float]:
    """(challenger's MAE, champion's MAE) from a decision's reason."""
    challenger = reason.split("challenger's MAE is ")[1].split(" ")[0]
    champion = reason.split("the champion's ")[1].split(" ")[0]
    return float(challenger), float(champion)
