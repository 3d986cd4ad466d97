"""A saved classifier ready to predict: the lean path behind ``headkit predict``.

:class:`SavedModel` holds a loaded network with its label names, feature names and table
preprocessing, checks incoming columns (:func:`align_rows`) and returns probabilities. It does
not import scikit-learn, and with ``engine="auto"`` a plain network
(:func:`headkit.inference.numpy_net.unsupported_reason`) is run by :class:`headkit.inference.numpy_net.NumpyHeadNet`
without importing torch either, so a ``headkit predict`` process starts in a fraction of the
time; any other network runs on torch through :meth:`headkit.nn.HeadNet.probabilities`, the one
place that maps logits to probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from headkit.exceptions import ConfigError, DataError, ModelFileError

if TYPE_CHECKING:
    from headkit.inference.numpy_net import NumpyHeadNet
    from headkit.nn.network import HeadNet

PREPROCESSING_FILE = "preprocessing.json"  # a table run's fitted TablePreprocessor state
ENGINES = ("auto", "torch", "numpy")


def _generic(names: list[str]) -> bool:
    """True for the placeholder names headkit gives array columns (x0, x1, ...)."""
    return all(name == f"x{i}" for i, name in enumerate(names))


@dataclass
class SavedModel:
    """A saved classifier ready to predict, without scikit-learn (and for plain networks, torch).

    Attributes
    ----------
    network : HeadNet or NumpyHeadNet
        In eval mode; a :class:`headkit.inference.numpy_net.NumpyHeadNet` when loaded with
        ``engine="numpy"`` (or ``"auto"`` and the network is plain).
    classes : ndarray, shape (C,)
        Label names, in probability-column order.
    feature_names : list of str
        Training column names (empty when the model was trained on an unnamed array).
    metadata : dict
        The run's saved metadata (training config, target column, ...).
    preprocessing : dict or None
        ``TablePreprocessor.to_dict()`` of a run fitted on a table (categories, gaps); rows are
        then a DataFrame of the raw columns, encoded by it before the network.
    """

    network: HeadNet | NumpyHeadNet
    classes: np.ndarray
    feature_names: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, Any] | None = None

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", engine: str = "torch") -> SavedModel:
        """Load a run or model directory written by ``headkit train`` or ``HeadClassifier.save``.

        Parameters
        ----------
        path : str or Path
            The directory.
        device : str
            Torch device of the network (the NumPy engine runs on the CPU).
        engine : {"torch", "numpy", "auto"}
            ``"torch"``: a :class:`headkit.nn.HeadNet`. ``"numpy"``: a
            :class:`headkit.inference.numpy_net.NumpyHeadNet`, for plain networks only. ``"auto"``: NumPy
            when the network is plain and ``device`` is ``"cpu"``, else torch.

        Raises
        ------
        ModelFileError
            Missing, corrupt or bare-network directories.
        ConfigError
            An unknown engine, or ``engine="numpy"`` for a network it cannot run.
        """
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}.")
        network = None
        if engine != "torch" and (engine == "numpy" or device == "cpu"):
            network = _numpy_network(Path(path), required=engine == "numpy")
        if network is None:
            from headkit import io

            network = io.load(path, device=device)
        meta = network.metadata
        if "classes" not in meta:
            raise ModelFileError(
                f"{path} holds a bare network without label names; save it with "
                "HeadClassifier.save or train it with `headkit train`."
            )
        classes = np.array(meta["classes"], dtype=np.dtype(meta.get("classes_dtype", "O")))
        names = list(meta.get("feature_names") or [])
        return cls(network, classes, names, meta, _read_preprocessing(Path(path)))

    @property
    def engine(self) -> str:
        """``"numpy"`` or ``"torch"``: what computes the forward pass."""
        return getattr(self.network, "engine", "torch")

    @property
    def multilabel(self) -> bool:
        """Whether the model predicts a 0/1 indicator per class (``output="sigmoid"`` on a matrix)."""
        return bool(self.metadata.get("multilabel", False))

    @property
    def n_features(self) -> int:
        """Width of the network's input."""
        return self.network.config.n_features

    def align(self, X: Any, names: list[str] | None = None) -> np.ndarray:
        """Return the rows as float32 (N, n_features) in training column order; see :func:`align_rows`."""
        return align_rows(X, names, self.feature_names, self.n_features)

    def predict_proba(self, X: Any, names: list[str] | None = None) -> np.ndarray:
        """Return probabilities, shape (N, C), columns in ``classes`` order.

        float64 like :meth:`headkit.HeadClassifier.predict_proba` (logits in float32, the output
        map in float64).
        """
        if self.preprocessing is not None:
            X = self._encode_table(X, names)
            names = None
        rows = self.align(X, names)
        if self.engine == "numpy":
            return self.network.predict_proba(rows)
        from headkit.inference.forward import predict_arrays

        return predict_arrays(self.network, rows).proba.numpy()  # float64

    def _encode_table(self, X: Any, names: list[str] | None) -> np.ndarray:
        import pandas as pd

        from headkit.data.preprocessing import TablePreprocessor

        if not hasattr(X, "columns"):
            X = pd.DataFrame(X, columns=names)
        return TablePreprocessor.from_dict(self.preprocessing).transform(X)


