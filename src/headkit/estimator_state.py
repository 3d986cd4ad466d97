"""What a fitted :class:`headkit.HeadClassifier` saves beside its network, and how it comes back.

The network itself goes through :mod:`headkit.io`; this module assembles the estimator's
metadata (labels, feature names, the training settings as given, the fit's seed, calibration,
epochs) and the Mahalanobis statistics file, and rebuilds the fitted attributes on load. Runs
saved by the previous layout (settings under ``params``, the derived seed as ``random_state``)
load too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from headkit.config import TrainingConfig
from headkit.evaluation.ood import MahalanobisDetector

if TYPE_CHECKING:
    from headkit.estimator import HeadClassifier
    from headkit.nn.network import HeadNet

OOD_FILE = "mahalanobis.safetensors"


def estimator_metadata(estimator: HeadClassifier) -> dict[str, Any]:
    """Return the JSON metadata saved in ``config.json`` for a fitted estimator."""
    return {
        "estimator": "HeadClassifier",
        "classes": estimator.classes_.tolist(),
        "classes_dtype": estimator.classes_.dtype.str,
        "feature_names": getattr(estimator, "feature_names_in_", np.array([])).tolist(),
        "training": estimator.training_config().to_dict(),
        "params": {"verbose": estimator.verbose},
        "seed": estimator.seed_,
        "calibration": getattr(estimator, "calibration_", {}),
        "n_iter": estimator.n_iter_,
        "best_epoch": estimator.best_epoch_,
    }


def fitted_files(estimator: HeadClassifier) -> dict[str, bytes]:
    """Return the extra files of a fitted estimator (the Mahalanobis statistics, when fitted)."""
    detector = getattr(estimator, "ood_detector_", None)
    return {} if detector is None else {OOD_FILE: detector.to_bytes()}


def restore_fitted(
    estimator: HeadClassifier, model: HeadNet, meta: dict[str, Any], path: Path
) -> None:
    """Set the fitted attributes of a loaded estimator from its network, metadata and files."""
    estimator.model_ = model
    estimator.classes_ = np.array(meta["classes"], dtype=np.dtype(meta.get("classes_dtype", "O")))
    estimator.n_features_in_ = model.config.n_features
    if meta.get("feature_names"):
        estimator.feature_names_in_ = np.array(meta["feature_names"], dtype=object)
    estimator.history_ = []
    estimator.n_iter_ = meta.get("n_iter", 0)
    estimator.best_epoch_ = meta.get("best_epoch")
    estimator.temperature_ = float(model.temperature)
    estimator.calibration_ = meta.get("calibration", {})
    estimator.ood_detector_ = MahalanobisDetector.load(path / OOD_FILE)


def saved_training(meta: dict[str, Any]) -> tuple[TrainingConfig, int, int]:
    """Return the training config, ``verbose`` and the fit's seed from saved metadata.

    Runs saved before these settings moved into the training config kept ``standardize``,
    ``calibrate`` and ``track_collapse`` under ``params``, and the derived seed as
    ``random_state``; both layouts load.
    """
    saved = dict(meta.get("training", {}))
    params = meta.get("params", {})
    for name in ("standardize", "calibrate", "track_collapse"):
        if name not in saved and name in params:
            saved[name] = params[name]
    training = TrainingConfig.from_dict(saved)
    seed = meta.get("seed", training.random_state)
    return training, int(params.get("verbose", 0)), int(seed or 0)
