"""Dropout-family functions: random masks and noise on activations or weights."""

from __future__ import annotations

from torch import Tensor

from headkit.functional._masks import keep_mask


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout (Srivastava et al. 2014).

    Each element is zeroed with probability ``p`` and survivors are scaled by ``1 / (1 - p)``, so
    the expectation equals ``x``; identity when ``training`` is false or ``p == 0``.

    Parameters
    ----------
    x : Tensor, shape (...)
        Activations.
    p : float
        Drop probability in [0, 1).
    training : bool
        Apply the mask; when false, return ``x`` unchanged.

    Returns
    -------
    Tensor, same shape as ``x``
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout rate p must be in [0, 1); got {p}.")
    if not training or p == 0.0:
        return x
    mask, keep = keep_mask(x.shape, p, x.device)
    return x * mask.to(x.dtype).mul_(1.0 / keep)  # one multiply in the autograd graph
