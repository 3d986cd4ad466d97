"""The batched torch loops over NumPy rows: logits, probabilities, features, MC dropout.

:func:`predict_arrays`, :func:`penultimate_features` and :func:`mc_predict_arrays` are the one
batched eval-mode forward: the estimator, calibration, the report and
:class:`headkit.inference.saved_model.SavedModel` call them
instead of writing their own. Each puts the network in eval mode, runs without gradients on the
network's device and returns CPU tensors. No scikit-learn import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from headkit.config import PREDICT_BATCH

if TYPE_CHECKING:
    from headkit.nn.network import HeadNet
    from headkit.nn.uncertainty import MCPrediction

__all__ = [
    "PREDICT_BATCH",
    "Prediction",
    "as_tensor",
    "device_of",
    "map_batches",
    "mc_predict_arrays",
    "penultimate_features",
    "predict_arrays",
    "seeded",
]


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
