"""``precision``: the dtype of the default network's matrix products in training.

The default network's training loss is one autograd node
(:func:`headkit.functional.fused_network.dense_cross_entropy`) whose time is its matrix
products. With ``precision="bfloat16"`` the hidden blocks' products take bfloat16 copies of
their operands and accumulate in float32 (as ``torch.autocast`` runs a linear layer); the
elementwise passes, the head, the loss, the optimiser and the master weights stay float32, and
prediction is float32 whatever the fit used. On a CPU with native bfloat16 dot products
(``avx512_bf16`` or ``amx_bf16``; AMD EPYC Zen 4, 1 thread) a 500×256 @ 256×256 product takes
305–325 µs against 635–650 µs in float32; without them bfloat16 is emulated and slower, so
``"auto"`` would take it only where it pays: a CPU that has it, the fused network kind, and
steps whose products hold at least :data:`AUTO_MIN_MACS` multiply-adds. Elsewhere (CUDA
included, untested here) ``"auto"`` is float32, the arithmetic of fits before this setting.

:data:`AUTO_BFLOAT16` is off: on MNIST-1D (``HeadClassifier(random_state=s)``, seeds 0–4, AMD
EPYC Zen 4) bfloat16 reached a mean / min test accuracy of 0.7498 / 0.728 at 1 thread and
0.7492 / 0.743 at 2, against 0.7544 / 0.749 and 0.762 / 0.750 in float32, under the bar of
0.75 / 0.73 that "auto" must hold (seeds 5–9 at 1 thread: 0.7584 / 0.752 against 0.7590 /
0.756; keeping the first block in float32 did not help, 0.7498 / 0.744). After the graph-free
training step (whose narrow-head layout changes seeded fits) the same seeds gave 0.7574 / 0.736
at 1 thread and 0.7518 / 0.739 at 2, over the bar (seeds 0–9: 0.7553 and 0.7522 against
float32's 0.7531 and 0.7562): the miss was the seeds' draw. ``"auto"`` stays float32 because
at 2 threads the bfloat16 fit was faster than the float32 one in three of seven side-by-side
runs and slower in four (``benchmarks/results/train_speed.md``); bfloat16 is asked for by name.
"""

from __future__ import annotations

import functools
import itertools
import sys
from collections.abc import Sequence
from typing import Any

import torch

MATMUL_DTYPES: dict[str, torch.dtype | None] = {"float32": None, "bfloat16": torch.bfloat16}
# Multiply-adds of one forward pass through the hidden blocks (batch × Σ in·out) from which
# "auto" takes bfloat16: below it the casts around the products cost about what they save.
AUTO_MIN_MACS = 16_000_000
AUTO_BFLOAT16 = False  # "auto" may take bfloat16 at all (see above: no steady gain at 2 threads)
_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_bf16() -> bool:
    """True when this CPU has native bfloat16 dot products (Linux: ``/proc/cpuinfo`` flags).

    Read once per process; on other systems False (``"auto"`` stays float32 there).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in _CPU_FLAGS)
    except OSError:
        return False
    return False


def block_macs(batch: int, n_features: int, hidden_sizes: Sequence[int]) -> int:
    """Multiply-adds of one forward pass through the hidden blocks: batch × Σ_l in_l·out_l."""
    widths = [n_features, *hidden_sizes]
    return batch * sum(a * b for a, b in itertools.pairwise(widths))


def fused_kind(config: Any, params: dict[str, Any], weighted: bool) -> bool:
    """True when a fit of this network and these settings trains through the fused loss.

    :meth:`headkit.nn.HeadNet.training_loss` takes the fused node for Dense-ReLU-Dropout
    blocks (no norm, skip, gated block or layer drop), a linear head and plain cross-entropy;
    a teacher, class or sample weights, augmentation or DP-SGD change the loss and keep the
    per-node path, and several members may train packed (:mod:`headkit.training.packed`).

    Parameters
    ----------
    config : NetworkConfig
        The network.
    params : dict
        The fit's resolved estimator parameters (:meth:`HeadClassifier.resolved_params`).
    weighted : bool
        The fit has sample weights.
    """
    return (
        config.activation == "relu"
        and config.block == "dense"
        and config.norm in (None, "none")
        and not config.residual
        and config.layer_drop == "none"
        and config.head == "linear"
        and isinstance(config.dropout, int | float)
        and params["loss"] == "cross_entropy"
        and params["teacher"] is None
        and params["class_weight"] is None
        and params["augment"] == "none"
        and params["privacy"] == "none"
        and params["members"] in (1, "auto")  # K > 1 may train packed (its own loss)
        and not weighted
    )


def resolve_precision(precision: str, device: torch.device, macs: int, fused: bool) -> str:
    """Return the precision a fit uses: ``"float32"`` or ``"bfloat16"``.

    Parameters
    ----------
    precision : {"auto", "float32", "bfloat16"}
        The setting; an explicit value is kept where the fit is ``fused``.
    device : torch.device
        The fit's device.
    macs : int
        :func:`block_macs` of one training step.
    fused : bool
        The network is the kind whose loss is one fused node (Dense-ReLU-Dropout blocks, a
        linear head, plain cross-entropy): the only kind ``precision`` changes; any other
        fit runs, and reports, float32.
    """
    if not fused:  # the per-node path runs in the input's dtype: say so
        return "float32"
    if precision != "auto":
        return precision
    fast = AUTO_BFLOAT16 and device.type == "cpu" and cpu_has_bf16()
    return "bfloat16" if fast and macs >= AUTO_MIN_MACS else "float32"
