"""``--engine onnx``: the run's network exported in memory and run by onnxruntime.

The forward pass is traced as ``headkit export`` traces it (features → probabilities, without
the label output and the table preprocessing, which :class:`SavedModel` applies itself), then
served by an onnxruntime session. Needs the onnx extra; the network must be exportable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from headkit.exceptions import ConfigError, ExportError


@dataclass
class OnnxNet:
    """A network's eval-mode ``predict_proba`` as an onnxruntime session.

    Attributes
    ----------
    session : onnxruntime.InferenceSession
        Input ``features`` (N, n_features) float32, first output the probabilities (N, C).
    config : NetworkConfig
        The network's config (metadata reads it).
    temperature : float
        The calibration temperature (already inside the exported graph).
    """

    engine: ClassVar[str] = "onnx"
    session: Any
    config: Any
    temperature: float

    @classmethod
    def from_saved(cls, saved: Any, threads: int = 1) -> OnnxNet:
        """Trace ``saved.network`` (a torch HeadNet) to ONNX and open an onnxruntime session.

        Raises
        ------
        ConfigError
            The onnx extra is missing or the network cannot be exported.
        """
        try:
            import onnxruntime as ort

            from headkit.export.onnx import _check_exportable, _require_onnx, _trace

            _check_exportable(saved.network.config)
            _require_onnx()
            proto = _trace(saved, None)
        except ImportError:
            raise ConfigError(
                "--engine onnx needs the onnx extra; install it with pip install 'headkit[onnx]'."
            ) from None
        except ExportError as error:
            raise ConfigError(f"{error} Serve it with --engine auto.") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        temperature = float(saved.network.temperature)
        return cls(session, saved.network.config, temperature)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Return probabilities of rows ``x`` (N, n_features) float32 → (N, C) float64."""
        (proba, *_) = self.session.run(None, {"features": np.ascontiguousarray(x, np.float32)})
        return proba.astype(np.float64)
