"""Partial FC: class-centre sampling with sparse row updates (``head="partial_fc:r=0.1"``).

An, Zhu, Xiao et al., "Partial FC: Training 10 Million Identities on a Single Machine" (ICCVW 2021):
each step's softmax runs over the batch's positive class centres plus a uniform random sample of the
other centres drawn without replacement (|S| = max(#positives, ⌈r·C⌉), sample rate r), so the cost
per step is O(r·C·D) instead of O(C·D), and only the touched rows of the C×D centre matrix get a
gradient. The gradient is a sparse row tensor (``F.embedding(..., sparse=True)``) and the head's own
optimiser (:meth:`PartialFC.configure_optimizer`) updates only those rows, so no C×D dense gradient
or optimiser state is ever allocated (with plain SGD).

Logits are plain ``x Wᵀ`` or, with ``s`` set, normalised cosines ``s·cos θ`` with an optional
CosFace (``cos θ − m``) or ArcFace (``cos(θ + m)``) margin on the target class, computed by the
same :mod:`headkit.functional.margins` functions as the ``cosface`` and ``arcface`` heads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from headkit.exceptions import ConfigError
from headkit.functional.class_sampling import sample_classes
from headkit.functional.linear_ce import linear_cross_entropy
from headkit.functional.margins import arcface_logits, cosface_logits, cosine_similarity
from headkit.nn.heads import HEADS

MARGINS = {"cosface": cosface_logits, "arcface": arcface_logits}


class RowSparseSGD(torch.optim.Optimizer):
    """SGD that updates only the rows present in a sparse (COO) row gradient.

    Weight decay and momentum act on the touched rows only ("lazy" updates). Momentum keeps a
    dense buffer the size of the parameter, allocated on the first step with ``momentum > 0``;
    with ``momentum=0`` the optimiser holds no state at all. Dense gradients are accepted too.
    ``cycle_momentum = False`` tells the trainer's one-cycle schedule to leave momentum alone.
    """

    cycle_momentum = False

    def __init__(
        self, params: Iterable[Tensor], lr: float, momentum: float = 0.0, weight_decay: float = 0.0
    ) -> None:
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ConfigError(
                f"RowSparseSGD needs lr > 0, 0 <= momentum < 1, weight_decay >= 0; got lr={lr}, "
                f"momentum={momentum}, weight_decay={weight_decay}."
            )
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        """Apply one update to the rows with a gradient."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, mom, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    g = p.grad.coalesce()
                    rows, vals = g.indices()[0], g.values()
                else:
                    rows, vals = None, p.grad
                data = p if rows is None else p.index_select(0, rows)
                if wd:
                    vals = vals + wd * data
                if mom:
                    state = self.state[p]
                    if "momentum" not in state:
                        state["momentum"] = torch.zeros_like(p)
                    buf = state["momentum"]
                    if rows is None:
                        vals = buf.mul_(mom).add_(vals)
                    else:
                        vals = buf.index_select(0, rows).mul_(mom).add_(vals)
                        buf.index_copy_(0, rows, vals)
                if rows is None:
                    p.add_(vals, alpha=-lr)
                else:
                    p.index_add_(0, rows, vals.to(p.dtype), alpha=-lr)
        return loss


