"""Per-layer diagnostics of a :class:`headkit.nn.HeadNet`: gradients, spectra, probes.

- **Gradients and saturation** (layer-wise gradient diagnostics): the mean per-sample norm of the
  loss gradient w.r.t. each layer's output ``‖∂ℓ/∂h_l‖`` (for the logits under softmax
  cross-entropy this is ``‖p − y‖``, which → 0 as predictions saturate), the norm of each weight
  gradient ``‖∂L/∂W_l‖`` of the mean loss, and the mean output entropy.
- **Spectra** (softmax-bottleneck check): singular values and effective rank of the centred
  penultimate features and of the head's weight; flag d < K.
- **Layer quality** ("Layer by Layer"): linear-probe and kNN accuracy and matrix entropy of every
  Dense block's output.

All run in eval mode without drawing random numbers, so calling them during training (see
:class:`DiagnosticsTracker`) does not change the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from headkit.evaluation._arrays import to_numpy
from headkit.evaluation.inflection import inflection_layers, normalised_entropy
from headkit.evaluation.representation import (
    anisotropy,
    effective_rank,
    matrix_entropy,
    mean_cosine,
    output_entropy,
    probe_accuracy,
    singular_values,
    softmax_bottleneck,
)


@contextlib.contextmanager
def _eval(net: nn.Module) -> Iterator[None]:
    """Eval mode inside, the caller's mode restored after."""
    was_training = net.training
    net.eval()
    try:
        yield
    finally:
        net.train(was_training)


def _as_tensor(x: Any, net: nn.Module) -> torch.Tensor:
    buffer = next(net.buffers())
    return torch.as_tensor(np.asarray(to_numpy(x), np.float32)).to(buffer.device, buffer.dtype)


def layer_names(net: nn.Module) -> list[str]:
    """``["input", "block 1", …]``: the representations :func:`layer_quality` measures."""
    return ["input", *[f"block {i + 1}" for i in range(len(net.trunk.blocks))]]


def gradient_norms(net: nn.Module, X: Any, y: Any) -> dict[str, Any]:
    """Softmax cross-entropy gradient norms per layer, in eval mode (weights untouched).

    Parameters
    ----------
    net : HeadNet
    X : array-like, shape (N, F)
        Raw features.
    y : array-like, shape (N,)
        Class indices.

    Returns
    -------
    dict
        ``layers`` (names: the Dense blocks, then ``"logits"``), ``activation`` (mean over rows
        of ``‖∂ℓ_i/∂h_{l,i}‖`` per layer), ``weight_layers`` and ``weight`` (``‖∂L/∂W‖_F`` of
        the mean loss for every block's Linear and the head's weight), ``output_entropy`` and
        ``max_entropy`` (log K, its value for uniform outputs).
    """
    x = _as_tensor(X, net).requires_grad_(True)
    target = torch.as_tensor(np.asarray(y), dtype=torch.int64, device=x.device)
    with _eval(net), torch.enable_grad():
        acts = net.layer_outputs(x)
        feats = acts[-1] if acts else net.features(x)
        logits = net.head(feats)
        per_row = torch.nn.functional.cross_entropy(logits, target, reduction="none")
        named = [(f"block {i + 1}", b.linear.weight) for i, b in enumerate(net.trunk.blocks)]
        head_weight = getattr(net.head, "weight", None)
        if isinstance(head_weight, torch.Tensor) and head_weight.requires_grad:
            named.append(("head", head_weight))
        outputs = [*acts, logits]
        wanted = outputs + [w for _, w in named]
        # heads without a gradient path (knn votes) have a locally constant loss: zero gradients
        grads = (
            torch.autograd.grad(per_row.sum(), wanted, allow_unused=True)
            if per_row.requires_grad
            else [None] * len(wanted)
        )
        grads = [
            torch.zeros_like(t) if g is None else g for g, t in zip(grads, wanted, strict=True)
        ]
    act_grads = grads[: len(outputs)]
    n = max(len(x), 1)
    names = [*(f"block {i + 1}" for i in range(len(acts))), "logits"]
    activation = np.array([float(g.norm(dim=-1).mean()) for g in act_grads])
    entropies = [normalised_entropy(h) for h in outputs]
    return {
        "layers": names,
        "activation": activation,
        "layer_entropy": np.array(entropies),
        "inflection": inflection_layers(names, activation, entropies),
        "weight_layers": [name for name, _ in named],
        "weight": np.array([float(g.norm()) / n for g in grads[len(outputs) :]]),
        "output_entropy": output_entropy(logits.detach().double()),
        "max_entropy": float(np.log(logits.shape[-1])),
    }


