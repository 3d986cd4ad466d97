"""Conformal scores kept with a fitted model: the sets of ``predict_set``, the CLI and the server.

A fitted :class:`headkit.HeadClassifier` scores its held-out rows' true classes once
(:class:`ConformalScores`) and saves the scores beside the weights; α and the method are chosen
at prediction time. Methods by name (:data:`SET_METHODS`):

- ``"aps"`` (the default) and ``"raps"``: randomised scores (:mod:`headkit.evaluation.conformal`)
  whose ``u`` comes from a hash of each input row (:func:`row_uniforms`), so a row's set does not
  depend on its batch, nor change between calls, a save and load, or engines. Coverage close to
  exactly ``1 − α``; a set may be empty.
- ``"aps-det"``: non-randomised APS (``u = 1``) with the most likely class always in the set:
  never empty, but over-covers (0.978 at α = 0.1 on the development tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from headkit.evaluation._arrays import check_scores
from headkit.evaluation.conformal import (
    ConformalCalibration,
    _check_alpha,
    calibration_scores,
    class_scores,
    conformal_quantile,
)
from headkit.exceptions import ConfigError

SET_METHODS = ("aps", "raps", "aps-det")


def row_uniforms(rows: Any) -> np.ndarray:
    """A ``u`` in [0, 1) per row from a hash of the row's values (as float32), (N,).

    Unlike draws from a generator, a row gets the same ``u`` alone, in a batch, after a save and
    load and on either engine (hash inputs, not probabilities: those differ in the last digits).
    """
    import hashlib

    rows = np.ascontiguousarray(check_scores(rows, "rows"), dtype=np.float32)
    digests = (hashlib.blake2b(row.tobytes(), digest_size=8).digest() for row in rows)
    return np.fromiter(
        (int.from_bytes(d, "little") / 2.0**64 for d in digests), np.float64, len(rows)
    )


@dataclass(frozen=True)
class ConformalScores:
    """The calibration rows' true-class scores for each method, kept with a fitted model.

    A fitted :class:`headkit.HeadClassifier` keeps them from its held-out split (``conformal_``)
    and saves them beside the weights, so ``predict_set(X, alpha, method)``, ``headkit predict
    --conformal ALPHA`` and the server's ``?alpha=`` choose α and the method at prediction time.
    The default ``"aps"`` is randomised: at α = 0.1 on the development tables its sets held the
    label 0.90 of the time (``benchmarks/results/tabular_suite.md``).

    Attributes
    ----------
    scores : dict of str → ndarray, shape (n,)
        Each :data:`SET_METHODS` name's scores of the rows' true classes (runs saved before
        ``"aps-det"`` existed hold only ``"aps"`` and ``"raps"``).
    """

    scores: dict[str, np.ndarray]

    @classmethod
    def fit(cls, proba: Any, y: Any, rows: Any) -> ConformalScores:
        """Score held-out rows: probabilities (n, C), class indices (n,), input rows (n, F)."""
        u = row_uniforms(rows)
        scores = {m: calibration_scores(proba, y, m, u=u) for m in ("aps", "raps")}
        scores["aps-det"] = calibration_scores(proba, y, "aps", randomized=False)
        return cls(scores)

    @property
    def n_calibration(self) -> int:
        """Number of calibration rows."""
        return len(next(iter(self.scores.values())))

    def calibration(self, alpha: float = 0.1, method: str = "aps") -> ConformalCalibration:
        """The threshold for miscoverage ``alpha`` with ``method``'s scores."""
        alpha = _check_alpha(alpha)
        if method not in SET_METHODS:
            raise ConfigError(f"method must be one of {list(SET_METHODS)}; got {method!r}.")
        if method not in self.scores:
            raise ConfigError(
                f"This run's conformal scores predate method {method!r}; use "
                f"{sorted(self.scores)} or refit the model."
            )
        threshold = conformal_quantile(self.scores[method], alpha)
        score = "aps" if method == "aps-det" else method
        randomized = method != "aps-det"
        return ConformalCalibration(
            threshold, alpha, score, randomized, 0.01, 1, self.n_calibration
        )

    def sets(self, proba: Any, rows: Any, alpha: float = 0.1, method: str = "aps") -> np.ndarray:
        """Prediction sets (N, C) bool of new rows' probabilities (N, C) and inputs (N, F).

        ``"aps"`` and ``"raps"`` sets may be empty; ``"aps-det"`` sets always hold the most
        likely class.
        """
        calibration = self.calibration(alpha, method)
        if method == "aps-det":
            p = check_scores(proba)
            sets = class_scores(p, "aps", randomized=False) <= calibration.threshold
            if len(sets):
                sets[np.arange(len(sets)), np.argmax(p, axis=1)] = True
            return sets
        scores = class_scores(proba, calibration.method, u=row_uniforms(rows))  # type: ignore[arg-type]
        return scores <= calibration.threshold

    def to_bytes(self) -> bytes:
        """Serialise with safetensors (no pickle)."""
        from safetensors.numpy import save

        return save({m: np.ascontiguousarray(s, dtype=np.float64) for m, s in self.scores.items()})

    @classmethod
    def load(cls, path: Any) -> ConformalScores | None:
        """Read scores saved by :meth:`to_bytes`; ``None`` when ``path`` does not exist.

        Raises
        ------
        ModelFileError
            When the file is unreadable.
        """
        from pathlib import Path

        from safetensors.numpy import load_file

        from headkit.exceptions import ModelFileError

        if not Path(path).is_file():
            return None
        try:
            return cls(dict(load_file(str(path))))
        except Exception as error:  # safetensors raises its own error types
            raise ModelFileError(f"{path} is corrupt ({error}); retrain the model.") from None
