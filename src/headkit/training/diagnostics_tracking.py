"""Per-epoch layer diagnostics (``track_diagnostics=True`` / ``--track-diagnostics``).

:class:`DiagnosticsTracker` adds, after every epoch, columns to the history (``history_`` and the
run's ``history.csv``), where the report draws them:

| column | meaning |
|---|---|
| ``output_entropy`` | mean softmax entropy of the logits (saturation) |
| ``act_grad_logits`` | mean ‖p − y‖, the logits' per-sample gradient norm |
| ``grad_block1`` …, ``grad_head`` | ‖∂L/∂W‖_F of each Dense block's and the head's weight |
| ``erank_features``, ``erank_head`` | effective rank of the centred features and of W |
| ``probe_input``, ``probe_block1`` … | linear-probe accuracy of each representation |
| ``entropy_input``, ``entropy_block1`` … | matrix entropy of each (centred) representation |
| ``inflection_layer`` | first inflection block, 1-based (0: none); see :mod:`headkit.evaluation.inflection` |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from headkit.evaluation._arrays import to_numpy
from headkit.evaluation.layer_diagnostics import gradient_norms, layer_quality, spectra
from headkit.training.callbacks import Callback

if TYPE_CHECKING:
    from headkit.training.trainer import EpochRecord, Trainer


def _key(name: str) -> str:
    return name.replace(" ", "")


def diagnostics_row(net: Any, X: Any, y: Any, seed: int = 0) -> dict[str, float]:
    """Return the tracker's columns for one state of the network (see the module table)."""
    grads = gradient_norms(net, X, y)
    spec = spectra(net, X)
    quality = layer_quality(net, X, y, seed)
    row = {"output_entropy": grads["output_entropy"],
           "act_grad_logits": float(grads["activation"][-1])}  # fmt: skip
    flags = grads["inflection"]["flags"]
    row["inflection_layer"] = float(np.argmax(flags) + 1) if flags.any() else 0.0
    for name, value in zip(grads["weight_layers"], grads["weight"], strict=True):
        row[f"grad_{_key(name)}"] = float(value)
    row["erank_features"] = spec["feature_effective_rank"]
    if "head_effective_rank" in spec:
        row["erank_head"] = spec["head_effective_rank"]
    for i, name in enumerate(quality["layers"]):
        row[f"probe_{_key(name)}"] = float(quality["probe_accuracy"][i])
        row[f"entropy_{_key(name)}"] = float(quality["matrix_entropy"][i])
    return row


class DiagnosticsTracker(Callback):
    """Record gradient norms, spectra and per-layer probes on a fixed training sample each epoch.

    Measured in eval mode, with ``torch.autograd.grad`` (parameters' ``.grad`` untouched) and no
    random draws, so tracking does not change the training trajectory.

    Parameters
    ----------
    X : array-like or scipy sparse matrix, shape (N, F)
        Training features (raw; a sparse sample is densified).
    y : array-like, shape (N,)
        Class indices.
    max_samples : int
        Rows used (a fixed random subset when N is larger).
    every : int
        Measure every ``every`` epochs (and always the last).
    seed : int
        Seed of the subset and of the probes' split.

    Attributes
    ----------
    records : list of dict
        ``{"epoch", ...columns}`` per measured epoch.
    """

    def __init__(
        self, X: Any, y: Any, *, max_samples: int = 1000, every: int = 1, seed: int = 0
    ) -> None:
        labels = to_numpy(y, dtype=np.int64)
        if not hasattr(X, "toarray"):
            X = to_numpy(X, dtype=np.float32)
        n = X.shape[0]
        if n > max_samples:
            keep = np.sort(np.random.default_rng(seed).choice(n, max_samples, replace=False))
            X, labels = X[keep], labels[keep]
        if hasattr(X, "toarray"):  # scipy sparse rows: the sample is small enough to densify
            X = X.toarray()
        self.X, self.y = to_numpy(X, dtype=np.float32), labels
        self.every, self.seed = max(1, int(every)), seed
        self.records: list[dict[str, float]] = []
        self._epochs = 0

    def on_fit_start(self, trainer: Trainer, epochs: int) -> None:
        self._epochs = trainer.epoch + epochs

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        last = record.epoch >= self._epochs or trainer.stop
        if record.epoch % self.every and not last:
            return
        values = diagnostics_row(trainer.model, self.X, self.y, self.seed)
        record.extra.update(values)
        self.records.append({"epoch": record.epoch, **values})
