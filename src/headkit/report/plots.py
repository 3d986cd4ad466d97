"""Matplotlib figures of the report, each written to one PNG (Agg backend, no display needed).

Every function takes plain arrays, writes ``path`` and returns it; nothing here computes a
measure (that is :mod:`headkit.evaluation`'s job), so each picture shows exactly the numbers the
report's tables print.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_curve

from headkit.evaluation.reliability import ReliabilityCurve

DPI = 110
NC_COLUMNS = ("nc1", "nc2_equinorm", "nc2_equiangular", "nc3", "nc4")


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    plt.close(fig)
    return path


def training_curves(history: Mapping[str, Sequence[float]], path: str | Path) -> Path:
    """Loss (train and validation) and validation accuracy per epoch, plus the learning rate."""
    epoch = np.asarray(history["epoch"], float)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].plot(epoch, history["train_loss"], label="train")
    val_loss = np.asarray(history.get("val_loss", []), float)
    if val_loss.size and np.isfinite(val_loss).any():
        axes[0].plot(epoch, val_loss, label="validation")
    axes[0].set(title="loss", xlabel="epoch")
    axes[0].legend()
    val_acc = np.asarray(history.get("val_accuracy", []), float)
    if val_acc.size and np.isfinite(val_acc).any():
        axes[1].plot(epoch, val_acc, color="tab:green")
        axes[1].set(title="validation accuracy", xlabel="epoch")
    else:
        axes[1].text(0.5, 0.5, "no validation split", ha="center", va="center")
        axes[1].set(title="validation accuracy")
    axes[2].plot(epoch, history["lr"], color="tab:gray")
    axes[2].set(title="learning rate", xlabel="epoch")
    return _save(fig, path)


def confusion_matrix(cm: np.ndarray, class_names: Sequence[str], path: str | Path) -> Path:
    """Row-normalised confusion matrix with counts written in the cells (up to 20 classes)."""
    cm = np.asarray(cm, float)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    c = len(cm)
    size = min(3 + 0.45 * c, 12)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    if c <= 20:
        for i in range(c):
            for j in range(c):
                color = "white" if norm[i, j] > 0.5 else "black"
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", color=color, fontsize=8)
        ax.set_xticks(range(c), class_names, rotation=45, ha="right")
        ax.set_yticks(range(c), class_names)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    return _save(fig, path)


def reliability_figure(curves: Mapping[str, ReliabilityCurve], eces: Mapping[str, float]) -> Any:
    """The reliability diagrams as a matplotlib figure (see :func:`reliability_diagrams`).

    Each non-empty bin gets two bars side by side, never on top of each other: the accuracy of
    its rows (left, filled) and their mean confidence (right, outlined); a perfectly calibrated
    bin has two bars of one height, on the dashed diagonal. A strip below counts the rows per
    bin (log scale). One legend for all panels sits under them, so it covers no bar.
    """
    n = len(curves)
    fig, axes = plt.subplots(2, n, figsize=(4.6 * n, 5.0), squeeze=False, sharex="col",
                             gridspec_kw={"height_ratios": [4, 1]})  # fmt: skip
    for ax, counts, (label, curve) in zip(axes[0], axes[1], curves.items(), strict=True):
        finite = np.isfinite(curve.upper - curve.lower) & (curve.upper > curve.lower)
        width = np.where(finite, curve.upper - curve.lower, 1 / 15)
        left = np.where(finite, curve.lower, curve.confidence - width / 2)
        half = 0.45 * width  # two bars in 90 % of the bin: a gap between neighbours
        ax.bar(left + 0.05 * width, curve.accuracy, width=half, align="edge",
               color="tab:blue", label="accuracy of the bin's rows")  # fmt: skip
        ax.bar(left + 0.5 * width, curve.confidence, width=half, align="edge", fill=False,
               edgecolor="tab:orange", lw=1.2, label="mean confidence in the bin")  # fmt: skip
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration (accuracy = confidence)")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), ylabel="accuracy / confidence",
               title=f"{label}: ECE {eces[label]:.3f}")  # fmt: skip
        counts.bar(left + 0.05 * width, curve.count, width=0.9 * width, align="edge",
                   color="tab:gray")  # fmt: skip
        counts.set_yscale("log")  # a bin of one row stays visible beside one of hundreds
        counts.set(xlabel="confidence (top-class probability)", ylabel="rows",
                   ylim=(0.5, max(2.0, float(np.max(curve.count, initial=1)) * 2)))  # fmt: skip
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    return fig


def reliability_diagrams(
    curves: Mapping[str, ReliabilityCurve], eces: Mapping[str, float], path: str | Path
) -> Path:
    """One reliability diagram per entry (e.g. before/after temperature scaling), side by side."""
    fig = reliability_figure(curves, eces)
    fig.savefig(Path(path), dpi=DPI, format="png")
    plt.close(fig)
    return Path(path)


def confidence_histogram(
    confidence: np.ndarray, correct: np.ndarray, path: str | Path, n_bins: int = 20
) -> Path:
    """Histogram of top-class probabilities, split into correct and wrong predictions."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    bins = np.linspace(0, 1, n_bins + 1)
    ax.hist(confidence[correct], bins=bins, alpha=0.7, label=f"correct ({int(correct.sum())})")
    ax.hist(confidence[~correct], bins=bins, alpha=0.7, label=f"wrong ({int((~correct).sum())})")
    ax.axvline(confidence.mean(), color="k", ls="--", lw=1, label="mean confidence")
    ax.set(xlabel="top-class probability", ylabel="samples", title="confidence")
    ax.legend(fontsize=8)
    return _save(fig, path)


