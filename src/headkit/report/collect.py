"""Gather everything the report shows from a fitted estimator and data, as plain arrays.

No plotting here: :func:`collect` runs the model once over the data and calls
:mod:`headkit.evaluation`; :mod:`headkit.report.html` turns the result into pictures and tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from headkit.evaluation import (
    BLOCK_CRITERIA,
    block_importance,
    cka_matrix,
    classification_report,
    confusion_matrix,
    expected_calibration_error,
    logit_score,
    misclassification_metrics,
    ood_metrics,
    reliability_curve,
)
from headkit.evaluation.layer_diagnostics import LayerDiagnostics, layer_diagnostics
from headkit.evaluation.reliability import ReliabilityCurve
from headkit.inference.forward import device_of
from headkit.nn.network import HeadNet
from headkit.training.calibration import fit_network_temperature

SCORES = ("msp", "max_logit", "energy", "mahalanobis")


@dataclass
class ReportInputs:
    """Everything one report page shows (each part optional)."""

    title: str
    history: dict[str, np.ndarray] | None = None
    class_names: list[str] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    confusion: np.ndarray | None = None
    confidence: np.ndarray | None = None
    correct: np.ndarray | None = None
    reliability: dict[str, ReliabilityCurve] = field(default_factory=dict)
    eces: dict[str, float] = field(default_factory=dict)
    temperature: float = 1.0
    calibration_note: str = ""
    misclassification: dict[str, dict[str, float]] = field(default_factory=dict)
    ood_in: dict[str, np.ndarray] = field(default_factory=dict)
    ood_out: dict[str, np.ndarray] = field(default_factory=dict)
    ood: dict[str, dict[str, float]] = field(default_factory=dict)
    ood_name: str = ""
    data_name: str = ""
    cka: np.ndarray | None = None
    layer_names: list[str] = field(default_factory=list)
    redundancy: np.ndarray | None = None
    block_scores: dict[str, np.ndarray] = field(default_factory=dict)
    block_names: list[str] = field(default_factory=list)
    dropped: list[tuple[str, float]] = field(default_factory=list)
    diagnostics: LayerDiagnostics | None = None
    feature_ranking: Any = None
    nested_curve: dict[str, Any] | None = None
    nested_width: int | None = None
    notes: list[str] = field(default_factory=list)


def history_columns(history: Any) -> dict[str, np.ndarray] | None:
    """Turn a history (list of dicts, DataFrame or dict of columns) into numeric columns."""
    import pandas as pd

    if history is None:
        return None
    frame = pd.DataFrame(history)
    if frame.empty or "epoch" not in frame:
        return None
    return {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(float) for c in frame.columns}


def _outputs(estimator: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) in float64 and probabilities (N, C) of ``X``, from one forward pass.

    The same arrays as ``estimator.logits(X)`` and ``estimator.predict_proba(X)``.
    """
    prediction = estimator._predict(X)
    return prediction.logits.numpy().astype(np.float64), prediction.proba.numpy()


def _scores(estimator: Any, X: Any, logits: np.ndarray, proba: np.ndarray) -> dict[str, np.ndarray]:
    out = {
        "msp": proba.max(axis=1),
        "max_logit": logit_score(logits, "max_logit"),
        "energy": logit_score(logits, "energy"),
    }
    if getattr(estimator, "ood_detector_", None) is not None:
        out["mahalanobis"] = estimator.ood_score(X, "mahalanobis")
    return out


