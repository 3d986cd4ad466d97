"""The packed members' network: K HeadNets of one config as one module with a member dimension.

See :mod:`headkit.training.packed` for the fit loop. The first Dense layer is one product of the
shared batch with the K first layers side by side ``(F, K·H₁)``; every later layer is a batched
product (``torch.baddbmm``) of (K, N, H) activations with (K, H, H') weights; the head another.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from headkit.functional.dropout import dropout
from headkit.nn.dropout import Dropout
from headkit.nn.loss_variants import LabelSmoothingLoss
from headkit.nn.losses import CrossEntropyLoss
from headkit.nn.network import HeadNet


def packable(net: HeadNet, criterion: nn.Module) -> bool:
    """True when K copies of ``net`` train packed with ``criterion`` exactly as apart.

    Plain Dense blocks (linear with a bias → parameter-free activation → plain dropout), a linear
    head with a bias, a softmax cross-entropy (smoothed or class-weighted: a mean over rows).
    """
    blocks = list(net.trunk.blocks)
    return (
        bool(blocks)
        and _row_mean(criterion)
        and type(net.trunk.input_dropout) is nn.Identity
        and not any(net.trunk.drop_rates)
        and getattr(net.head, "bias", None) is not None
        and type(getattr(net.head, "weight", None)) is nn.Parameter
        and all(
            type(b.linear) is nn.Linear
            and b.linear.bias is not None
            and type(b.norm) is nn.Identity
            and b.skip is None
            and not list(b.activation.parameters())
            and type(b.dropout) in (Dropout, nn.Identity)
            for b in blocks
        )
        and not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())
    )


def _row_mean(criterion: nn.Module) -> bool:
    """True for softmax cross-entropy, label-smoothed or not: a (weighted) mean over rows."""
    if type(criterion) is LabelSmoothingLoss:
        criterion = criterion.base
    return type(criterion) is CrossEntropyLoss


def _smoothing(criterion: nn.Module) -> float | None:
    """The label smoothing ε of an unweighted softmax cross-entropy; None for another loss."""
    if type(criterion) is LabelSmoothingLoss and criterion.weight is None:
        base = criterion.base
        plain = type(base) is CrossEntropyLoss and not base.label_smoothing
        return criterion.epsilon if plain and base.weight is None else None
    if type(criterion) is CrossEntropyLoss and criterion.weight is None:
        return criterion.label_smoothing
    return None


def member_losses(criterion: nn.Module, logits: Tensor, target: Tensor) -> Tensor:
    """Each member's mean loss, shape (K,), for a :func:`packable` criterion.

    Without class weights one ``torch.nn.functional.cross_entropy`` over the K·N rows (its
    ``label_smoothing`` is the smoothed targets' cross-entropy), else the criterion K times.

    Parameters
    ----------
    logits : Tensor, shape (K, N, C)
    target : Tensor, shape (N,) int64 class indices
    """
    eps = _smoothing(criterion)
    if eps is None:
        return torch.stack([criterion(member, target) for member in logits])
    k, n, c = logits.shape
    rows = nn.functional.cross_entropy(
        logits.reshape(k * n, c),
        target.repeat(k),
        ignore_index=criterion.ignore_index,
        reduction="none",
        label_smoothing=eps,
    ).view(k, n)
    kept = (target != criterion.ignore_index).sum().clamp_min(1)
    return rows.sum(dim=1) / kept


class PackedNet(nn.Module):
    """K :func:`packable` networks of one config as one module with a member dimension.

    Parameters
    ----------
    nets : sequence of HeadNet
        K >= 1 networks of the same config; their weights are copied in (the standardisation
        of the first is used).

    Shape
    -----
    ``forward``: input (N, n_features) → logits (K, N, n_classes), member k's logits at [k].
    """

    def __init__(self, nets: Sequence[HeadNet]) -> None:
        super().__init__()
        first = nets[0]
        self.k, self.width = len(nets), first.config.hidden_sizes[0]
        blocks = [list(net.trunk.blocks) for net in nets]
        self.register_buffer("feature_mean", first.feature_mean.detach().clone())
        self.register_buffer("feature_scale", first.feature_scale.detach().clone())
        with torch.no_grad():
            # first layer: (F, K·H₁), member k's columns at [:, k·H₁ : (k+1)·H₁]
            self.first_weight = nn.Parameter(
                torch.cat([b[0].linear.weight for b in blocks]).t().contiguous()
            )
            self.first_bias = nn.Parameter(torch.cat([b[0].linear.bias for b in blocks]))
            later = range(1, len(blocks[0]))
            self.weights = nn.ParameterList(
                torch.stack([b[j].linear.weight.t() for b in blocks]).contiguous() for j in later
            )  # (K, H_in, H_out) each
            self.biases = nn.ParameterList(
                torch.stack([b[j].linear.bias for b in blocks])[:, None, :].clone() for j in later
            )  # (K, 1, H_out) each
            self.head_weight = nn.Parameter(
                torch.stack([n.head.weight.t() for n in nets]).contiguous()
            )
            self.head_bias = nn.Parameter(
                torch.stack([n.head.bias for n in nets])[:, None, :].clone()
            )
        self.activation = blocks[0][0].activation
        self.rates = [float(getattr(b.dropout, "p", 0.0)) for b in blocks[0]]

    def _act_drop(self, h: Tensor, rate: float) -> Tensor:
        h = self.activation(h)
        return dropout(h, rate, self.training) if rate > 0 else h  # headkit's fast masks

    def forward(self, x: Tensor, members: Tensor | None = None) -> Tensor:
        """Return the members' logits, shape (K, N, C), or (M, N, C) for M ``members``.

        ``members`` (M,) int64 computes only those members (the ones still training): their
        weights are gathered first, so the others get no gradient and cost nothing.
        """
        x = (x - self.feature_mean) / self.feature_scale
        first_w, first_b, weights, biases = (
            self.first_weight, self.first_bias, list(self.weights), list(self.biases)
        )  # fmt: skip
        head_w, head_b, k = self.head_weight, self.head_bias, self.k
        if members is not None:
            k, rows = len(members), len(first_w)
            first_w = first_w.view(rows, self.k, -1).index_select(1, members).view(rows, -1)
            first_b = first_b.view(self.k, -1).index_select(0, members).view(-1)
            weights = [w.index_select(0, members) for w in weights]
            biases = [b.index_select(0, members) for b in biases]
            head_w, head_b = head_w.index_select(0, members), head_b.index_select(0, members)
        h = torch.addmm(first_b, x, first_w)  # (N, K·H₁): one product
        h = self._act_drop(h.view(len(x), k, self.width).transpose(0, 1), self.rates[0])
        for w, b, rate in zip(weights, biases, self.rates[1:], strict=True):
            h = self._act_drop(torch.baddbmm(b, h, w), rate)
        return torch.baddbmm(head_b, h, head_w)

    def member_tensors(self, k: int) -> dict[str, Tensor]:
        """Views of member ``k``'s parameters in the packed tensors (writing them writes the net)."""
        cols = slice(k * self.width, (k + 1) * self.width)
        found = {"first_weight": self.first_weight[:, cols], "first_bias": self.first_bias[cols]}
        for j, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            found[f"weights.{j}"], found[f"biases.{j}"] = w[k], b[k]
        found["head_weight"], found["head_bias"] = self.head_weight[k], self.head_bias[k]
        return found

    def write_member(self, net: HeadNet, k: int) -> None:
        """Copy member ``k``'s weights into ``net`` (a network of the members' config)."""
        views = self.member_tensors(k)
        blocks = list(net.trunk.blocks)
        with torch.no_grad():
            blocks[0].linear.weight.copy_(views["first_weight"].t())
            blocks[0].linear.bias.copy_(views["first_bias"])
            for j, block in enumerate(blocks[1:]):
                block.linear.weight.copy_(views[f"weights.{j}"].t())
                block.linear.bias.copy_(views[f"biases.{j}"][0])
            net.head.weight.copy_(views["head_weight"].t())
            net.head.bias.copy_(views["head_bias"][0])