def _numpy_network(path: Path, required: bool) -> NumpyHeadNet | None:
    """The NumPy network of a model directory; None (torch then) when it is not plain."""
    from headkit.config import NetworkConfig
    from headkit.inference.numpy_net import NumpyHeadNet, unsupported_reason
    from headkit.io import read_config

    config = read_config(path)
    try:
        network_config = NetworkConfig.from_dict(config["network"])
    except (KeyError, TypeError, ValueError):
        return None  # the torch loader names what is wrong
    why = unsupported_reason(network_config)
    if why is None:
        network = NumpyHeadNet.load(path, network_config)
        why = unsupported_reason(network_config, network.weight_shapes())
    if why is not None:
        if required:
            raise ConfigError(f"{path}: {why}; load it with engine='torch' (or 'auto').")
        return None
    network.metadata = config.get("metadata", {})
    return network


def _read_preprocessing(path: Path) -> dict[str, Any] | None:
    import json

    file = path / PREPROCESSING_FILE
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{file} is corrupt ({error}); retrain the model.") from None


def align_rows(
    X: Any, names: list[str] | None, feature_names: list[str], n_features: int
) -> np.ndarray:
    """Return feature rows as float32 (N, n_features) in training column order, checked.

    Parameters
    ----------
    X : array-like, shape (N, k)
        Feature rows (a pandas DataFrame's columns give ``names``).
    names : list of str or None
        Column names of ``X``; matched to ``feature_names`` (any order) when both exist and
        ``names`` are not headkit's placeholders ``x0, x1, ...``.
    feature_names : list of str
        The training columns (empty for a model trained on an unnamed array).
    n_features : int
        The network's input width.

    Raises
    ------
    DataError
        Missing or unexpected columns, wrong width, non-numeric or non-finite values.
    """
    if hasattr(X, "columns") and names is None:
        names = [str(c) for c in X.columns]
    X = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"Expected rows × features (2-D) input; got {X.ndim}-D.")
    if names and feature_names and not _generic(names):
        X = X[:, _column_order(names, feature_names)]
    if X.shape[1] != n_features:
        raise DataError(
            f"The input has {X.shape[1]} feature columns but the model takes {n_features}; "
            "give the columns it was trained on."
        )
    try:
        X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError):
        raise DataError("Some feature values are not numbers; give numeric columns only.") from None
    bad = ~np.isfinite(X)
    if bad.any():
        rows, cols = np.nonzero(bad)
        column = feature_names[cols[0]] if feature_names else f"x{cols[0]}"
        raise DataError(
            f"{len(set(rows.tolist()))} rows hold NaN or infinite values (first: row {rows[0]}, "
            f"column {column}); fill or drop them before predicting."
        )
    return X


def _column_order(names: list[str], feature_names: list[str]) -> list[int]:
    """Positions in ``names`` of each training column; DataError naming what does not match."""
    position = {name: i for i, name in enumerate(names)}
    known = set(feature_names)
    missing = [n for n in feature_names if n not in position]
    extra = [n for n in names if n not in known]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing columns {', '.join(missing[:8])}")
        if extra:
            parts.append(f"unexpected columns {', '.join(extra[:8])}")
        raise DataError(
            f"The input does not have the model's feature columns ({'; '.join(parts)}); "
            "give exactly the columns it was trained on."
        )
    return [position[n] for n in feature_names]
