"""The scikit-learn estimator and everything it owns.

``classifier`` (:class:`HeadClassifier`), ``params`` (its parameters, read from the config
declarations), ``fit`` (the fit steps, functions that return values), ``state`` (what a fitted
estimator saves and loads), ``inputs`` (checking and encoding what ``fit`` is given), ``teacher``
(saved runs as distillation teachers) and ``presets`` (named bundles of settings).

``HeadClassifier`` is imported lazily so that the light modules here (``presets``, ``params``)
do not pull in torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headkit.estimator.classifier import HeadClassifier

__all__ = ["HeadClassifier"]


def __getattr__(name: str) -> Any:
    if name == "HeadClassifier":
        from headkit.estimator.classifier import HeadClassifier

        return HeadClassifier
    raise AttributeError(f"module 'headkit.estimator' has no attribute {name!r}")