def _like_fit(estimator: Any, X: Any) -> Any:
    """Give X the column names the estimator was fitted with (no feature-name warnings)."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and not hasattr(X, "columns"):
        import pandas as pd

        return pd.DataFrame(np.asarray(X, dtype=np.float32), columns=list(names))
    if names is None and hasattr(X, "columns"):
        return np.asarray(X, dtype=np.float32)
    return X if hasattr(X, "columns") else np.asarray(X, dtype=np.float32)


def _probabilities(net: HeadNet, logits: np.ndarray, temperature: float) -> np.ndarray:
    with torch.no_grad():
        z = torch.as_tensor(logits, dtype=torch.float32).to(device_of(net))
        return net.probabilities(z, temperature).double().cpu().numpy()


def network_note(config: Any) -> str:
    """One line naming the network's shape and its depth/width ratio Σ 1/n (see config)."""
    from headkit.config import depth_width_ratio

    widths = " → ".join(str(w) for w in config.hidden_sizes) or "no hidden layer"
    return (
        f"Network: {config.n_features} inputs → {widths} → {config.n_classes} classes, "
        f"activation {config.activation}, init {config.init}; depth/width ratio Σ 1/n = "
        f"{depth_width_ratio(config.hidden_sizes):.4f} (Roberts, Yaida & Hanin: the size of the "
        "finite-width corrections; 0 for a linear model)."
    )


def collect(
    estimator: Any,
    X: Any = None,
    y: Any = None,
    X_ood: Any = None,
    *,
    history: Any = None,
    title: str = "headkit report",
    data_name: str = "",
    ood_name: str = "",
    max_cka_samples: int = 2000,
    seed: int = 0,
) -> ReportInputs:
    """Compute the report's measures for a fitted :class:`headkit.HeadClassifier`.

    Parameters
    ----------
    estimator : HeadClassifier
        Fitted (or loaded) estimator.
    X, y : array-like, optional
        Labelled evaluation data (rows with labels the model never saw are left out).
    X_ood : array-like, optional
        Out-of-distribution rows; adds OOD histograms, ROC curves and the metric table.
    history : list of dict or DataFrame, optional
        Per-epoch history (``history.csv``); NC columns give the collapse curves.
    """
    inputs = ReportInputs(title=title, history=history_columns(history), data_name=data_name,
                          ood_name=ood_name)  # fmt: skip
    classes = estimator.classes_
    inputs.class_names = [str(c) for c in classes]
    inputs.temperature = float(estimator.model_.temperature)
    inputs.notes.append(network_note(estimator.model_.config))
    if getattr(estimator, "input_gates_", None) is not None:  # input_gates: the kept columns
        from headkit.estimator.structure import kept_summary

        inputs.notes.append(kept_summary(estimator.input_gates_, shown=40) + ".")
    inputs.nested_curve = getattr(estimator, "nested_curve_", None)
    inputs.nested_width = getattr(estimator, "nested_width_", None)
    if X is None or y is None:
        inputs.notes.append("No evaluation data was given: only the training curves are shown.")
        return inputs
    X = _like_fit(estimator, X)
    y = np.asarray(y)
    known = np.isin(y, classes)
    if not known.all():
        inputs.notes.append(
            f"{int((~known).sum())} rows with labels the model never saw are left out."
        )
        X, y = (X.iloc[np.flatnonzero(known)] if hasattr(X, "iloc") else X[known]), y[known]
    target = np.searchsorted(classes, y)
    logits, proba = _outputs(estimator, X)

    inputs.metrics = classification_report(target, proba, inputs.class_names)
    inputs.confusion = confusion_matrix(target, proba, n_classes=len(classes))
    inputs.confidence = proba.max(axis=1)
    inputs.correct = proba.argmax(axis=1) == target

    _reliability(inputs, estimator.model_, logits, target, seed)
    scores_in = _scores(estimator, X, logits, proba)
    for name, s in scores_in.items():
        inputs.misclassification[name] = misclassification_metrics(target, proba, s)
    if X_ood is not None:
        X_ood = _like_fit(estimator, X_ood)
        scores_out = _scores(estimator, X_ood, *_outputs(estimator, X_ood))
        inputs.ood_in, inputs.ood_out = scores_in, scores_out
        inputs.ood = {name: ood_metrics(scores_in[name], scores_out[name]) for name in scores_in}

    _layers(inputs, estimator, X, target, max_cka_samples, seed)
    inputs.feature_ranking = _ranking(estimator, X, y, max_cka_samples, seed)
    return inputs


