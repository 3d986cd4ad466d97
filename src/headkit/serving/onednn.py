"""The server's large torch calls on oneDNN: each ``nn.Linear`` as one prepacked oneDNN matmul.

torch's CPU wheels multiply a float32 ``nn.Linear`` with MKL, whose kernel on AMD processors is
its AVX2 one; oneDNN (bundled in the same wheels) picks its kernel by the instruction set and
takes a weight packed once, at load, for its own layout, and adds the bias (and a ReLU that
follows, fused) as it writes the product. Measured on the default 3×256 MNIST-1D network (AMD
EPYC, cpu family 25 model 17, 1 thread, CPU µs per traced 1,024-row call): 3,600–3,700 with
``nn.Linear``, 3,260–3,440 with the oneDNN matmul and a separate ReLU, ~3,000 fused.

:func:`onednn_copy` returns a copy of a network with its plain ``nn.Linear`` modules (exactly
that class, or the plain :class:`headkit.nn.heads.LinearHead`: no parametrisation, no other
subclass) replaced by :class:`OneDnnLinear`, a ReLU that
directly follows one in a :class:`headkit.nn.dense.DenseBlock` fused into it. The ops are
torch's own (``torch.ops.mkldnn``, used by ``torch.compile`` on CPU) but private: where they are
missing or fail, the copy is None and the caller keeps ``nn.Linear``. The sums run in another
order, so results differ from ``nn.Linear``'s within float32 rounding
(:meth:`headkit.serving.torch_engine.TorchNet.trace` checks them).
"""

from __future__ import annotations

import copy
import functools
import warnings
from typing import Any, List, Optional, Union  # noqa: UP035 (TorchScript reads typing's forms)

import torch
from torch import nn

PACKED_ROWS = 1024  # the batch size oneDNN packs the weights for (any row count works)


def _linear_pointwise(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],  # noqa: UP045
    attr: str,
) -> torch.Tensor:
    """Return ``attr(x @ W.T + b)`` ("none" or "relu") by oneDNN, W packed for it."""
    # the op's `Scalar?[]`: TorchScript's `number` is spelled as this union
    scalars = torch.jit.annotate(List[Optional[Union[int, float, complex]]], [])  # noqa: UP006,UP007,UP045
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, attr, scalars, "")


@functools.cache
def _linear() -> Any:
    """:func:`_linear_pointwise` in TorchScript, so that a trace of a network records it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation note
        return torch.jit.script(_linear_pointwise)


class OneDnnLinear(nn.Module):
    """``nn.Linear``'s eval forward (then a ReLU when ``attr="relu"``) as one oneDNN call.

    Parameters
    ----------
    linear : nn.Linear
        Weight (out, in) and optional bias (out,), copied; the weight packed for oneDNN.
    attr : {"none", "relu"}
        The activation fused after the bias.

    Shape
    -----
    Input (N, in) float32 → output (N, out) float32.
    """

    def __init__(self, linear: nn.Linear, attr: str = "none") -> None:
        super().__init__()
        weight = linear.weight.detach()
        self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(weight, PACKED_ROWS))
        bias = None if linear.bias is None else linear.bias.detach().clone()
        self.register_buffer("bias", bias)
        self.attr = attr
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Return ``attr(x @ W.T + b)``, (N, out); ``target`` is ignored, as a LinearHead does."""
        return _linear()(x, self.packed, self.bias, self.attr)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, attr={self.attr}"


def onednn_copy(net: nn.Module) -> nn.Module | None:
    """Return a copy of ``net`` with its plain ``nn.Linear`` modules on oneDNN.

    None where it has none, or where oneDNN's ops are missing or fail on this build of torch.
    """
    if not torch.backends.mkldnn.is_available():
        return None
    net = copy.deepcopy(net)
    try:
        with torch.no_grad():
            swapped = _swap(net)
            if swapped:  # one call, so a build whose op fails says so now
                probe = nn.Linear(2, 2)
                OneDnnLinear(probe, "relu")(torch.zeros(3, 2))
    except Exception:  # no such op, no kernel for this CPU, or no TorchScript: keep nn.Linear
        return None
    return net if swapped else None


def _swap(module: nn.Module) -> int:
    """Replace ``module``'s plain ``nn.Linear`` descendants in place; return how many."""
    from headkit.nn.activations import ReLU
    from headkit.nn.dense import DenseBlock
    from headkit.nn.heads import LinearHead

    if (
        isinstance(module, DenseBlock)
        and module.skip is None
        and type(module.linear) is nn.Linear
        and type(module.norm) is nn.Identity
        and type(module.activation) is ReLU
    ):
        module.linear = OneDnnLinear(module.linear, "relu")
        module.activation = nn.Identity()
        return 1 + _swap(module.dropout)
    count = 0
    for name, child in module.named_children():
        if type(child) in (nn.Linear, LinearHead):
            setattr(module, name, OneDnnLinear(child))
            count += 1
        else:
            count += _swap(child)
    return count
