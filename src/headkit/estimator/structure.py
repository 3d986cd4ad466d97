"""Uses of a fitted network's structure: kept input columns (A17), early exit (B7).

:class:`StructureMixin` gives :class:`headkit.HeadClassifier` the ``input_gates_`` attribute:
the prediction-time gate of every input column (``input_gates="optfs"`` or ``"stg"``), per
*original* column for a table (a one-hot or hashed column is kept when any of its encoded
columns is). It is read from the network's weights, so a loaded model reports it too. And
``predict_early_exit`` for networks trained with ``layer_drop="layerskip"``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class EarlyExit(NamedTuple):
    """What :meth:`StructureMixin.predict_early_exit` returns, one entry per row."""

    labels: np.ndarray  # (n_samples,) predicted classes
    proba: np.ndarray  # (n_samples, n_classes) float64, at each row's exit
    depth: np.ndarray  # (n_samples,) int: Dense blocks run (n_blocks = the full network)


def network_input_names(est: Any) -> list[str]:
    """Names of the network's input columns: the table encoding's, X's columns, or x0, x1, …."""
    preprocessor = getattr(est, "preprocessor_", None)
    if preprocessor is not None:
        return list(preprocessor.output_names)
    names = getattr(est, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [f"x{i}" for i in range(est.model_.config.n_features)]


def column_gates(est: Any, gates: np.ndarray) -> dict[str, float]:
    """Gate per original input column: the largest gate among its encoded columns.

    Parameters
    ----------
    est : HeadClassifier
        Fitted.
    gates : ndarray, shape (n_network_inputs,)
        The prediction-time gate of each network input column.

    Returns
    -------
    dict of str → float
        In input order; a column the table preprocessing dropped (an identifier, a constant)
        gets 0.0, since the network never sees it.
    """
    preprocessor = getattr(est, "preprocessor_", None)
    if preprocessor is None:
        return {name: float(g) for name, g in zip(network_input_names(est), gates, strict=True)}
    from headkit.data.column_encoding import output_names

    out: dict[str, float] = {}
    start = 0
    for entry in preprocessor.columns_:
        width = len(output_names(entry))
        out[entry["name"]] = float(gates[start : start + width].max()) if width else 0.0
        start += width
    return out


class StructureMixin:
    """Fitted attributes read from the network's structure (mixed into HeadClassifier)."""

    @property
    def input_gates_(self) -> dict[str, float] | None:
        """Prediction-time gate of each input column (0 = unused), or None without gates.

        A dict from column name to gate in [0, 1], in input order: for ``input_gates="optfs"``
        exactly 0 or 1, for ``"stg"`` ``clamp(μ + 0.5, 0, 1)``. Tables report each original
        column (the largest gate among its encoded columns). ``pandas.Series(clf.input_gates_)``
        gives a table.
        """
        from sklearn.utils.validation import check_is_fitted

        from headkit.nn.input_gates import InputGates

        check_is_fitted(self)
        gates = self.model_.input_gates  # type: ignore[attr-defined]
        if not isinstance(gates, InputGates):
            return None
        return column_gates(self, gates.kept().cpu().numpy().astype(np.float64))

    def predict_early_exit(self, X: Any, threshold: float = 0.9) -> EarlyExit:
        """Predict, letting each row leave at the first exit at least ``threshold`` confident.

        For a network trained with ``layer_drop="layerskip"``: after each Dense block whose
        output the shared head reads, rows whose largest probability is at least ``threshold``
        stop there; the others go on (the last exit is the full network). ``threshold > 1``
        gives exactly :meth:`predict_proba`. See :func:`headkit.nn.layer_drop.early_exit_predict`.

        Returns
        -------
        EarlyExit
            ``labels`` (n_samples,), ``proba`` (n_samples, n_classes), ``depth`` (n_samples,):
            the Dense blocks each row ran.
        """
        from headkit.exceptions import ConfigError
        from headkit.inference.forward import map_batches
        from headkit.nn.layer_drop import early_exit_predict

        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold <= 0:
            raise ConfigError(f"threshold must be a number > 0; got {threshold!r}.")
        rows = self._rows(X)  # type: ignore[attr-defined]
        net = self.model_.eval()  # type: ignore[attr-defined]

        def step(x: Any) -> dict[str, Any]:
            proba, depth = early_exit_predict(net, x, float(threshold))
            return {"proba": proba, "depth": depth}

        out = map_batches(net, rows, step, threads=self.threads)  # type: ignore[attr-defined]
        proba = out["proba"].numpy()
        labels = self.classes_[proba.argmax(axis=1)]  # type: ignore[attr-defined]
        return EarlyExit(labels, proba, out["depth"].numpy())


def kept_summary(gates: dict[str, float], shown: int = 12) -> str:
    """One line: how many columns the gates keep, and the first kept ones by name."""
    kept = [name for name, g in gates.items() if g > 0]
    names = ", ".join(kept[:shown]) + (", …" if len(kept) > shown else "")
    return f"input gates keep {len(kept)} of {len(gates)} columns" + (f": {names}" if kept else "")
