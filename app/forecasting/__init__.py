"""Forecasting: features in time (:mod:`.features`), candidates, baselines and rolling-origin
backtests (:mod:`.engine`), surrogate models (:mod:`.surrogate`), and the service that trains,
serves, validates, challenges and prunes the models of an asset (:mod:`.service`)."""

from app.forecasting.service import (
    Decision,
    Metrics,
    ModelError,
    ModelFileError,
    NotEnoughData,
    Trained,
    Validation,
    active_version,
    bootstrap,
    challenge,
    load_bundle,
    load_target,
    predict,
    prune,
    score,
    target_step,
    train,
    validate,
)

__all__ = [
    "Decision", "Metrics", "ModelError", "ModelFileError", "NotEnoughData", "Trained", "Validation",
    "active_version", "bootstrap", "challenge", "load_bundle", "load_target", "predict", "prune",
    "score", "target_step", "train", "validate",
]
