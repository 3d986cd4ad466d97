"""From a saved run to an answer.

``saved_model`` (:class:`SavedModel`: load a run, match columns, choose the engine, predict),
``forward`` (the batched torch forward: logits, probabilities, features, MC dropout),
``numpy_net`` and ``numpy_ops`` (the NumPy engine that runs plain networks without torch).
Names are imported lazily: ``headkit predict`` must not import torch for a plain network.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headkit.inference.forward import predict_arrays
    from headkit.inference.saved_model import SavedModel

__all__ = ["SavedModel", "predict_arrays"]

_HOMES = {
    "SavedModel": "headkit.inference.saved_model",
    "predict_arrays": "headkit.inference.forward",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'headkit.inference' has no attribute {name!r}")
