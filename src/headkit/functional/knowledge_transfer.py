"""Distillation from the teacher's probability of the sampled label only (Zhao & Zhu 2023).

"Towards the Fundamental Limits of Knowledge Transfer over Finite Domains": when each training
row comes with its label ``a`` and the teacher's probability ``π*(a|x)`` of that one label (not
the full distribution), the naive adaptation of cross-entropy, ``−π*(a|x)·log q(a|x)``, is
biased — its population minimiser is ``q ∝ π*²`` — while a squared error on logits is not. We
regress the student's normalised logit (its log-probability) of the sampled label onto the
teacher's: ``(log q(a|x) − log π*(a|x))²``, whose population minimiser over labels drawn from
π* is ``q = π*``. [K] The paper's exact empirical variant may normalise differently; this is
the form whose unbiasedness we test.
"""

from __future__ import annotations

import torch
from torch import Tensor

from headkit.exceptions import DataError


def sampled_label_logit_loss(
    logits: Tensor, target: Tensor, teacher_log_prob: Tensor, ignore_index: int = -100
) -> Tensor:
    """Squared error between the student's and the teacher's log-probability of the label.

    ``L = mean_i (log_softmax(z_i)[a_i] − log π*(a_i | x_i))²``.

    Parameters
    ----------
    logits : Tensor, shape (N, C)
        Student logits z.
    target : Tensor, shape (N,) int64
        The sampled labels a_i (rows equal to ``ignore_index`` are skipped).
    teacher_log_prob : Tensor, shape (N,)
        ``log π*(a_i | x_i)``, the teacher's log-probability of each row's label (finite).
    ignore_index : int
        Label value of rows to skip.

    Returns
    -------
    Tensor, shape ()
    """
    if logits.dim() != 2 or target.shape != logits.shape[:1]:
        raise DataError(
            f"logits must be (N, C) and target (N,); got {tuple(logits.shape)} and "
            f"{tuple(target.shape)}."
        )
    if teacher_log_prob.shape != target.shape:
        raise DataError(
            f"teacher_log_prob must hold one value per row, shape {tuple(target.shape)}; got "
            f"{tuple(teacher_log_prob.shape)}."
        )
    keep = target != ignore_index
    log_q = torch.log_softmax(logits[keep].double(), -1)
    picked = log_q.gather(-1, target[keep].unsqueeze(-1)).squeeze(-1)
    goal = teacher_log_prob[keep].detach().double()
    if not torch.isfinite(goal).all():
        raise DataError("teacher_log_prob must be finite (the teacher gave a label probability 0).")
    if picked.numel() == 0:
        return logits.sum() * 0.0
    return ((picked - goal) ** 2).mean().to(logits.dtype)


def naive_sampled_label_ce(logits: Tensor, target: Tensor, teacher_log_prob: Tensor) -> Tensor:
    """The biased baseline ``mean_i −π*(a_i|x_i)·log q(a_i|x_i)`` (shape ()), for comparison."""
    log_q = torch.log_softmax(logits.double(), -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return (-teacher_log_prob.detach().double().exp() * log_q).mean().to(logits.dtype)
