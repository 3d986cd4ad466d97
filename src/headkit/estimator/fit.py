"""The steps of :meth:`headkit.HeadClassifier.fit` and friends behind the scikit-learn surface.

Input validation (arrays, sparse matrices, tables, sample and class weights, multi-label
targets), the validation split, label encoding, the observers and checkpoint of a fit, the
teacher's targets, the statistics fitted after training, and class-masked prediction. Each
function reads the estimator's parameters and *returns* what it finds; the estimator assigns
its fitted attributes itself (:meth:`headkit.HeadClassifier._set_fitted`).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
import torch

from headkit._validation import shown_names
from headkit.data.sparse import SparseRows, is_sparse
from headkit.estimator.inputs import (
    as_frame,
    check_targets,
    drop_zero_weight,
    row_weights,
    wants_table_preprocessing,
)
from headkit.evaluation.conformal_scores import ConformalScores
from headkit.evaluation.ood import MahalanobisDetector
from headkit.exceptions import ConfigError, DataError
from headkit.inference.forward import as_tensor, penultimate_features, predict_arrays
from headkit.nn.network import HeadNet
from headkit.training import Callback, Checkpointer, resolve_device
from headkit.training.calibration import calibrate_network
from headkit.training.checkpoint import fit_fingerprint
from headkit.training.memory import check_training_memory, explain_allocation_failure
from headkit.training.precision import MATMUL_DTYPES, block_macs, fused_kind, resolve_precision
from headkit.training.privacy import check_private_fit, privacy_attributes


class FitInput(NamedTuple):
    """What :func:`validate_fit` returns: the network's rows and the fitted attributes they fix."""

    X: Any
    y: np.ndarray
    weights: np.ndarray | None
    fitted: dict[str, Any]


def validate_fit(estimator: Any, X: Any, y: Any, sample_weight: Any) -> FitInput:
    """Validate (X, y, sample_weight) for ``estimator.fit``; return the network's (X, y, weights).

    ``fitted`` holds ``classes_``, ``multilabel_`` and ``preprocessor_`` (fitted on the rows when
    the table preprocessing applies; then also ``feature_names_in_`` and ``n_features_in_``,
    which scikit-learn's validation sets itself for arrays). Rows of weight 0 are dropped.
    """
    from sklearn.utils.validation import _check_sample_weight, check_consistent_length

    from headkit._validation import validate_features

    tabular = wants_table_preprocessing(estimator.tabular, X)
    fitted: dict[str, Any] = {"preprocessor_": None}
    if tabular:
        check_consistent_length(X, y)
        fitted["feature_names_in_"] = np.asarray([str(c) for c in X.columns], dtype=object)
        fitted["n_features_in_"] = X.shape[1]
    else:
        X, y = validate_features(estimator, X, y, accept_sparse="csr", multi_output=True)
        if not is_sparse(X):  # a frame's values are column-major; rows are what training slices
            X = np.ascontiguousarray(X)
    y, multilabel = check_targets(y, estimator.output)
    classes = np.arange(y.shape[1]) if multilabel else np.unique(y)
    fitted.update(classes_=classes, multilabel_=multilabel)
    if multilabel and (estimator.track_collapse or estimator.track_diagnostics):
        raise ConfigError(
            "track_collapse and track_diagnostics need single-label targets; "
            "turn them off for multi-label y."
        )
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
    y_index = None if multilabel else np.searchsorted(classes, y)
    weights = row_weights(sample_weight, estimator.class_weight, classes, y_index)
    X, y, weights = drop_zero_weight(X, y, weights)
    if tabular:
        from headkit.data.numeric import resolve_numeric
        from headkit.data.preprocessing import TablePreprocessor

        check_private_fit(estimator, tabular)
        numeric = resolve_numeric(estimator.numeric, len(X), len(classes))
        fitted["preprocessor_"] = TablePreprocessor(numeric=numeric).fit(X, weights)
        X = fitted["preprocessor_"].transform(X)
    return FitInput(X, y, weights, fitted)


