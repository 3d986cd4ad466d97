"""What a fitted :class:`headkit.HeadClassifier` saves beside its network, and how it comes back.

The network itself goes through :mod:`headkit.io`; this module assembles the estimator's
metadata (labels, feature names, the training settings as given, the fit's seed, calibration,
epochs) and the Mahalanobis statistics file, and rebuilds the fitted attributes on load. Runs
saved by the previous layout (settings under ``params``, the derived seed as ``random_state``)
load too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from headkit.config import TrainingConfig
from headkit.evaluation.ood import MahalanobisDetector
from headkit.exceptions import ModelFileError

if TYPE_CHECKING:
    from headkit.estimator.classifier import HeadClassifier
    from headkit.nn.network import HeadNet

OOD_FILE = "mahalanobis.safetensors"
PREPROCESSING_FILE = "preprocessing.json"


def estimator_metadata(estimator: HeadClassifier) -> dict[str, Any]:
    """Return the JSON metadata saved in ``config.json`` for a fitted estimator."""
    return {
        "estimator": "HeadClassifier",
        "classes": estimator.classes_.tolist(),
        "classes_dtype": estimator.classes_.dtype.str,
        "feature_names": getattr(estimator, "feature_names_in_", np.array([])).tolist(),
        "training": estimator.training_config(resolved=False).to_dict(),
        "network_params": _network_params(estimator),
        "params": {"verbose": estimator.verbose},
        "seed": estimator.seed_,
        "calibration": getattr(estimator, "calibration_", {}),
        "n_iter": estimator.n_iter_,
        "best_epoch": estimator.best_epoch_,
        "preset": getattr(estimator, "preset_", None),
        "multilabel": bool(getattr(estimator, "multilabel_", False)),
        "threads": getattr(estimator, "threads_", None),
    }


def _network_params(estimator: HeadClassifier) -> dict[str, Any] | None:
    """The network settings as given, when a preset makes them differ from the saved network."""
    if estimator.preset is None and getattr(estimator, "preset_", None) is None:
        return None
    from headkit.estimator.params import NETWORK_SETTINGS

    return {name: getattr(estimator, name) for name in NETWORK_SETTINGS}


def given_network_params(meta: dict[str, Any]) -> dict[str, Any]:
    """The network settings as the user gave them, where a preset run saved them (else {})."""
    given = dict(meta.get("network_params") or {})
    if "hidden_sizes" in given:
        given["hidden_sizes"] = tuple(given["hidden_sizes"])
    return given


def fitted_files(estimator: HeadClassifier) -> dict[str, bytes | str]:
    """Return the extra files of a fitted estimator: Mahalanobis statistics, table preprocessing."""
    files: dict[str, bytes | str] = {}
    if getattr(estimator, "ood_detector_", None) is not None:
        files[OOD_FILE] = estimator.ood_detector_.to_bytes()
    if getattr(estimator, "preprocessor_", None) is not None:
        files[PREPROCESSING_FILE] = json.dumps(estimator.preprocessor_.to_dict(), indent=1)
    return files


def _preprocessor_from_file(path: Path) -> Any:
    """Rebuild the table preprocessing saved beside a model, or None when there is none."""
    if not path.is_file():
        return None
    from headkit.data.preprocessing import TablePreprocessor

    try:
        return TablePreprocessor.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ModelFileError(f"{path} is corrupt ({error}); retrain the model.") from None


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
    estimator.preset_ = meta.get("preset", estimator.preset)
    estimator.temperature_ = float(model.temperature)
    estimator.calibration_ = meta.get("calibration", {})
    estimator.ood_detector_ = MahalanobisDetector.load(path / OOD_FILE)
    estimator.multilabel_ = bool(meta.get("multilabel", False))
    estimator.threads_ = meta.get("threads")
    estimator.preprocessor_ = _preprocessor_from_file(path / PREPROCESSING_FILE)
    if estimator.preprocessor_ is not None:
        estimator.n_features_in_ = len(estimator.preprocessor_.feature_names)
    if isinstance(estimator.class_weight, dict):  # JSON keys are text; match the labels
        saved = estimator.class_weight
        estimator.class_weight = {c: saved[str(c)] for c in meta["classes"] if str(c) in saved}


def saved_training(meta: dict[str, Any]) -> tuple[TrainingConfig, int, int]:
    """Return the training config, ``verbose`` and the fit's seed from saved metadata.

    Runs saved before these settings moved into the training config kept ``standardize``,
    ``calibrate`` and ``track_collapse`` under ``params``, and the derived seed as
    ``random_state``; both layouts load.
    """
    saved = dict(meta.get("training", {}))
    params = meta.get("params", {})
    legacy = ("standardize", "calibrate", "track_collapse", "track_diagnostics", "class_weight")
    for name in (*legacy, "tabular"):
        if name not in saved and name in params:
            saved[name] = params[name]
    training = TrainingConfig.from_dict(saved)
    seed = meta.get("seed", training.random_state)
    return training, int(params.get("verbose", 0)), int(seed or 0)
