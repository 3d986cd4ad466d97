"""The server's torch forward: the eval-mode network called directly, at a fixed thread count.

:func:`headkit.inference.forward.predict_arrays` suits one-off predictions: it sets eval mode,
estimates the work and lets the automatic thread policy pick (and set) torch's threads on every
call, reading the machine's load now and then. A server calls the model thousands of times a
second with the threads fixed at start (``--threads``), so that per-call work is pure overhead
(~0.3 ms of a 0.6 ms one-row call). :class:`TorchNet` keeps only the forward itself, with the
same arithmetic (logits in float32, the output map in float64).

:meth:`TorchNet.trace` compiles that forward into one TorchScript call. An eager forward is a
dozen torch calls, and each gives up the GIL and must win it back from the event-loop thread,
which holds it while it parses the next requests: on a busy server every hand-back waits up to
Python's switch interval (5 ms), so a 1,024-row call of the default network took 81 ms of wall
time beside a busy Python thread against 15 ms traced (5 ms alone; AMD EPYC, 1 thread).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
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
    script: Any = field(default=None, repr=False)

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
                rows = as_tensor(x[start : start + PREDICT_BATCH])
                parts.append(self._forward(rows) if self.script is None else self.script(rows))
        return (parts[0] if len(parts) == 1 else torch.cat(parts)).numpy()

    def _forward(self, rows: Any) -> Any:
        """Eager probabilities (N, C) float64 of float32 rows (N, n_features)."""
        return _probabilities(self.net, rows)

    def trace(self, rows: np.ndarray) -> bool:
        """Run the forward as one traced TorchScript call from now on, if it answers alike.

        Only for networks whose forward has no data-dependent branches (the plain networks the
        NumPy engine covers, see :func:`headkit.serving.model.load_model`). The network's plain
        ``nn.Linear`` layers are first put on oneDNN (:func:`headkit.serving.onednn.onednn_copy`),
        whose trace must give the eager probabilities within float32 rounding (rtol 1e-5, atol
        1e-7: the sums run in another order); failing that, the network as it is, whose trace
        must give them to rtol 1e-6. Each is checked on ``rows`` (N ≥ 2, float32) and on its
        first row; when neither holds the eager forward stays.

        Returns
        -------
        bool
            Whether a traced forward is in use.
        """
        from headkit.serving.onednn import onednn_copy

        parts = (rows, rows[:1])
        eager = [self.predict_proba(part) for part in parts]
        candidates = ((onednn_copy(self.net), 1e-5, 1e-7), (self.net, 1e-6, 1e-9))
        for net, rtol, atol in candidates:
            self.script = _trace(net, rows) if net is not None else None
            if self.script is None:
                continue
            if all(
                np.allclose(self.predict_proba(part), expected, rtol=rtol, atol=atol)
                for part, expected in zip(parts, eager, strict=True)
            ):
                return True
        self.script = None
        return False


def _trace(net: Any, rows: np.ndarray) -> Any:
    """``net``'s probabilities as a traced TorchScript module; None where tracing fails."""
    import torch

    from headkit.inference.forward import as_tensor

    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and deprecation notes
            return torch.jit.trace(_as_module(net), as_tensor(rows), check_trace=False)
    except Exception:  # a forward TorchScript cannot hold: keep the eager one
        return None


def _as_module(net: Any) -> Any:
    """``net``'s eager forward as a module (tracing a module keeps its weights as parameters)."""
    import torch

    class Forward(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, rows: Any) -> Any:
            return _probabilities(self.net, rows)

    return Forward()


def _probabilities(net: Any, rows: Any) -> Any:
    """``net``'s probabilities (N, C) float64 of float32 rows (N, n_features).

    Logits in float32, the output map in float64: the one forward that both the eager and the
    traced call run.
    """
    return net.probabilities(net(rows).double())
