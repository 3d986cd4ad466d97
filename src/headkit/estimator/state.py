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

from headkit import io
from headkit.config import PLAIN_AUTO, TrainingConfig
from headkit.estimator.presets import DATA_AUTO
from headkit.evaluation.conformal_scores import ConformalScores
from headkit.evaluation.ood import MahalanobisDetector
from headkit.exceptions import ModelFileError
from headkit.training.precision import MATMUL_DTYPES

if TYPE_CHECKING:
    from headkit.estimator.classifier import HeadClassifier
    from headkit.nn.network import HeadNet

PLUMBING = {"checkpoint_dir": None}  # where a fit checkpoints: valid for that fit only


def estimator_metadata(estimator: HeadClassifier) -> dict[str, Any]:
    """Return the JSON metadata saved in ``config.json`` for a fitted estimator."""
    return {
        "estimator": "HeadClassifier",
        "classes": estimator.classes_.tolist(),
        "classes_dtype": estimator.classes_.dtype.str,
        "feature_names": getattr(estimator, "feature_names_in_", np.array([])).tolist(),
        # run-time plumbing is not a setting of the model: no checkpoint path, no verbose
        "training": {**estimator.training_config(resolved=False).to_dict(), **PLUMBING},
        "network_params": _network_params(estimator),
        "seed": estimator.seed_,
        "calibration": getattr(estimator, "calibration_", {}),
        "n_iter": estimator.n_iter_,
        "best_epoch": estimator.best_epoch_,
        "preset": getattr(estimator, "preset_", None),
        # the values the fit used for the settings whose "auto" follows the data
        "resolved": {
            n: getattr(estimator, f"{n}_") for n in DATA_AUTO if hasattr(estimator, f"{n}_")
        },
        "multilabel": bool(getattr(estimator, "multilabel_", False)),
        "threads": getattr(estimator, "threads_", None),
        "privacy": getattr(estimator, "privacy_", None),  # ε, δ, σ, C, q, steps of DP-SGD
        "nested": {
            "width": getattr(estimator, "nested_width_", None),
            "curve": getattr(estimator, "nested_curve_", None),
        },
    }


def _network_params(estimator: HeadClassifier) -> dict[str, Any]:
    """The network settings as given (``"auto"`` included): the saved network holds them resolved."""
    from headkit.estimator.params import NETWORK_SETTINGS

    return {name: getattr(estimator, name) for name in NETWORK_SETTINGS}


def given_network_params(meta: dict[str, Any]) -> dict[str, Any]:
    """The network settings as the user gave them, where the run saved them (else {})."""
    given = dict(meta.get("network_params") or {})
    if isinstance(given.get("hidden_sizes"), list):  # JSON gives a list; "auto" stays
        given["hidden_sizes"] = tuple(given["hidden_sizes"])
    return given


def fitted_files(estimator: HeadClassifier) -> dict[str, bytes | str]:
    """Return the extra files of a fitted estimator: OOD statistics, table preprocessing, conformal scores."""
    files: dict[str, bytes | str] = {}
    if getattr(estimator, "ood_detector_", None) is not None:
        files[io.OOD_STATISTICS] = estimator.ood_detector_.to_bytes()
    if getattr(estimator, "preprocessor_", None) is not None:
        files[io.PREPROCESSING] = json.dumps(estimator.preprocessor_.to_dict(), indent=1)
    if getattr(estimator, "conformal_", None) is not None:
        files[io.CONFORMAL] = estimator.conformal_.to_bytes()
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


