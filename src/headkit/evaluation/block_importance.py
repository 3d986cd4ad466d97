"""Per-block importance of a fitted network under a named criterion; the ``BLOCK_CRITERIA`` table.

``block_importance(model, X, "angular")`` runs ``X`` through the network in eval mode and scores
every Dense block with a criterion of :mod:`headkit.functional.block_importance`:

| name | criterion | low means |
|---|---|---|
| cosine | 1 − mean cos(h_in, h_out) | the block keeps its input's direction |
| angular | mean arccos(cos(h_in, h_out))/π, in [0, 1] | same, as an angle |
| l2 | mean abs(‖h_out‖ − ‖h_in‖)/‖h_in‖ | a *void*: the block barely changes the norm |

Width-changing blocks get NaN (they cannot be dropped anyway). Drop the lowest-scoring blocks
with :meth:`headkit.nn.HeadNet.drop_blocks`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from headkit.functional import block_importance as B
from headkit.registry import Registry

BLOCK_CRITERIA = Registry("block importance criterion")


class _Criterion:
    n = 1  # blocks spanned by one score

    def score(self, h_in: Tensor, h_out: Tensor) -> Tensor:
        raise NotImplementedError


@BLOCK_CRITERIA.register("cosine")
class CosineImportance(_Criterion):
    """1 − mean cos(h_in, h_out) per block (He et al. 2024)."""

    def score(self, h_in: Tensor, h_out: Tensor) -> Tensor:
        return B.cosine_importance(h_in, h_out)


@BLOCK_CRITERIA.register("angular")
class AngularDistance(_Criterion):
    """Angular distance arccos(cos(h_in, h_out))/π per run of n blocks, in [0, 1] (Gromov et al.).

    With ``n > 1`` the score of position l compares the input of block l with the output of block
    l + n − 1: the n-block run with the smallest distance is the one to prune.
    """

    def __init__(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError(f"n (blocks per run) must be >= 1; got {n}.")
        self.n = n

    def score(self, h_in: Tensor, h_out: Tensor) -> Tensor:
        return B.angular_distance(h_in, h_out)


@BLOCK_CRITERIA.register("l2")
class L2NormChange(_Criterion):
    """Relative change of the activation L2 norm per block; small = void (L2 adaptive computation)."""

    def score(self, h_in: Tensor, h_out: Tensor) -> Tensor:
        return B.l2_norm_change(h_in, h_out)


def _network(model: Any) -> Any:
    return getattr(model, "model_", model)  # a fitted HeadClassifier or a HeadNet


def block_importance(model: Any, X: Any, criterion: str = "cosine") -> np.ndarray:
    """Score every Dense block of ``model`` on the rows ``X``.

    Parameters
    ----------
    model : HeadClassifier or HeadNet
        A fitted estimator (its network is used) or a network.
    X : array-like, shape (N, n_features)
        Raw features (the network applies its own standardisation).
    criterion : str
        A ``BLOCK_CRITERIA`` name: ``"cosine"``, ``"angular"`` or ``"l2"``.

    Returns
    -------
    ndarray, shape (n_blocks − n + 1,)
        The criterion per block (per run of n blocks for ``"angular:n=N"``); NaN where the
        width changes.
    """
    rule = BLOCK_CRITERIA.build(criterion)
    net = _network(model)
    reference = next(net.buffers())
    xs = torch.as_tensor(np.asarray(X, dtype=np.float32)).to(reference.device)
    was_training = net.training
    net.eval()
    with torch.no_grad():
        acts = net.layer_outputs(xs.to(reference.dtype), include_input=True)
    net.train(was_training)
    pairs = zip(acts[: len(acts) - rule.n], acts[rule.n :], strict=True)
    values = [
        float(rule.score(a.double(), b.double())) if a.shape == b.shape else float("nan")
        for a, b in pairs
    ]
    return np.array(values, dtype=np.float64)


def void_blocks(model: Any, X: Any, threshold: float = 0.1) -> np.ndarray:
    """Return a bool per block: its L2 norm change is at most ``threshold`` × the largest one."""
    change = torch.as_tensor(block_importance(model, X, "l2"))
    return B.void_mask(change, threshold).numpy()
