"""Layer dropout with depth-increasing rates and a shared early-exit head (LayerSkip, B7).

Elhoushi et al. 2024, *LayerSkip: Enabling Early Exit Inference and Self-Speculative Decoding*:
in training, residual block l is skipped (is exactly the identity) with probability p_l rising
with depth, and the same head is trained on every block's output with per-exit loss scales; at
prediction a row can leave at the first exit that is confident enough.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

PROFILES = ("exp", "linear", "constant")


def layer_drop_rates(n_blocks: int, p_max: float, profile: str = "exp") -> list[float]:
    """Skip probability of each of ``n_blocks`` blocks, rising to ``p_max`` at the last.

    ``exp``: p_l = p_max·(e^{l·ln 2/(L−1)} − 1) (LayerSkip's profile: 0 at the first block);
    ``linear``: p_max·l/(L−1); ``constant``: p_max everywhere. One block gets p_max.

    Returns
    -------
    list of float, length n_blocks
        p_0 ≤ … ≤ p_{L−1} = p_max.
    """
    if not 0.0 <= p_max < 1.0:
        raise ValueError(f"p_max must be in [0, 1); got {p_max}.")
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}.")
    if n_blocks <= 1 or profile == "constant":
        return [float(p_max)] * n_blocks
    last = n_blocks - 1
    if profile == "linear":
        return [p_max * layer / last for layer in range(n_blocks)]
    return [p_max * (math.exp(layer * math.log(2.0) / last) - 1.0) for layer in range(n_blocks)]


def early_exit_weights(depths: list[int], n_blocks: int, scale: float) -> list[float]:
    """Loss scale of each exit, rising with depth, the last block's largest; they sum to 1.

    Exit at block l (0-based) of L gets ``scale·(l+1)/L``, the last block 1, then all are divided
    by their sum (LayerSkip normalises its rising scales the same way).

    Parameters
    ----------
    depths : list of int
        Block index of each exit, ascending, ending with ``n_blocks − 1``.
    n_blocks : int
        L.
    scale : float
        Weight of the intermediate exits relative to the last (0: only the last).
    """
    if scale < 0:
        raise ValueError(f"exit scale must be >= 0; got {scale}.")
    raw = [1.0 if d == n_blocks - 1 else scale * (d + 1) / n_blocks for d in depths]
    total = sum(raw)
    return [w / total for w in raw]


def first_confident_exit(probs: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """Pick, for each row, the first exit whose largest probability reaches ``threshold``.

    Parameters
    ----------
    probs : Tensor, shape (n_exits, N, C)
        Probabilities at each exit, shallow to deep; the last exit is the full network.
    threshold : float
        A row leaves at exit j when ``max_c probs[j, n, c] >= threshold``; rows never that
        confident leave at the last exit.

    Returns
    -------
    chosen : Tensor, shape (N, C)
        The probabilities at each row's exit.
    exit_index : Tensor of int64, shape (N,)
        The exit each row left at (0-based).
    """
    confident = probs.amax(-1) >= threshold  # (n_exits, N)
    confident[-1] = True
    exit_index = confident.to(torch.int64).argmax(0)  # first True
    chosen = probs.gather(0, exit_index[None, :, None].expand(1, *probs.shape[1:]))[0]
    return chosen, exit_index
