"""Predict with a saved model: the lean path behind ``headkit predict``, export and serving.

:class:`SavedModel` holds a loaded network with its label names and feature names, checks
incoming columns, and returns probabilities through :meth:`headkit.nn.HeadNet.predict_proba`
(the one place that maps logits to probabilities). It imports torch and NumPy but not
scikit-learn, so a ``headkit predict`` process starts in about a third of the time the estimator
takes to import.

The batched loops over NumPy rows live here too (:func:`predict_arrays`,
:func:`penultimate_features`, :func:`mc_predict_arrays`): the estimator, calibration and the
report call them instead of writing their own. Each puts the network in eval mode, runs without
gradients on the network's device and returns CPU tensors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from headkit.exceptions import DataError, ModelFileError

if TYPE_CHECKING:
    from headkit.nn.network import HeadNet
    from headkit.nn.uncertainty import MCPrediction

PREDICT_BATCH = 8192
PREPROCESSING_FILE = "preprocessing.json"  # a table run's fitted TablePreprocessor state


class Prediction(NamedTuple):
    """Batched prediction of :func:`predict_arrays` (CPU).

    Attributes
    ----------
    logits : Tensor, shape (N, C), float32
    proba : Tensor, shape (N, C), float64
        ``HeadNet.probabilities(logits)``, the output map evaluated in float64.
    log_proba : Tensor, shape (N, C), float64, or None
        ``HeadNet.log_probabilities(logits)`` when asked for.
    """

    logits: Tensor
    proba: Tensor
    log_proba: Tensor | None


def as_tensor(array: np.ndarray) -> Tensor:
    """Return a tensor over ``array``'s data, copying read-only or non-contiguous input."""
    if not array.flags.writeable or not array.flags.c_contiguous:
        array = np.array(array, order="C")
    return torch.from_numpy(array)


def device_of(model: nn.Module) -> torch.device:
    """Return the device of the model's first buffer (HeadNet always has buffers)."""
    return next(model.buffers()).device


@torch.no_grad()
def map_batches(
    model: nn.Module,
    X: np.ndarray,
    step: Callable[[Tensor], dict[str, Tensor]],
    batch_size: int | None = None,
    threads: int | None = None,
) -> dict[str, Tensor]:
    """Apply ``step`` to batches of rows of X on the model's device; concatenate on the CPU.

    Parameters
    ----------
    model : nn.Module
        Only its device is read (the caller sets its mode).
    X : ndarray or SciPy sparse matrix, shape (N, F)
        Rows (float32 for a HeadNet).
    step : callable
        Batch (B, F) tensor → dict of tensors with B rows.
    batch_size : int, optional
        Rows per batch (default ``PREDICT_BATCH``, read at call time).
    threads : int, optional
        Intra-op CPU threads; ``None`` lets :mod:`headkit.threads` choose by the work
        per batch and the free cores. torch's global setting is restored afterwards.
    """
    from headkit.data.sparse import SparseRows, is_sparse
    from headkit.threads import intra_op_threads, resolve_threads, step_flops

    batch_size = batch_size or PREDICT_BATCH
    device = device_of(model)
    rows = SparseRows(X) if is_sparse(X) else None  # densified one batch at a time
    flops = step_flops(model, min(batch_size, max(X.shape[0], 1)), backward=False)
    parts: dict[str, list[Tensor]] = {}
    with intra_op_threads(resolve_threads(threads, flops)):
        for start in range(0, max(X.shape[0], 1), batch_size):
            part = (
                X[start : start + batch_size] if rows is None else rows[start : start + batch_size]
            )
            batch = (as_tensor(part) if rows is None else part).to(device)
            for key, value in step(batch).items():
                parts.setdefault(key, []).append(value.detach().cpu())
    return {key: torch.cat(values) for key, values in parts.items()}


def predict_arrays(
    net: HeadNet, X: np.ndarray, log_proba: bool = False, threads: int | None = None
) -> Prediction:
    """Return logits, probabilities (and log-probabilities) of rows X, shape (N, C) each."""
    net.eval()

    def step(x: Tensor) -> dict[str, Tensor]:
        z = net(x)
        # The output map runs in float64: float32 rounds confident rows' probabilities to exactly
        # 1 and 0 (log(0) = -inf where log_softmax is finite; ties in the top probability).
        z64 = z.double()
        out = {"logits": z.float(), "proba": net.probabilities(z64)}
        if log_proba:
            out["log_proba"] = net.log_probabilities(z64)
        return out

    result = map_batches(net, X, step, threads=threads)
    return Prediction(result["logits"], result["proba"], result.get("log_proba"))


def penultimate_features(net: HeadNet, X: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Return the trunk's output (penultimate features) of rows X in eval mode, (N, D) float64."""
    net.eval()
    features = map_batches(net, X, lambda x: {"f": net.features(x).double()}, threads=threads)
    return features["f"].numpy()


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block with torch's global RNG (and the CUDA one of ``device``) seeded, then restore."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def mc_predict_arrays(
    net: HeadNet, X: np.ndarray, samples: int, seed: int, threads: int | None = None
) -> MCPrediction:
    """MC-dropout prediction of rows X (see :func:`headkit.nn.mc_predict`), seeded by ``seed``.

    The same network, rows, ``samples`` and ``seed`` give the same result, before and after a
    save/load.
    """
    from headkit.nn.uncertainty import MCPrediction, mc_predict

    with seeded(seed, device_of(net)):
        parts = map_batches(
            net, X, lambda x: mc_predict(net, x, samples=samples)._asdict(), threads=threads
        )
    return MCPrediction(**parts)


def _generic(names: list[str]) -> bool:
    """True for the placeholder names headkit gives array columns (x0, x1, ...)."""
    return all(name == f"x{i}" for i, name in enumerate(names))


@dataclass
class SavedModel:
    """A saved classifier ready to predict, without scikit-learn.

    Attributes
    ----------
    network : HeadNet
        In eval mode.
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

    network: HeadNet
    classes: np.ndarray
    feature_names: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, Any] | None = None

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> SavedModel:
        """Load a run or model directory written by ``headkit train`` or ``HeadClassifier.save``.

        Raises
        ------
        ModelFileError
            Missing, corrupt or bare-network directories.
        """
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
    def n_features(self) -> int:
        """Width of the network's input."""
        return self.network.config.n_features

    def align(self, X: Any, names: list[str] | None = None) -> np.ndarray:
        """Return the rows as float32 (N, n_features) in training column order; see :func:`align_rows`."""
        return align_rows(X, names, self.feature_names, self.n_features)

    def predict_proba(self, X: Any, names: list[str] | None = None) -> np.ndarray:
        """Return probabilities, shape (N, C), columns in ``classes`` order.

        float64 like :meth:`headkit.HeadClassifier.predict_proba` (computed in float32).
        """
        if self.preprocessing is not None:
            X = self._encode_table(X, names)
            names = None
        proba = predict_arrays(self.network, self.align(X, names)).proba
        return proba.numpy().astype(np.float64)

    def _encode_table(self, X: Any, names: list[str] | None) -> np.ndarray:
        import pandas as pd

        from headkit.data.preprocessing import TablePreprocessor

        if not hasattr(X, "columns"):
            X = pd.DataFrame(X, columns=names)
        return TablePreprocessor.from_dict(self.preprocessing).transform(X)


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
