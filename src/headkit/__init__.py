"""headkit: train, scale, understand and ship the features → Dense → Dropout → Softmax classifier.

Heavy imports (torch, scikit-learn) are lazy, so ``import headkit`` and ``headkit --help``
stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from headkit.estimator.classifier import HeadClassifier
    from headkit.io import load, save

__all__ = ["HeadClassifier", "__version__", "load", "save"]


def __getattr__(name: str) -> Any:
    if name == "HeadClassifier":
        from headkit.estimator.classifier import HeadClassifier

        return HeadClassifier
    if name in ("load", "save"):
        from headkit import io

        return getattr(io, name)
    raise AttributeError(f"module 'headkit' has no attribute {name!r}")
