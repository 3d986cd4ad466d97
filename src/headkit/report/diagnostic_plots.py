"""Figures of the report's "Layer diagnostics" section (gradients, spectra, probes per layer).

Like :mod:`headkit.report.plots`, each function takes plain arrays, writes one PNG and returns its
path; the numbers come from :mod:`headkit.evaluation.layer_diagnostics`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from headkit.report.plots import _save


def spectrum(spectra: Mapping[str, Any], path: str | Path) -> Path:
    """Normalised singular values σ_i/σ_1 of the centred features and of the head's weight."""
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    curves = [("penultimate features (centred)", "feature_singular_values", "feature_effective_rank"),
              ("head weight W", "head_singular_values", "head_effective_rank")]  # fmt: skip
    for label, key, rank in curves:
        s = np.asarray(spectra.get(key, []), float)
        if s.size and s[0] > 0:
            ax.semilogy(np.arange(1, s.size + 1), s / s[0], marker=".",
                        label=f"{label}: effective rank {spectra[rank]:.1f}")  # fmt: skip
    ax.axvline(
        spectra["n_classes"], color="gray", ls=":", lw=1, label=f"K = {spectra['n_classes']}"
    )
    ax.set(xlabel="index i", ylabel="σ_i / σ_1", title="singular value spectrum")
    ax.legend(fontsize=8)
    return _save(fig, path)


def layer_quality(quality: Mapping[str, Any], path: str | Path) -> Path:
    """Probe and kNN accuracy (left) and matrix entropy (right) of each representation."""
    names = list(quality["layers"])
    x = np.arange(len(names))
    fig, axes = plt.subplots(1, 2, figsize=(max(7.0, 2.5 + 1.4 * len(names)), 3.4))
    axes[0].bar(x - 0.2, quality["probe_accuracy"], width=0.4, label="linear probe")
    axes[0].bar(x + 0.2, quality["knn_accuracy"], width=0.4, label="kNN (k = 5, cosine)")
    axes[0].set(ylim=(0, 1.05), ylabel="held-out accuracy", title="accuracy from each layer")
    axes[0].legend(fontsize=8, loc="lower right")
    axes[1].bar(x, quality["matrix_entropy"], color="tab:olive")
    axes[1].set(ylabel="nats", title="matrix entropy −Σ λ log λ")
    for ax in axes:
        ax.set_xticks(x, names)
    return _save(fig, path)


def gradients(grads: Mapping[str, Any], path: str | Path) -> Path:
    """Per-layer activation-gradient and weight-gradient norms, values written on the bars."""
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.4))
    for ax, names, values, title in (
        (axes[0], grads["layers"], grads["activation"], "mean ‖∂ℓ/∂h‖ per sample"),
        (axes[1], grads["weight_layers"], grads["weight"], "‖∂L/∂W‖ (mean loss)"),
    ):
        values = np.asarray(values, float)
        bars = ax.bar(range(len(names)), values, color="tab:red")
        for bar, v in zip(bars, values, strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{v:.3g}",
                    ha="center", va="bottom", fontsize=8)  # fmt: skip
        ax.set_xticks(range(len(names)), names)
        ax.set_title(title)
    return _save(fig, path)


def diagnostics_history(history: Mapping[str, Sequence[float]], path: str | Path) -> Path:
    """Per-epoch output entropy, weight-gradient norms, effective ranks and probe accuracy."""
    epoch = np.asarray(history["epoch"], float)
    groups = [
        ("output entropy (nats)", ["output_entropy"]),
        ("‖∂L/∂W‖", [c for c in history if c.startswith("grad_")]),
        ("effective rank", ["erank_features", "erank_head"]),
        ("probe accuracy", [c for c in history if c.startswith("probe_")]),
    ]
    groups = [(t, [c for c in cols if c in history]) for t, cols in groups]
    groups = [(t, cols) for t, cols in groups if cols]
    fig, axes = plt.subplots(1, len(groups), figsize=(3.5 * len(groups), 3.2), squeeze=False)
    for ax, (title, cols) in zip(axes[0], groups, strict=True):
        for col in cols:
            ax.plot(epoch, np.asarray(history[col], float), marker=".", label=col)
        ax.set(title=title, xlabel="epoch")
        values = np.concatenate([np.asarray(history[c], float) for c in cols])
        if title.startswith("‖") and np.all(values[np.isfinite(values)] > 0):
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    return _save(fig, path)
