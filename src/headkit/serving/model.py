"""The model behind the server: loaded by the engine rule ``headkit predict`` follows.

The app needs little from a model (:class:`ServedModel`): probabilities of checked rows, the
label names and the columns. :func:`load_model` gives a :class:`headkit.inference.saved_model.SavedModel`
— ``engine="auto"`` runs a plain network on the NumPy engine (no torch import) and anything else
on torch, the same rule as ``headkit predict`` — or, for ``engine="onnx"``, the same object with
its forward pass run by onnxruntime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from headkit.exceptions import ConfigError
from headkit.serving.torch_engine import TorchNet


class ServedModel(Protocol):
    """What the app reads from a model (:class:`headkit.inference.saved_model.SavedModel` has it all).

    Attributes
    ----------
    classes : ndarray, shape (C,)
        Label names in probability-column order.
    feature_names : list of str
        Training columns (empty for an unnamed array).
    metadata : dict
        Saved metadata (target column, training config).
    preprocessing : dict or None
        The table preprocessing of a run fitted on a table (raw columns in, encoded by it).
    engine, multilabel, n_features
        What computes the forward pass; 0/1 indicator output; network input width.
    """

    classes: np.ndarray
    feature_names: list[str]
    metadata: dict[str, Any]
    preprocessing: dict[str, Any] | None

    @property
    def engine(self) -> str: ...

    @property
    def multilabel(self) -> bool: ...

    @property
    def n_features(self) -> int: ...

    def predict_proba(self, X: Any, names: list[str] | None = None) -> np.ndarray:
        """Probabilities of rows ``X`` (N, n_features) or a raw-column DataFrame → (N, C)."""
        ...


def load_model(run: str | Path, engine: str = "auto", threads: int = 1) -> ServedModel:
    """Load a run for serving with the given engine.

    Parameters
    ----------
    run : str or Path
        Run or model directory.
    engine : {"auto", "numpy", "torch", "onnx"}
        ``"numpy"`` and ``"torch"`` as :meth:`SavedModel.load`. ``"auto"``: the engine
        ``SavedModel.load(engine="auto")`` picks, as ``headkit predict`` does; when that is NumPy,
        a :class:`SplitModel` that sends calls of more than ``SPLIT_ROWS`` rows to torch.
        ``"onnx"``: the run exported in memory and run by onnxruntime (needs the onnx extra).
    threads : int
        onnxruntime's intra-op threads (the other engines: see :func:`limit_threads`).

    Raises
    ------
    ModelFileError, ConfigError
        A missing or corrupt run; an engine that cannot run this network.
    """
    from headkit.inference.saved_model import SavedModel

    if engine != "onnx":
        model = SavedModel.load(run, device="cpu", engine=engine)
        if model.engine == "numpy":
            model.network.min_rows = 1  # no padding: see NumpyHeadNet.min_rows
            if engine == "auto":
                return SplitModel(model, _torch_model(run))
            return model
        model.network = TorchNet(model.network)
        return model
    from headkit.serving.onnx_engine import OnnxNet

    model = SavedModel.load(run, device="cpu", engine="torch")
    model.network = OnnxNet.from_saved(model, threads)
    return model


def _torch_model(run: str | Path) -> Any:
    """A plain network on torch, its forward one traced call (:meth:`TorchNet.trace`)."""
    from headkit.inference.saved_model import SavedModel

    model = SavedModel.load(run, device="cpu", engine="torch")
    model.network = TorchNet(model.network)
    rows = np.random.default_rng(0).normal(size=(SPLIT_ROWS + 1, model.n_features))
    model.network.trace(rows.astype(np.float32))
    return model


SPLIT_ROWS = 128  # calls of more rows run on torch (measured: see SplitModel)


class SplitModel:
    """A plain network on two engines: NumPy for small calls, torch for large ones.

    NumPy answers a call of a few rows with little overhead, torch multiplies large batches
    faster. Measured on the default MNIST-1D network (2×128) at 1 thread on the development host
    (AMD EPYC, CPU µs per call, NumPy / torch's :class:`TorchNet`): 1 row 104 / 380, 64 rows
    329 / 559, 128 rows 532 / 664, 256 rows 958 / 938, 1,000 rows 3,594 / 2,631; and torch
    releases the GIL for the whole multiply, so a large call overlaps the event loop's parsing.
    Calls of at most :data:`SPLIT_ROWS` rows go to NumPy. Both compute the same eval-mode
    forward (within float32 rounding).

    Parameters
    ----------
    small, large : SavedModel
        The run loaded with ``engine="numpy"`` and ``engine="torch"``.
    """

    engine = "numpy+torch"

    def __init__(self, small: Any, large: Any) -> None:
        self.small, self.large = small, large
        self.network = small.network
        self.classes = small.classes
        self.feature_names = small.feature_names
        self.metadata = small.metadata
        self.preprocessing = small.preprocessing
        self.multilabel = small.multilabel
        self.n_features = small.n_features
        self.path = small.path
        row = warm_up_rows(small)  # one valid row (raw columns for a table model)
        many = [0] * (SPLIT_ROWS + 1)
        large.predict_proba(row.iloc[many] if hasattr(row, "iloc") else row[many])  # warm torch

    def predict_proba(self, X: Any, names: list[str] | None = None) -> np.ndarray:
        """Probabilities of rows ``X`` on NumPy (≤ SPLIT_ROWS rows) or torch, (N, C) float64."""
        model = self.small if len(X) <= SPLIT_ROWS else self.large
        return model.predict_proba(X, names)


def table_columns(model: ServedModel) -> list[dict[str, Any]]:
    """The raw-column entries (name, role, categories) of a table model; [] for a plain one."""
    if model.preprocessing is None:
        return []
    return [dict(entry) for entry in model.preprocessing["columns"]]


def warm_up_rows(model: ServedModel) -> Any:
    """One valid row for the readiness call: zeros, or for a table a known value per column."""
    columns = table_columns(model)
    if not columns:
        return np.zeros((1, model.n_features), dtype=np.float32)
    import pandas as pd

    row: dict[str, Any] = {}
    for entry in columns:
        if entry["role"] == "numeric":
            row[entry["name"]] = 0.0
        elif entry["role"] == "onehot" and entry["categories"]:
            row[entry["name"]] = entry["categories"][0]
        else:
            row[entry["name"]] = None
    return pd.DataFrame([row])


def limit_threads(threads: int, engine: str) -> None:
    """Cap the BLAS (NumPy engine) or torch threads of this process for the model calls."""
    if threads < 1:
        raise ConfigError("--threads must be positive; give a number above 0.")
    if "torch" in engine:
        import torch

        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a scikit-learn dependency, always there
        return
    threadpool_limits(limits=threads)
