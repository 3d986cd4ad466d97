"""Online (single-pass) softmax normaliser, its parallel merge, and a fused softmax + top-k.

Milakov & Gimelshein (2018), "Online normalizer calculation for softmax": one pass over the
logits keeps a running maximum ``m`` and a normaliser ``d = Σ exp(x_j − m)`` rescaled whenever
the maximum grows,

    m_j = max(m_{j−1}, x_j),    d_j = d_{j−1}·exp(m_{j−1} − m_j) + exp(x_j − m_j),

and two partial results combine with the associative, commutative merge

    (m, d) ⊕ (m′, d′) = (M, d·exp(m − M) + d′·exp(m′ − M)),   M = max(m, m′),

so the logits can be visited in chunks, in any order or in parallel. ``m + log d`` is the
log-sum-exp and ``softmax(x)_i = exp(x_i − m)/d``. The fused variant keeps a running top-k of
the logits in the same pass, so the k largest probabilities come out without a second pass.
A chunk (or a whole row) of −inf has ``(m, d) = (−inf, 0)``, the identity of the merge.
"""

from __future__ import annotations

import torch
from torch import Tensor

from headkit.exceptions import DataError
from headkit.functional.softmax import check_class_dim

Normalizer = tuple[Tensor, Tensor]


def _chunk_normalizer(x: Tensor) -> Normalizer:
    """(m, d) of the last dimension of ``x`` in one vectorised step, shapes (...,)."""
    m = x.amax(dim=-1)
    shift = torch.where(torch.isneginf(m), torch.zeros_like(m), m)  # all −inf: d = 0, not NaN
    d = torch.exp(x - shift.unsqueeze(-1)).sum(-1)
    return m, d


def merge_normalizers(a: Normalizer, b: Normalizer) -> Normalizer:
    """Merge two partial normalisers: ``(m, d) ⊕ (m′, d′)``.

    Parameters
    ----------
    a, b : tuple of Tensor
        ``(m, d)`` pairs of broadcastable shapes: running maxima and normalisers.

    Returns
    -------
    tuple of Tensor
        ``(M, d·exp(m − M) + d′·exp(m′ − M))`` with ``M = max(m, m′)``; a side with
        ``m = −inf`` (no finite logit yet) contributes 0.
    """
    (m1, d1), (m2, d2) = a, b
    big = torch.maximum(m1, m2)
    shift = torch.where(torch.isneginf(big), torch.zeros_like(big), big)
    return big, d1 * torch.exp(m1 - shift) + d2 * torch.exp(m2 - shift)


def _chunks(x: Tensor, chunk_size: int | None):
    if chunk_size is None:
        return [x]
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise DataError(f"chunk_size must be a positive int; got {chunk_size!r}.")
    return x.split(chunk_size, dim=-1)


def online_normalizer(x: Tensor, dim: int = -1, chunk_size: int | None = 1024) -> Normalizer:
    """Return the softmax normaliser ``(m, d)`` of ``x`` along ``dim`` in one pass over chunks.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits (computed in float32 or wider).
    dim : int
        The class dimension.
    chunk_size : int or None
        Entries visited per step; 1 is the element-wise recurrence, ``None`` one step.

    Returns
    -------
    m, d : Tensor, shape of ``x`` without ``dim``
        ``m = max x`` and ``d = Σ exp(x − m)``; ``m + log d = logsumexp(x)``.
    """
    dim = check_class_dim(x, dim)
    z = x.movedim(dim, -1)
    z = z.float() if z.dtype in (torch.float16, torch.bfloat16) else z
    state = None
    for chunk in _chunks(z, chunk_size):
        part = _chunk_normalizer(chunk)
        state = part if state is None else merge_normalizers(state, part)
    assert state is not None  # the class dimension is not empty
    return state


def online_logsumexp(x: Tensor, dim: int = -1, chunk_size: int | None = 1024) -> Tensor:
    """Return ``m + log d`` from :func:`online_normalizer`, shape of ``x`` without ``dim``."""
    m, d = online_normalizer(x, dim, chunk_size)
    return m + torch.log(d)


def online_softmax(x: Tensor, dim: int = -1, chunk_size: int | None = 1024) -> Tensor:
    """Softmax from the online normaliser: ``exp(x_i − m)/d``.

    Equivalent to ``torch.softmax(x, dim)``, with the normaliser gathered in one pass over
    chunks of ``chunk_size`` classes (see :func:`online_normalizer`).

    Returns
    -------
    Tensor, same shape and dtype as ``x``
    """
    dim = check_class_dim(x, dim)
    m, d = online_normalizer(x, dim, chunk_size)
    z = x.movedim(dim, -1).to(m.dtype)
    return (torch.exp(z - m.unsqueeze(-1)) / d.unsqueeze(-1)).movedim(-1, dim).to(x.dtype)


def softmax_topk(
    x: Tensor, k: int, dim: int = -1, chunk_size: int | None = 1024
) -> tuple[Tensor, Tensor]:
    """The k largest softmax probabilities and their indices, in one pass over the logits.

    Each chunk updates the running normaliser ``(m, d)`` and a running top-k of the logits;
    at the end the kept logits become probabilities ``exp(v − m)/d``. Equivalent to
    ``torch.softmax(x, dim).topk(k, dim)`` without materialising the probabilities.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits.
    k : int
        1 ≤ k ≤ C.
    dim : int
        The class dimension.
    chunk_size : int or None
        Classes per step.

    Returns
    -------
    values : Tensor, shape of ``x`` with ``dim`` of size k
        Probabilities in descending order.
    indices : Tensor of int64, same shape
        Their class indices.
    """
    dim = check_class_dim(x, dim)
    n = x.shape[dim]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise DataError(f"k must be an int in [1, {n}] (the number of classes); got {k!r}.")
    z = x.movedim(dim, -1)
    z = z.float() if z.dtype in (torch.float16, torch.bfloat16) else z
    state, top_v, top_i, offset = None, None, None, 0
    for chunk in _chunks(z, chunk_size):
        part = _chunk_normalizer(chunk)
        state = part if state is None else merge_normalizers(state, part)
        v, i = chunk.topk(min(k, chunk.shape[-1]), dim=-1)
        i = i + offset
        offset += chunk.shape[-1]
        if top_v is not None:
            v, pick = torch.cat([top_v, v], -1).topk(min(k, top_v.shape[-1] + v.shape[-1]), -1)
            i = torch.cat([top_i, i], -1).gather(-1, pick)
        top_v, top_i = v, i
    assert state is not None and top_v is not None and top_i is not None
    m, d = state
    probs = torch.exp(top_v - m.unsqueeze(-1)) / d.unsqueeze(-1)
    return probs.movedim(-1, dim).to(x.dtype), top_i.movedim(-1, dim)