def _ranking(estimator: Any, X: Any, y: np.ndarray, max_rows: int, seed: int) -> Any:
    """Permutation importance and normalised MI of the raw columns, on at most ``max_rows`` rows."""
    from headkit.evaluation.importance import feature_ranking

    if len(y) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), max_rows, replace=False))
        X, y = (X.iloc[keep] if hasattr(X, "iloc") else X[keep]), y[keep]
    return feature_ranking(estimator, X, y, n_repeats=3, seed=seed)


def _reliability(
    inputs: ReportInputs, net: HeadNet, logits: np.ndarray, target: np.ndarray, seed: int
) -> None:
    """Reliability diagrams and ECE before/after temperature scaling.

    T is the stored one, or, when the model has none, one fitted here on half of the rows.
    """
    if abs(inputs.temperature - 1.0) > 1e-9:
        t, rows = inputs.temperature, np.arange(len(target))
        inputs.calibration_note = (
            f"T = {t:.3f} was fitted on the validation split during training; both diagrams use "
            f"all {len(rows)} evaluation rows."
        )
    else:
        order = np.random.default_rng(seed).permutation(len(target))
        fit_rows, rows = order[: len(order) // 2], order[len(order) // 2 :]
        t = (
            fit_network_temperature(net, logits[fit_rows], target[fit_rows])
            if len(fit_rows)
            else 1.0
        )
        inputs.calibration_note = (
            f"The model stores no temperature (trained without calibrate), so T = {t:.3f} was "
            f"fitted here on a random half of the evaluation rows ({len(fit_rows)}); both "
            f"diagrams use the other half ({len(rows)})."
        )
    before = _probabilities(net, logits[rows], 1.0)
    after = _probabilities(net, logits[rows], t)
    for label, p in (("before (T = 1)", before), (f"after (T = {t:.2f})", after)):
        inputs.reliability[label] = reliability_curve(target[rows], p)
        inputs.eces[label] = expected_calibration_error(target[rows], p)


def _layers(
    inputs: ReportInputs, estimator: Any, X: Any, target: np.ndarray, max_samples: int, seed: int
) -> None:
    """Layer similarity (CKA), block redundancy, diagnostics and accuracy with blocks dropped."""
    net = estimator.model_
    X = estimator.network_input(X)  # the network's own input (after any table preprocessing)
    sample = np.random.default_rng(seed).permutation(len(X))[:max_samples]
    xs = torch.as_tensor(np.asarray(X, dtype=np.float32)[sample]).to(device_of(net))
    net.eval()
    with torch.no_grad():
        acts = net.layer_outputs(xs, include_input=True)
        reps = [*acts, net(xs)]
        inputs.redundancy = net.block_redundancy(xs).cpu().double().numpy()
    inputs.block_scores = {k: block_importance(net, xs.cpu(), k) for k in BLOCK_CRITERIA}
    inputs.layer_names = ["input", *[f"block {i + 1}" for i in range(len(acts) - 1)], "logits"]
    inputs.block_names = [f"block {i + 1}" for i in range(len(acts) - 1)]
    inputs.cka = cka_matrix([r.cpu().double() for r in reps])
    inputs.dropped = _accuracy_with_blocks_dropped(net, X, target, inputs.redundancy)
    inputs.diagnostics = layer_diagnostics(net, xs.cpu().numpy(), target[sample], seed)


def _accuracy_with_blocks_dropped(
    net: Any, X: Any, target: np.ndarray, redundancy: np.ndarray
) -> list[tuple[str, float]]:
    """Accuracy after removing 0, 1, 2, … same-width blocks, lowest 1 − cos first."""
    order = [int(i) for i in np.argsort(redundancy) if np.isfinite(redundancy[i])]
    xs = torch.as_tensor(np.array(X, dtype=np.float32)).to(device_of(net))
    rows = []
    for k in range(len(order) + 1):
        dropped = sorted(order[:k])
        smaller = net.drop_blocks(dropped) if dropped else net
        smaller.eval()
        with torch.no_grad():
            pred = smaller.predict_proba(xs).argmax(dim=-1).cpu().numpy()
        label = ", ".join(f"block {i + 1}" for i in dropped) or "none"
        rows.append((label, float(np.mean(pred == target))))
    return rows
