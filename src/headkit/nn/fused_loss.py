"""The default network's training loss as one node, and its gradients with no graph at all.

:class:`headkit.nn.HeadNet` trains through these when it is the default kind: Dense-ReLU-Dropout
blocks (:meth:`headkit.nn.dense.DenseStack.fusable_layers`), a linear head with a bias and plain
softmax cross-entropy (no class weights, no smoothing) on (N,) class indices. Anything else
returns None and the caller takes the per-node path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from headkit.functional.fused_network import dense_cross_entropy, dense_cross_entropy_gradients
from headkit.nn.heads import LinearHead
from headkit.nn.losses import CrossEntropyLoss

if TYPE_CHECKING:
    from headkit.nn.network import HeadNet


def fused_arguments(
    net: HeadNet, x: Tensor, target: Tensor, criterion: nn.Module
) -> dict[str, Any] | None:
    """Keyword arguments of :func:`dense_cross_entropy` for this batch, or None.

    Parameters
    ----------
    net : HeadNet
        The network (in training mode).
    x : Tensor, shape (N, F)
        The trunk's input (:meth:`HeadNet.trunk_input`), passed on as ``x``; only its shape and
        dtype are checked here (:func:`fused_gradients` checks the raw batch, then standardises).
    target : Tensor, shape (N,)
        Class indices.
    criterion : nn.Module
        The fit's loss.
    """
    head = net.head
    if (
        net.layer_drop is not None
        or type(head) is not LinearHead
        or head.bias is None
        or type(criterion) is not CrossEntropyLoss
        or criterion.weight is not None
        or criterion.label_smoothing != 0.0
        or x.dim() != 2
        or x.dtype not in (torch.float32, torch.float64)
        or target.dim() != 1
        or any(m._forward_hooks or m._forward_pre_hooks for m in (head, criterion))
    ):
        return None
    layers = net.trunk.fusable_layers()
    if layers is None:
        return None
    weights, biases, rates = layers
    return {
        "x": x, "target": target, "weights": weights, "biases": biases,
        "head_weight": head.weight, "head_bias": head.bias, "rates": rates,
        "ignore_index": criterion.ignore_index, "matmul_dtype": net.matmul_dtype,
    }  # fmt: skip


def fused_loss(net: HeadNet, x: Tensor, target: Tensor, criterion: nn.Module) -> Tensor | None:
    """The batch's loss as one autograd node (:func:`dense_cross_entropy`), or None."""
    arguments = fused_arguments(net, x, target, criterion)
    return None if arguments is None else dense_cross_entropy(**arguments)


def fused_gradients(net: HeadNet, x: Tensor, target: Tensor, criterion: nn.Module) -> Tensor | None:
    """Add the batch's loss gradients to the parameters' ``.grad`` without autograd; the loss.

    What ``fused_loss(...).backward()`` does, through :func:`dense_cross_entropy_gradients`:
    each trained parameter's gradient is stored in ``.grad`` (added to one already there), and
    the loss comes back without a graph. None, with nothing touched and nothing computed (the
    caller's own path standardises the batch once), where that would not be the same: a network
    or loss not of the default kind, input gates (trained, and random in training), inputs that
    need a gradient, or a weight that is not a leaf parameter (a parametrisation).

    Parameters
    ----------
    net : HeadNet
        The network (in training mode).
    x : Tensor, shape (N, F)
        Raw features (standardised here, as :meth:`HeadNet.training_loss` does).
    target : Tensor, shape (N,)
        Class indices.
    criterion : nn.Module
        The fit's loss.

    Returns
    -------
    Tensor, shape (), or None
        The mean loss, detached.
    """
    if type(net.input_gates) is not nn.Identity or x.requires_grad or not torch.is_grad_enabled():
        return None
    arguments = fused_arguments(net, x, target, criterion)  # checked on the raw batch's shape
    if arguments is None:
        return None
    params = [
        *(t for pair in zip(arguments["weights"], arguments["biases"], strict=True) for t in pair),
        arguments["head_weight"], arguments["head_bias"],
    ]  # fmt: skip
    if not all(isinstance(p, nn.Parameter) and p.is_leaf for p in params):
        return None
    arguments["x"] = net.trunk_input(x)  # standardised: the same shape and floating dtype
    loss, grads = dense_cross_entropy_gradients(**arguments)
    for p, g in zip(params, grads, strict=True):
        if not p.requires_grad:
            continue
        if p.grad is None:
            p.grad = g
        else:
            p.grad.add_(g)
    return loss