class PartialFC(nn.Module):
    """Partial FC: softmax over positives + sampled negatives, sparse row updates.

    Parameters
    ----------
    in_features, n_classes : int
        D and C.
    sample_rate : float
        r in (0, 1]: fraction of the C centres drawn as negatives each step (1 = full softmax).
        Spec option ``sample_rate`` (``r``, its former name, is still read).
    s : float, optional
        Scale of normalised-cosine logits ``s·cos θ``; ``None`` gives plain ``x Wᵀ`` logits.
    m : float
        Margin ≥ 0 on the target class in training only (needs ``s``).
    margin_type : {"cosface", "arcface"}
        ``s(cos θ − m)`` or ``s·cos(θ + m)`` (with ArcFace's fallback past θ = π − m).
    optimizer : {"sgd", "sparse_adam"}
        Row-sparse SGD (:class:`RowSparseSGD`; no state without momentum) or
        ``torch.optim.SparseAdam`` (dense moment buffers, 2·C·D floats).
    lr : float, optional
        Learning rate of the head's optimiser; defaults to the trainer's.
    momentum : float
        Momentum of the SGD optimiser (a dense C×D buffer when > 0).

    Shape
    -----
    ``forward``: (..., D) → (..., C) full logits (computed over class chunks without autograd);
    ``training_loss``: features (N, D) or (k, N, D), target (N,) → scalar.
    """

    row_sparse = True  # sparse row gradients: averaged by a hook under DDP, not by buckets

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        sample_rate: float = 0.1,
        s: float | None = None,
        m: float = 0.0,
        margin_type: str = "cosface",
        optimizer: str = "sgd",
        lr: float | None = None,
        momentum: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 < sample_rate <= 1.0:
            raise ConfigError(f"sample_rate must be in (0, 1]; got {sample_rate}.")
        if margin_type not in MARGINS:
            raise ConfigError(f"margin_type must be 'cosface' or 'arcface'; got {margin_type!r}.")
        if m and s is None:
            raise ConfigError("A margin m needs normalised-cosine logits; set s (e.g. 30).")
        if optimizer not in ("sgd", "sparse_adam"):
            raise ConfigError(f"optimizer must be 'sgd' or 'sparse_adam'; got {optimizer!r}.")
        self.in_features, self.n_classes = in_features, n_classes
        self.sample_rate, self.s, self.m, self.margin_type = sample_rate, s, m, margin_type
        self.optimizer, self.lr, self.momentum = optimizer, lr, momentum
        self.weight = nn.Parameter(torch.empty(n_classes, in_features))
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(in_features))

    def _logits(self, x: Tensor, w: Tensor, target: Tensor | None) -> Tensor:
        if self.s is None:
            return x @ w.T
        cosine = cosine_similarity(x, w)
        if target is None or not self.m:
            return self.s * cosine
        return MARGINS[self.margin_type](cosine, target, self.s, self.m)

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        """Return logits over all C classes, shape (..., C); margins only in training."""
        use_target = target if (self.training and target is not None) else None
        if use_target is not None or torch.is_grad_enabled():
            return self._logits(x, self.weight, use_target)
        chunk = max(1, (64 * 2**20) // max(1, 4 * x.numel() // x.shape[-1]))
        out = x.new_empty(*x.shape[:-1], self.n_classes)
        for c0 in range(0, self.n_classes, chunk):
            c1 = min(self.n_classes, c0 + chunk)
            out[..., c0:c1] = self._logits(x, self.weight[c0:c1], None)
        return out

    def training_loss(self, features: Tensor, target: Tensor) -> Tensor:
        """Return the sampled-softmax cross-entropy of one batch, shape ().

        Uses the positives of ``target`` plus random negatives drawn without replacement, so
        ``max(#positives, ⌈sample_rate·C⌉)`` centres exactly (:func:`sample_classes`); the
        gradient of ``weight`` is a sparse tensor holding only those rows.
        """
        if features.dim() == target.dim() + 2:
            target = target.expand(features.shape[0], *target.shape)
        x, y = features.reshape(-1, features.shape[-1]), target.reshape(-1)
        index = sample_classes(y, self.n_classes, self.sample_rate)
        local = torch.searchsorted(index, y)
        w = F.embedding(index, self.weight, sparse=True)
        if self.s is None:
            return linear_cross_entropy(x, w, local)
        if not self.m:
            return linear_cross_entropy(
                self.s * F.normalize(x, dim=-1), F.normalize(w, dim=-1), local
            )
        return F.cross_entropy(self._logits(x, w, local).float(), local)

    def configure_optimizer(self, lr: float, weight_decay: float) -> torch.optim.Optimizer:
        """Return the head's own row-sparse optimiser (the trainer steps it beside AdamW)."""
        step = self.lr if self.lr is not None else lr
        if self.optimizer == "sparse_adam":
            return torch.optim.SparseAdam([self.weight], lr=step)
        return RowSparseSGD(
            [self.weight], lr=step, momentum=self.momentum, weight_decay=weight_decay
        )

    def extra_repr(self) -> str:
        text = f"in_features={self.in_features}, n_classes={self.n_classes}, "
        text += f"sample_rate={self.sample_rate}, optimizer={self.optimizer}"
        if self.s is not None:
            text += f", s={self.s}, m={self.m}, margin_type={self.margin_type}"
        return text


HEADS.register("partial_fc", aliases={"r": "sample_rate", "scale": "s", "margin": "m"})(PartialFC)