def spectra(net: nn.Module, X: Any) -> dict[str, Any]:
    """Singular values, effective ranks and anisotropy of the penultimate features and the head.

    Returns
    -------
    dict
        ``feature_singular_values`` (centred features), ``feature_effective_rank``,
        ``feature_anisotropy``, ``head_singular_values`` and ``head_effective_rank`` (absent when
        the head has no weight matrix), ``width`` d, ``n_classes`` K and ``bottleneck`` (d < K).
    """
    with _eval(net), torch.no_grad():
        feats = net.features(_as_tensor(X, net)).double().cpu().numpy()
    out: dict[str, Any] = {
        "feature_singular_values": singular_values(feats),
        "feature_effective_rank": effective_rank(feats),
        "feature_anisotropy": anisotropy(feats),
        "width": feats.shape[1],
        "n_classes": int(net.config.n_classes),
    }
    weight = getattr(net.head, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dim() == 2:
        w = weight.detach().double().cpu().numpy()
        out["head_singular_values"] = np.linalg.svd(w, compute_uv=False)
        out["head_effective_rank"] = effective_rank(w, center=False)
    out["bottleneck"] = softmax_bottleneck(out["width"], out["n_classes"])
    return out


def knn_accuracy(
    train_x: Any, train_y: Any, test_x: Any, test_y: Any, k: int = 5, metric: str = "cosine"
) -> float:
    """Accuracy of a k-nearest-neighbour vote (:func:`headkit.functional.neighbors.knn_votes`).

    A feature-quality measure: how well the stored (train) vectors' labels predict the test rows'.
    """
    from headkit.functional.neighbors import knn_votes

    keys = torch.as_tensor(to_numpy(train_x))
    labels = torch.as_tensor(np.asarray(train_y), dtype=torch.int64)
    queries = torch.as_tensor(to_numpy(test_x))
    n_classes = int(max(labels.max(), int(np.max(test_y)))) + 1
    votes = knn_votes(queries, keys, labels, n_classes, k, metric)  # type: ignore[arg-type]
    return float((votes.argmax(1).numpy() == np.asarray(test_y)).mean())


def layer_quality(
    net: nn.Module, X: Any, y: Any, seed: int = 0, k: int = 5, noise: float = 0.1
) -> dict[str, Any]:
    """Probe and kNN accuracy, matrix entropy and invariance of the input and every block.

    Rows are split in half (stratified, ``seed``): the probe and the kNN memory use one half, the
    accuracies are measured on the other. Matrix entropy is taken on the centred representation.
    Invariance is the mean cosine between each row's representation and that of the row plus
    Gaussian noise of ``noise`` times each feature's standard deviation (NumPy generator seeded
    by ``seed``; torch's random state is not touched).

    Returns
    -------
    dict
        ``layers`` (names), ``probe_accuracy``, ``knn_accuracy``, ``matrix_entropy``,
        ``invariance`` (arrays), ``width`` (ints).
    """
    from sklearn.model_selection import train_test_split

    x = np.asarray(to_numpy(X))
    shaken = x + noise * x.std(axis=0) * np.random.default_rng(seed).normal(size=x.shape)
    with _eval(net), torch.no_grad():
        outs = net.layer_outputs(_as_tensor(x, net), include_input=True)
        outs_shaken = net.layer_outputs(_as_tensor(shaken, net), include_input=True)
    reps = [r.double().cpu().numpy() for r in outs]
    labels = np.asarray(y, dtype=np.int64)
    counts = np.unique(labels, return_counts=True)[1]
    rows = np.arange(len(labels))
    fit, test = train_test_split(rows, test_size=0.5, random_state=seed,
                                 stratify=labels if counts.min() >= 2 else None)  # fmt: skip
    probe, knn, entropy = [], [], []
    for r in reps:
        probe.append(probe_accuracy(r, labels, seed=seed))
        knn.append(knn_accuracy(r[fit], labels[fit], r[test], labels[test], k=k))
        entropy.append(matrix_entropy(r - r.mean(axis=0)))
    return {
        "layers": layer_names(net),
        "probe_accuracy": np.array(probe),
        "knn_accuracy": np.array(knn),
        "matrix_entropy": np.array(entropy),
        "invariance": np.array([mean_cosine(a, b) for a, b in zip(outs, outs_shaken, strict=True)]),
        "width": [r.shape[1] for r in reps],
    }


@dataclass
class LayerDiagnostics:
    """Everything :func:`layer_diagnostics` measured (the report's "Layer diagnostics")."""

    gradients: dict[str, Any] = field(default_factory=dict)
    spectra: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    robustness: dict[str, Any] = field(default_factory=dict)


def layer_diagnostics(
    net: nn.Module, X: Any, y: Any, seed: int = 0, robustness_rows: int = 200
) -> LayerDiagnostics:
    """Run :func:`gradient_norms`, :func:`spectra`, :func:`layer_quality` and DeepFool on (X, y).

    DeepFool (:func:`headkit.evaluation.robustness.deepfool_robustness`) runs on the first
    ``robustness_rows`` rows.
    """
    from headkit.evaluation.robustness import deepfool_robustness

    rows = np.asarray(to_numpy(X))[:robustness_rows]
    return LayerDiagnostics(
        gradient_norms(net, X, y),
        spectra(net, X),
        layer_quality(net, X, y, seed),
        deepfool_robustness(net, rows),
    )