def ood_histograms(
    scores_in: Mapping[str, np.ndarray], scores_out: Mapping[str, np.ndarray], path: str | Path
) -> Path:
    """Per-score histograms of in-distribution vs OOD samples (higher = in-distribution)."""
    n = len(scores_in)
    fig, axes = plt.subplots(1, n, figsize=(3.8 * n, 3.4), squeeze=False)
    for ax, name in zip(axes[0], scores_in, strict=True):
        s_in, s_out = np.asarray(scores_in[name], float), np.asarray(scores_out[name], float)
        xlabel = "score (higher = in-distribution)"
        if name == "mahalanobis":
            # −d² spans orders of magnitude; −log10(1 + d²) keeps the order and the shape readable
            s_in, s_out = -np.log10(1.0 - s_in), -np.log10(1.0 - s_out)
            xlabel = "−log10(1 + squared distance)"
        both = np.concatenate([s_in, s_out])
        lo, hi = np.percentile(both, [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
        ax.hist(np.clip(s_in, lo, hi), bins=bins, alpha=0.65, density=True, label="in")
        ax.hist(np.clip(s_out, lo, hi), bins=bins, alpha=0.65, density=True, label="OOD")
        ax.set(title=name, xlabel=xlabel)
        ax.legend(fontsize=8)
    return _save(fig, path)


def roc_curves(
    scores_in: Mapping[str, np.ndarray],
    scores_out: Mapping[str, np.ndarray],
    aurocs: Mapping[str, float],
    path: str | Path,
    title: str = "in-distribution vs OOD",
) -> Path:
    """ROC curves of every score (in-distribution positive), AUROC in the legend."""
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    for name in scores_in:
        y = np.r_[np.ones(len(scores_in[name])), np.zeros(len(scores_out[name]))]
        fpr, tpr, _ = roc_curve(y, np.r_[scores_in[name], scores_out[name]])
        ax.plot(fpr, tpr, label=f"{name} (AUROC {aurocs[name]:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.axhline(0.95, color="gray", lw=0.8, ls="--")
    ax.set(xlabel="false-positive rate (OOD accepted)", ylabel="true-positive rate", title=title)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def collapse_curves(history: Mapping[str, Sequence[float]], path: str | Path) -> Path:
    """NC1–NC4 per epoch (log scale for the measures that go to 0)."""
    epoch = np.asarray(history["epoch"], float)
    present = [c for c in NC_COLUMNS if c in history]
    fig, axes = plt.subplots(1, len(present), figsize=(3.3 * len(present), 3.2), squeeze=False)
    titles = {"nc1": "NC1 tr(ΣwΣb⁺)/C", "nc2_equinorm": "NC2 equinorm CV",
              "nc2_equiangular": "NC2 equiangularity", "nc3": "NC3 self-duality",
              "nc4": "NC4 NCC agreement"}  # fmt: skip
    for ax, col in zip(axes[0], present, strict=True):
        values = np.asarray(history[col], float)
        ax.plot(epoch, values, marker=".")
        if col != "nc4" and np.all(values[np.isfinite(values)] > 0):
            ax.set_yscale("log")
        ax.set(title=titles[col], xlabel="epoch")
    return _save(fig, path)


def cka_heatmap(matrix: np.ndarray, names: Sequence[str], path: str | Path) -> Path:
    """Linear-CKA matrix between layers, values written in the cells."""
    n = len(names)
    fig, ax = plt.subplots(figsize=(2.2 + 0.7 * n, 1.6 + 0.7 * n))
    im = ax.imshow(matrix, cmap="magma", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, label="linear CKA")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center",
                    color="black" if matrix[i, j] > 0.6 else "white", fontsize=8)  # fmt: skip
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_title("layer similarity (linear CKA)")
    return _save(fig, path)


def redundancy_bars(values: np.ndarray, names: Sequence[str], path: str | Path) -> Path:
    """Block redundancy ``1 − cos(in, out)`` per Dense block (NaN: width changes, not shown)."""
    fig, ax = plt.subplots(figsize=(max(4.2, 1.8 + 0.8 * len(names)), 3.2))
    finite = np.where(np.isfinite(values), values, 0.0)
    bars = ax.bar(range(len(names)), finite, color="tab:purple")
    for bar, v in zip(bars, values, strict=True):
        label = "width\nchanges" if not np.isfinite(v) else f"{v:.3f}"
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), label, ha="center",
                va="bottom", fontsize=8)  # fmt: skip
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel="1 − cos(input, output)", title="block redundancy (low = droppable)")
    ax.set_ylim(0, max(0.1, float(np.nanmax(finite)) * 1.3 if len(finite) else 0.1))
    return _save(fig, path)