def restored_attributes(model: HeadNet, meta: dict[str, Any], path: Path) -> dict[str, Any]:
    """Return the fitted attributes of a loaded estimator from its network, metadata and files."""
    preprocessor = _preprocessor_from_file(path / io.PREPROCESSING)
    fitted: dict[str, Any] = {
        "model_": model,
        "classes_": np.array(meta["classes"], dtype=np.dtype(meta.get("classes_dtype", "O"))),
        "n_features_in_": model.config.n_features,
        "history_": [],
        "n_iter_": meta.get("n_iter", 0),
        "best_epoch_": meta.get("best_epoch"),
        "calibration_": meta.get("calibration", {}),
        "ood_detector_": MahalanobisDetector.load(path / io.OOD_STATISTICS),
        "conformal_": ConformalScores.load(path / io.CONFORMAL),
        "multilabel_": bool(meta.get("multilabel", False)),
        "threads_": meta.get("threads"),
        "privacy_": meta.get("privacy"),
        "epsilon_": (meta.get("privacy") or {}).get("epsilon"),
        "preset_": meta.get("preset"),
        "precision_": (meta.get("resolved") or {}).get("precision", "float32"),  # older: float32
        "preprocessor_": preprocessor,
        "nested_width_": (meta.get("nested") or {}).get("width"),
        "nested_curve_": (meta.get("nested") or {}).get("curve"),
    }
    if meta.get("feature_names"):
        fitted["feature_names_in_"] = np.array(meta["feature_names"], dtype=object)
    if preprocessor is not None:
        fitted["n_features_in_"] = len(preprocessor.feature_names)
    return fitted


def saved_class_weight(class_weight: Any, meta: dict[str, Any]) -> Any:
    """A saved ``class_weight`` dict keyed by the labels again (JSON keys are text)."""
    if not isinstance(class_weight, dict):
        return class_weight
    return {c: class_weight[str(c)] for c in meta["classes"] if str(c) in class_weight}


def saved_training(meta: dict[str, Any]) -> tuple[TrainingConfig, int, int]:
    """Return the training config, ``verbose`` and the fit's seed from saved metadata.

    Run-time plumbing does not come back: ``checkpoint_dir`` is None (also in ``meta``, which
    ``headkit serve``'s ``/metadata`` shows) and ``verbose`` 0, whatever an older run saved.

    Runs saved before these settings moved into the training config kept ``standardize``,
    ``calibrate`` and ``track_collapse`` under ``params``, and the derived seed as
    ``random_state``; both layouts load.
    """
    if isinstance(meta.get("training"), dict):  # runs saved with their plumbing (issue 25)
        meta["training"].update(PLUMBING)
    saved = dict(meta.get("training", {}))
    params = meta.get("params", {})
    legacy = ("standardize", "calibrate", "track_collapse", "track_diagnostics", "class_weight")
    for name in (*legacy, "tabular"):
        if name not in saved and name in params:
            saved[name] = params[name]
    training = TrainingConfig.from_dict(saved)
    seed = meta.get("seed", training.random_state)
    return training, 0, int(seed or 0)  # verbose: a loaded model is quiet until asked


def _data_auto(estimator: HeadClassifier, meta: dict[str, Any]) -> dict[str, Any]:
    """The values a saved fit used for the settings whose ``"auto"`` follows the data.

    Runs saved before those settings had ``"auto"`` hold them as set; one missing from their
    config (read back as ``"auto"``) gets the default it had then.
    """
    if "resolved" in meta:
        return {name: meta["resolved"][name] for name in DATA_AUTO if name in meta["resolved"]}
    values = {name: getattr(estimator, name) for name in PLAIN_AUTO}
    return {name: PLAIN_AUTO[name] if value == "auto" else value for name, value in values.items()}


def load_estimator(cls: type[HeadClassifier], path: str | Path, device: str) -> HeadClassifier:
    """Rebuild a fitted estimator from a saved directory (:meth:`HeadClassifier.load`)."""
    from headkit.training import Trainer

    model = io.load(path, device=device)
    meta = model.metadata
    if meta.get("estimator") != "HeadClassifier":
        raise ModelFileError(
            f"{path} holds a bare network, not a HeadClassifier; use headkit.load."
        )
    training, verbose, seed = saved_training(meta)
    given = given_network_params(meta)
    estimator = cls.from_configs(model.config, training, verbose=verbose, **given)
    estimator.class_weight = saved_class_weight(estimator.class_weight, meta)
    estimator._set_fitted(**restored_attributes(model, meta, Path(path)), seed_=seed)
    if estimator.preset_ is None:  # runs saved before preset_ existed
        estimator._set_fitted(preset_=estimator.preset)
    estimator._set_fitted(
        **{f"{name}_": value for name, value in _data_auto(estimator, meta).items()}
    )
    model.matmul_dtype = MATMUL_DTYPES[estimator.precision_]  # partial_fit continues alike
    training = estimator.training_config().replace(device=device)
    estimator._trainer = Trainer(model, training, model.config.n_classes)
    return estimator