def validate_partial_fit(
    est: Any, X: Any, y: Any, classes: Any, first: bool
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Validate a ``partial_fit`` call; return X, y and (on the first call) the fitted labels."""
    from sklearn.utils.multiclass import check_classification_targets

    from headkit._validation import validate_features

    if first:
        est._validate_params()
        check_private_fit(est, tabular=False, partial=True)
    elif getattr(est, "nested_width_", None) is not None:
        raise ConfigError(
            "partial_fit cannot continue a network that nested_budget cut to width "
            f"{est.nested_width_}; refit it with fit()."
        )
    elif getattr(est, "members_", 1) > 1:
        raise ConfigError(
            f"partial_fit cannot continue a network merged from {est.members_} members; refit "
            "it with fit(), or fit with members=1 to continue it."
        )
    elif getattr(est, "preprocessor_", None) is not None:
        raise ConfigError(
            "partial_fit cannot continue a model fitted on a table (text columns or gaps); "
            "refit it with fit() on all the rows."
        )
    X, y = validate_features(est, X, y, reset=first, continuous=False)
    check_classification_targets(y)
    if not first:
        return X, y, {}
    if classes is None:
        raise DataError("The first call to partial_fit needs `classes`, the list of every label.")
    labels = np.unique(np.asarray(classes))
    if len(labels) < 2:
        raise DataError("`classes` has fewer than two labels; a classifier needs at least two.")
    fitted = {"classes_": labels, "multilabel_": False, "preprocessor_": None}
    # partial_fit holds nothing out: no temperature, no epoch selection
    monitor = "val_accuracy" if est.monitor == "auto" else est.monitor
    patience = None if est.patience == "auto" else est.patience
    fitted.update(calibrate_=False, monitor_=monitor, patience_=patience)
    return X, y, {**fitted, "epochs_": est.resolved_params()["epochs"]}


def network_input(estimator: Any, X: Any) -> Any:
    """Rows a fitted estimator's network takes: the table preprocessing's output, or validated X."""
    from sklearn.utils.validation import check_is_fitted

    from headkit._validation import validate_features

    check_is_fitted(estimator)
    preprocessor = getattr(estimator, "preprocessor_", None)
    if preprocessor is not None:
        return preprocessor.transform(as_frame(X, estimator.feature_names_in_))
    return validate_features(estimator, X, reset=False, accept_sparse="csr")


def derive_seed(est: Any, saved: dict[str, Any] | None = None) -> int:
    """The seed of a fit, derived from ``random_state`` (a resumed fit reuses its own)."""
    from sklearn.utils.validation import check_random_state

    if saved is not None:
        return int(saved["seed"])
    return int(check_random_state(est.random_state).randint(0, 2**31 - 1))


def build_network(est: Any, X: Any, weights: np.ndarray | None) -> HeadNet:
    """Build the estimator's network for rows X, after a memory check; set its standardisation."""
    config = est.network_config(X.shape[1], len(est.classes_))
    check_training_memory(config, resolve_device(est.device))
    try:
        net = HeadNet(config)
    except (RuntimeError, MemoryError) as error:
        if "alloc" not in str(error).lower() and not isinstance(error, MemoryError):
            raise
        raise explain_allocation_failure(config, error) from None
    if est.standardize and getattr(est, "preprocessor_", None) is None:
        mean, scale = standardization(X, weights)
        net.set_standardization(torch.as_tensor(mean), torch.as_tensor(scale))
    net.matmul_dtype = MATMUL_DTYPES[getattr(est, "precision_", "float32")]
    return net


def fit_precision(est: Any, X: Any, weights: np.ndarray | None) -> str:
    """Return ``precision_`` of a fit on rows X (:func:`headkit.training.precision.resolve_precision`)."""
    from headkit.config import batch_rows

    config, params = est.network_config(X.shape[1], len(est.classes_)), est.resolved_params()
    macs = block_macs(batch_rows(params["batch_size"], X.shape[0]), X.shape[1], config.hidden_sizes)
    fused = fused_kind(config, params, weights is not None)
    return resolve_precision(est.precision, resolve_device(est.device), macs, fused)


def standardization(X: Any, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and scale (std, 1 where constant) of rows X (weighted, dense or sparse)."""
    from headkit.data.sparse import column_moments, is_sparse

    if weights is None and not is_sparse(X):
        mean, scale = X.mean(axis=0), X.std(axis=0)
    else:
        mean, scale = (m.astype(np.float32) for m in column_moments(X, weights))
    scale[scale < 1e-12] = 1.0
    return mean, scale


def training_rows(X: Any) -> torch.Tensor | SparseRows:
    """Training rows as a tensor, or sparse rows densified one batch at a time."""
    return SparseRows(X) if is_sparse(X) else as_tensor(X)


def encode_targets(est: Any, y: np.ndarray) -> torch.Tensor:
    """Class indices (N,) int64 of labels y, or the float indicator matrix of multi-label y."""
    if getattr(est, "multilabel_", False):
        return torch.as_tensor(np.asarray(y, dtype=np.float32))
    index = np.clip(np.searchsorted(est.classes_, y), 0, len(est.classes_) - 1)
    unseen = est.classes_[index] != y
    if unseen.any():
        raise DataError(
            f"Labels {shown_names(sorted(set(np.asarray(y)[unseen].tolist())))} were not among the classes "
            "seen in the first call; pass every class to partial_fit's `classes` argument."
        )
    return torch.as_tensor(index, dtype=torch.int64)


def trainer_rows(est: Any, rows: tuple) -> dict[str, Any]:
    """:meth:`Trainer.fit`'s data arguments from a fit's split rows.

    ``rows`` is ``(X_train, y_train, X_val, y_val, w_train, w_val)``; the weights may be None.
    """
    X_train, y_train, X_val, y_val, w_train, w_val = rows
    return {
        "X": training_rows(X_train),
        "y": encode_targets(est, y_train),
        "X_val": training_rows(X_val),
        "y_val": encode_targets(est, y_val),
        "sample_weight": None if w_train is None else torch.as_tensor(w_train),
        "val_weight": None if w_val is None else torch.as_tensor(w_val),
    }


def teacher_targets(est: Any, X: np.ndarray) -> torch.Tensor | None:
    """The teacher run's log-probabilities of the rows of ``X`` (None without a teacher)."""
    if est.teacher is None:
        return None
    if getattr(est, "preprocessor_", None) is not None or getattr(est, "multilabel_", False):
        raise ConfigError(
            "A teacher needs numeric features and single-label targets; it cannot follow "
            "the table preprocessing or multi-label y. Pass tabular=False with numeric X."
        )
    from headkit.estimator.teacher import teacher_log_probs

    return teacher_log_probs(est.teacher, X, est.classes_)


def checkpointer(est: Any, X: Any, y: np.ndarray, weights: Any) -> Checkpointer | None:
    """The checkpoint writer for ``checkpoint_dir`` (None without one)."""
    if est.checkpoint_dir is None:
        return None
    params = est.get_params()
    for name in ("verbose", "checkpoint_dir"):
        params.pop(name)
    arrays = (X.data, X.indices, X.indptr) if is_sparse(X) else (X,)
    extra = () if weights is None else (weights,)
    return Checkpointer(est.checkpoint_dir, fit_fingerprint(params, *arrays, y, *extra))


def observers(est: Any, X_train: Any, y_train: np.ndarray) -> list[Callback]:
    """Collapse and layer-diagnostics tracking (when asked) and the Softmax Collapse detector (softmax, dense)."""
    found: list[Callback] = []
    if est.track_collapse:
        from headkit.training.collapse_tracking import CollapseTracker

        found.append(CollapseTracker(X_train, encode_targets(est, y_train)))
    if est.track_diagnostics:
        from headkit.training.diagnostics_tracking import DiagnosticsTracker

        found.append(DiagnosticsTracker(X_train, encode_targets(est, y_train)))
    if est.output.split(":")[0].strip().lower() == "softmax" and not is_sparse(X_train):
        from headkit.training.softmax_collapse import SoftmaxCollapseDetector

        found.append(SoftmaxCollapseDetector(as_tensor(X_train), encode_targets(est, y_train)))
    return found


def fit_extras(est: Any, X_train: Any, y_train: Any, X_val: Any, y_val: Any) -> dict[str, Any]:
    """Mahalanobis statistics of the training split; the temperature, if asked.

    Returns the fitted ``model_`` (cut to ``nested_width_`` when ``nested_budget`` is set, see
    :func:`nested_truncation`), ``ood_detector_``, ``calibration_`` and ``conformal_``. All run at the
    fit's thread count, NumPy's BLAS included: OpenBLAS's own two threads on a busy two-core
    machine took 0.3–2.3 s for the 256 × 256 pseudo-inverse that one thread does in
    0.03–0.08 s.
    """
    from threadpoolctl import threadpool_limits

    from headkit.threads import intra_op_threads

    threads = est.threads_ or 1
    with threadpool_limits(limits=threads, user_api="blas"), intra_op_threads(threads):
        return _fit_extras(est, X_train, y_train, X_val, y_val, threads)


def _fit_extras(
    est: Any, X_train: Any, y_train: Any, X_val: Any, y_val: Any, threads: int
) -> dict[str, Any]:
    model, nested = nested_truncation(est, X_val, y_val)
    detector = None
    if not est.multilabel_ and est.privacy == "none":  # class means would leak the rows past ε
        detector = MahalanobisDetector().fit(
            penultimate_features(model, X_train, threads),
            encode_targets(est, y_train).numpy(),
        )
    calibration: dict[str, float] = {}
    if est.calibrate_ and len(y_val) == 0:
        if est.validation_fraction is not None:  # automatic: too few rows to hold any out
            warnings.warn(
                "calibrate=True needs a validation split; set validation_fraction > 0, or "
                "calibrate=False (the temperature stays 1).",
                stacklevel=3,
            )
    elif est.calibrate_ and not est.multilabel_:  # one temperature fits softmax-like outputs
        calibration = calibrate_network(model, X_val, encode_targets(est, y_val).numpy())
    return {"model_": model, "ood_detector_": detector, "calibration_": calibration,
            "conformal_": conformal_scores(est, model, X_val, y_val), **nested,
            **privacy_attributes(est._trainer)}  # fmt: skip


def conformal_scores(est: Any, model: HeadNet, X_val: Any, y_val: Any) -> ConformalScores | None:
    """The held-out rows' conformal scores with the final (calibrated) probabilities, or None.

    The same rows chose the epoch and the temperature, so the sets' coverage guarantee holds only
    approximately (one scalar and one epoch fitted on them); ``benchmarks/tabular_suite.py``
    measures it on test rows.
    """
    if est.multilabel_ or len(y_val) == 0:
        return None
    rows = X_val.toarray() if is_sparse(X_val) else X_val
    proba = predict_arrays(model, rows).proba.numpy()
    return ConformalScores.fit(proba, encode_targets(est, y_val).numpy(), rows)


def prediction_sets(est: Any, X: Any, alpha: float, method: str) -> np.ndarray:
    """The conformal sets of :meth:`HeadClassifier.predict_set` (u hashed from the input rows)."""
    from headkit.exceptions import NotFittedError

    if getattr(est, "conformal_", None) is None:
        raise NotFittedError(
            "predict_set needs the conformal scores of a held-out split; fit with "
            "validation_fraction > 0 (not partial_fit) and single-label y."
        )
    rows = est.network_input(X)
    proba = predict_arrays(est.model_, rows, threads=est.threads).proba.numpy()
    return est.conformal_.sets(proba, rows, alpha, method)


def nested_truncation(est: Any, X_val: Any, y_val: Any) -> tuple[HeadNet, dict[str, Any]]:
    """Cut a nested-dropout network to the width ``nested_budget`` allows (B5).

    Returns the network to keep and the fitted ``nested_width_`` and ``nested_curve_``
    (validation accuracy at each width); both None without ``nested_budget``.
    """
    from headkit.evaluation.nested import choose_width, width_curve
    from headkit.registry import Spec

    budget = getattr(est, "nested_budget", None)
    if budget is None:
        return est.model_, {"nested_width_": None, "nested_curve_": None}
    if Spec.parse(str(est.dropout)).name != "nested" or not est.model_.config.hidden_sizes:
        raise ConfigError(
            "nested_budget cuts a network trained with dropout='nested' and at least one hidden "
            f"layer; got dropout={est.dropout!r}. Set dropout='nested' or nested_budget=None."
        )
    if len(y_val) == 0 or est.multilabel_:
        warnings.warn(
            "nested_budget needs a single-label validation split; the full width is kept.",
            stacklevel=4,
        )
        return est.model_, {"nested_width_": None, "nested_curve_": None}
    rows = X_val.toarray() if hasattr(X_val, "toarray") else X_val
    curve = width_curve(est.model_, rows, encode_targets(est, y_val).numpy())
    width = choose_width(curve["widths"], curve["accuracy"], budget)
    kept = curve_dict(curve)
    return est.model_.truncate(width), {"nested_width_": width, "nested_curve_": kept}


def curve_dict(curve: dict[str, Any]) -> dict[str, list]:
    """A width curve as JSON-ready lists."""
    return {"widths": [int(k) for k in curve["widths"]],
            "accuracy": [float(a) for a in curve["accuracy"]]}  # fmt: skip


def masked_proba(est: Any, X: Any, class_mask: Any) -> np.ndarray:
    """Probabilities with the classes outside ``class_mask`` at exactly 0 (logit masking)."""
    from headkit.nn.masking import masked_probabilities

    logits = est.logits(X)
    mask = torch.as_tensor(np.asarray(class_mask, dtype=bool))
    if mask.shape not in ((len(est.classes_),), tuple(logits.shape)):
        raise DataError(
            f"class_mask must have shape ({len(logits)}, {len(est.classes_)}) or "
            f"({len(est.classes_)},), one column per class in classes_; got "
            f"{tuple(mask.shape)}."
        )
    device = est.model_.temperature.device
    with torch.no_grad():
        scaled = torch.as_tensor(logits).to(device) / est.model_.temperature
        proba = masked_probabilities(est.model_.output, scaled, mask.to(device))
    return proba.double().cpu().numpy()
