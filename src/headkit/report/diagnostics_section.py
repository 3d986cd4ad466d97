"""The report's "Layer diagnostics" section: HTML tables and pictures of per-layer measures."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from headkit.evaluation.layer_diagnostics import LayerDiagnostics
from headkit.report import diagnostic_plots

HISTORY_PREFIXES = ("output_entropy", "grad_", "erank_", "probe_")
CAPTIONS = {
    "layer_quality.png": (
        "Held-out accuracy of a logistic-regression probe and of a 5-nearest-neighbour vote on "
        "each representation, and its matrix entropy (higher = spread over more directions)."
    ),
    "spectrum.png": (
        "Singular values of the centred penultimate features and of the head's weight, "
        "normalised by the largest; the dotted line marks the number of classes K."
    ),
    "gradients.png": (
        "Softmax cross-entropy gradient norms on the evaluation rows: per-sample ‖∂ℓ/∂h‖ of "
        "each layer's output (the logits' is ‖p − y‖, which vanishes as outputs saturate) and "
        "‖∂L/∂W‖ of each weight."
    ),
    "diagnostics_history.png": (
        "The same measures per epoch on a training sample (trained with --track-diagnostics)."
    ),
}


def has_history(history: dict[str, Any] | None) -> bool:
    """Whether a history holds the per-epoch diagnostics columns."""
    return history is not None and any(c.startswith(HISTORY_PREFIXES) for c in history)


def _table(header: list[str], rows: list[list[Any]], fmt: Any) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(name: str) -> str:
    caption = html.escape(CAPTIONS[name])
    return f'<figure><img src="{name}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


def _inflection_table(grads: dict[str, Any], fmt: Any) -> list[str]:
    """Per-block output entropy, gradient fall and the inflection flag (J3)."""
    info = grads.get("inflection")
    if not info or not info["layers"]:
        return []
    rows = [[name, entropy, decay, "yes" if flag else "no"]
            for name, entropy, decay, flag in zip(info["layers"], info["entropy"], info["decay"],
                                                  info["flags"], strict=True)]  # fmt: skip
    found = ", ".join(info["inflection"]) or "none"
    note = (
        f"<p>Inflection layers: <b>{html.escape(found)}</b> — output entropy (softmax over the "
        "layer's units, normalised by log width) below 0.5 and a gradient norm below half the "
        "next layer's; there adaptation stalls (low-rank adapters are inserted there).</p>"
    )
    header = ["block", "output entropy / log width", "‖∂ℓ/∂h‖ ÷ next layer's", "inflection"]
    return [note, _table(header, rows, fmt)]


def _inflection_history(column: Any) -> str:
    """One line: in how many tracked epochs an inflection block was flagged, and which last."""
    values = [int(float(v)) for v in column if v is not None and float(v) == float(v)]
    flagged = [v for v in values if v > 0]
    last = f"; last flagged: block {flagged[-1]}" if flagged else ""
    return f"<p>Tracked epochs with an inflection block: {len(flagged)} of {len(values)}{last}.</p>"


def render_section(
    diag: LayerDiagnostics | None, history: dict[str, Any] | None, out: Path, fmt: Any
) -> list[str]:
    """Draw the pictures into ``out`` and return the section's HTML parts (empty if no data)."""
    parts: list[str] = []
    if diag is None and not has_history(history):
        return parts
    parts.append("<h2>Layer diagnostics</h2>")
    if diag is not None:
        q, s, g = diag.quality, diag.spectra, diag.gradients
        columns = ("layers", "width", "probe_accuracy", "knn_accuracy", "matrix_entropy",
                   "invariance")  # fmt: skip
        rows = [list(r) for r in zip(*(q[c] for c in columns), strict=True)]
        parts.append(_table(["representation", "width", "probe accuracy", "kNN accuracy",
                             "matrix entropy", "invariance (cos to noisy input)"], rows, fmt))  # fmt: skip
        diagnostic_plots.layer_quality(q, out / "layer_quality.png")
        parts.append(_figure("layer_quality.png"))
        flag = "yes: d < K limits the log-probabilities' rank" if s["bottleneck"] else "no"
        spec_rows = [["feature width d / classes K", f"{s['width']} / {s['n_classes']}"],
                     ["softmax bottleneck", flag],
                     ["effective rank of the features", s["feature_effective_rank"]],
                     ["anisotropy (mean pairwise cosine)", s["feature_anisotropy"]]]  # fmt: skip
        if "head_effective_rank" in s:
            spec_rows.append(["effective rank of the head W", s["head_effective_rank"]])
        spec_rows.append(
            [f"output entropy (nats; log K = {g['max_entropy']:.3f})", g["output_entropy"]]
        )
        saturated = g["output_entropy"] < 0.1 * g["max_entropy"]
        spec_rows.append(
            ["saturated outputs (entropy < 10 % of log K)", "yes" if saturated else "no"]
        )
        r = diag.robustness
        if r:
            n = len(r["distances"])
            spec_rows.append([f"DeepFool ρ = mean ‖r‖/‖x‖ ({n} rows)", r["rho"]])
            spec_rows.append(["DeepFool: median ‖r‖/‖x‖", r["median_ratio"]])
            spec_rows.append(["DeepFool: share of rows flipped", r["flipped"]])
        parts.append(_table(["measure", "value"], spec_rows, fmt))
        diagnostic_plots.spectrum(s, out / "spectrum.png")
        parts.append(_figure("spectrum.png"))
        diagnostic_plots.gradients(g, out / "gradients.png")
        parts.append(_figure("gradients.png"))
        parts += _inflection_table(g, fmt)
    if history is not None and "inflection_layer" in history:
        parts.append(_inflection_history(history["inflection_layer"]))
    if has_history(history):
        diagnostic_plots.diagnostics_history(history, out / "diagnostics_history.png")  # type: ignore[arg-type]
        parts.append(_figure("diagnostics_history.png"))
    return parts
