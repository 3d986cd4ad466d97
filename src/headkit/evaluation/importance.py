"""Input-feature ranking (catalogue J13): permutation importance and normalised mutual information.

* **Permutation importance** through the trained model: the drop of a score when one *raw*
  column is shuffled, with repeats and their spread (scikit-learn's
  :func:`sklearn.inspection.permutation_importance` on the estimator, so a table's categorical
  column is shuffled before its one-hot encoding and reported once, under its own name). An input
  the model ignores scores exactly 0.
* **Cardinality-normalised mutual information** (OutRank): ``MI(f; y) − mean MI(f′; y)`` over
  random permutations f′ of f (same values, hence same cardinality). Raw MI of a random
  high-cardinality column is far above 0 (it memorises y on a finite sample); the normalised
  score is ≈ 0. Numeric columns with more than ``max_bins`` values are binned by quantiles.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_BINS = 32


def _codes(column: Any, max_bins: int) -> np.ndarray:
    """Integer codes of one column: categories as they are, many-valued numbers in quantile bins."""
    values = np.asarray(column)
    if values.dtype.kind in "fiu":
        numeric = values.astype(np.float64)
        if len(np.unique(numeric)) > max_bins:
            edges = np.unique(np.quantile(numeric, np.linspace(0, 1, max_bins + 1)[1:-1]))
            return np.searchsorted(edges, numeric, side="right")
        return np.unique(numeric, return_inverse=True)[1]
    return np.unique(values.astype(str), return_inverse=True)[1]


def _columns(X: Any) -> tuple[list[str], list[np.ndarray]]:
    if hasattr(X, "columns"):
        return [str(c) for c in X.columns], [X[c].to_numpy() for c in X.columns]
    arr = np.asarray(X)
    return [f"x{j}" for j in range(arr.shape[1])], [arr[:, j] for j in range(arr.shape[1])]


def normalised_mutual_information(
    X: Any, y: Any, n_permutations: int = 20, max_bins: int = MAX_BINS, seed: int = 0
) -> dict[str, np.ndarray]:
    """OutRank's cardinality-aware score of every column of ``X``.

    Parameters
    ----------
    X : array-like or DataFrame, shape (N, F)
        Raw columns (numbers or categories).
    y : array-like, shape (N,)
        Labels.
    n_permutations : int
        Random permutations of each column that estimate the chance level of its MI.
    max_bins : int
        Numeric columns with more distinct values are cut into this many quantile bins.
    seed : int
        Seed of the permutations.

    Returns
    -------
    dict
        ``features`` (names), ``mi`` (raw MI in nats), ``chance`` (mean MI of the
        permutations) and ``score`` (``mi − chance``), arrays of length F.
    """
    from sklearn.metrics import mutual_info_score

    names, columns = _columns(X)
    labels = np.unique(np.asarray(y).astype(str), return_inverse=True)[1]
    rng = np.random.default_rng(seed)
    mi, chance = [], []
    for column in columns:
        codes = _codes(column, max_bins)
        mi.append(mutual_info_score(labels, codes))
        chance.append(
            np.mean(
                [mutual_info_score(labels, rng.permutation(codes)) for _ in range(n_permutations)]
            )
        )
    mi_arr, chance_arr = np.asarray(mi), np.asarray(chance)
    return {"features": np.asarray(names, dtype=object), "mi": mi_arr, "chance": chance_arr,
            "score": mi_arr - chance_arr}  # fmt: skip


def permutation_importance(
    model: Any, X: Any, y: Any, n_repeats: int = 5, scoring: Any = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """Score drop when each raw column of ``X`` is shuffled, through the fitted ``model``.

    Parameters
    ----------
    model : fitted estimator
        A :class:`headkit.HeadClassifier` (or any scikit-learn classifier).
    X : array-like or DataFrame, shape (N, F)
        Raw rows as the model takes them.
    y : array-like, shape (N,)
        True labels.
    n_repeats : int
        Shuffles per column.
    scoring : str or callable, optional
        Any scikit-learn scorer (default: the model's ``score``, accuracy).
    seed : int
        Seed of the shuffles.

    Returns
    -------
    dict
        ``features``, ``mean`` and ``std`` of the drop over repeats, and ``repeats`` (F, n_repeats).
    """
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    names, _ = _columns(X)
    result = sk_permutation_importance(
        model, X, y, n_repeats=n_repeats, scoring=scoring, random_state=seed
    )
    return {"features": np.asarray(names, dtype=object), "mean": result.importances_mean,
            "std": result.importances_std, "repeats": result.importances}  # fmt: skip


def feature_ranking(
    model: Any, X: Any, y: Any, n_repeats: int = 5, scoring: Any = None, seed: int = 0
) -> Any:
    """Return a DataFrame ranking the raw columns by permutation importance.

    Columns: ``feature``, ``permutation_importance`` and ``permutation_std`` (see
    :func:`permutation_importance`), ``normalised_mi`` and ``raw_mi`` (see
    :func:`normalised_mutual_information`).
    """
    import pandas as pd

    perm = permutation_importance(model, X, y, n_repeats, scoring, seed)
    nmi = normalised_mutual_information(X, y, seed=seed)
    frame = pd.DataFrame({
        "feature": perm["features"], "permutation_importance": perm["mean"],
        "permutation_std": perm["std"], "normalised_mi": nmi["score"], "raw_mi": nmi["mi"],
    })  # fmt: skip
    return frame.sort_values("permutation_importance", ascending=False, kind="stable").reset_index(
        drop=True
    )
