"""What a fitted network's structure tells about the input: the kept input columns (A17).

:class:`StructureMixin` gives :class:`headkit.HeadClassifier` the ``input_gates_`` attribute:
the prediction-time gate of every input column (``input_gates="optfs"`` or ``"stg"``), per
*original* column for a table (a one-hot or hashed column is kept when any of its encoded
columns is). It is read from the network's weights, so a loaded model reports it too.
"""

from __future__ import annotations

from typing import Any

import numpy as np


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


def kept_summary(gates: dict[str, float], shown: int = 12) -> str:
    """One line: how many columns the gates keep, and the first kept ones by name."""
    kept = [name for name, g in gates.items() if g > 0]
    names = ", ".join(kept[:shown]) + (", …" if len(kept) > shown else "")
    return f"input gates keep {len(kept)} of {len(gates)} columns" + (f": {names}" if kept else "")
