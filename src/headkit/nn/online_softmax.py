"""The ``online_softmax`` output map: softmax from a single-pass, chunked normaliser."""

from __future__ import annotations

from torch import Tensor

from headkit.functional.online_softmax import online_logsumexp, online_softmax, softmax_topk
from headkit.nn.outputs import OUTPUTS, Softmax


@OUTPUTS.register("online_softmax")
class OnlineSoftmax(Softmax):
    """Softmax from the online (single-pass) normaliser; ``.topk(logits, k)`` fused.

    The probabilities equal :class:`headkit.nn.Softmax`'s (up to rounding); :meth:`topk` returns
    the k largest probabilities and their classes from the same pass (Milakov & Gimelshein 2018).

    Parameters
    ----------
    chunk_size : int
        Classes per step of the online normaliser.

    Shape
    -----
    Input (..., C) logits; output (..., C) probabilities.
    """

    def __init__(self, chunk_size: int = 1024) -> None:
        super().__init__(1.0)
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1; got {chunk_size}.")
        self.chunk_size = chunk_size

    def forward(self, logits: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is not None:
            return super().forward(logits, mask)
        return online_softmax(logits, -1, self.chunk_size)

    def log_prob(self, logits: Tensor, mask: Tensor | None = None) -> Tensor:
        """Return ``logits − (m + log d)``, shape (..., C)."""
        if mask is not None:
            return super().log_prob(logits, mask)
        lse = online_logsumexp(logits, -1, self.chunk_size)
        return (logits.to(lse.dtype) - lse.unsqueeze(-1)).to(logits.dtype)

    def topk(self, logits: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Return the k largest probabilities (..., k) and their class indices (..., k)."""
        return softmax_topk(logits, k, -1, self.chunk_size)

    def extra_repr(self) -> str:
        return f"chunk_size={self.chunk_size}"
