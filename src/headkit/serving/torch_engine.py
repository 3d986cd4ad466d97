"""The server's torch forward: the eval-mode network called directly, at a fixed thread count.

:func:`headkit.inference.forward.predict_arrays` suits one-off predictions: it sets eval mode,
estimates the work and lets the automatic thread policy pick (and set) torch's threads on every
call, reading the machine's load now and then. A server calls the model thousands of times a
second with the threads fixed at start (``--threads``), so that per-call work is pure overhead
(~0.3 ms of a 0.6 ms one-row call). :class:`TorchNet` keeps only the forward itself, with the
same arithmetic (logits in float32, the output map in float64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from headkit.config import PREDICT_BATCH


@dataclass
class TorchNet:
    """A :class:`headkit.nn.HeadNet` in eval mode answering ``predict_proba`` of NumPy rows.

    Attributes
    ----------
    net : HeadNet
        The loaded network (put in eval mode here).
    config : NetworkConfig
        The network's config (the app's metadata reads it).
    """

    engine: ClassVar[str] = "torch"
    net: Any

    def __post_init__(self) -> None:
        self.net.eval()
        self.config = self.net.config
        self.metadata = self.net.metadata

    @property
    def temperature(self) -> Any:
        """The calibration temperature buffer (the app's metadata reads it)."""
        return self.net.temperature

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Return probabilities of rows ``x`` (N, n_features) float32 → (N, C) float64."""
        import torch

        from headkit.inference.forward import as_tensor

        parts = []
        with torch.inference_mode():
            for start in range(0, max(len(x), 1), PREDICT_BATCH):
                z = self.net(as_tensor(x[start : start + PREDICT_BATCH]))
                parts.append(self.net.probabilities(z.double()))
        return (parts[0] if len(parts) == 1 else torch.cat(parts)).numpy()
