"""Layer dropout and a shared early-exit head; the ``layer_drop=`` registry (catalogue B7).

``layer_drop="layerskip:p_max=0.2"`` (LayerSkip, Elhoushi et al. 2024): in training every residual
Dense block l is skipped for the whole batch with probability p_l (rising with depth to p_max; a
skipped block is exactly the identity), and the network's own head is applied to the output of
every block whose width is the head's input width (the *exits*): the training loss is the
exits' losses with rising scales (:func:`headkit.functional.layer_drop.early_exit_weights`). At
prediction :func:`early_exit_predict` lets each row leave at the first exit whose largest
probability reaches a threshold; in eval mode nothing is skipped and the network is the plain one.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from headkit.exceptions import ConfigError
from headkit.functional.layer_drop import PROFILES, early_exit_weights, layer_drop_rates
from headkit.protocols import OwnsTrainingLoss
from headkit.registry import Registry

LAYER_DROPS = Registry("layer drop")


class LayerSkip:
    """Skip rates for the trunk's residual blocks and the loss scales of the shared-head exits.

    Parameters
    ----------
    p_max : float
        Skip probability of the deepest block, in [0, 1).
    profile : {"exp", "linear", "constant"}
        How p_l rises with depth (see :func:`headkit.functional.layer_drop_rates`).
    exit_scale : float
        Weight of the intermediate exits relative to the last (0: no early-exit loss).
    """

    def __init__(self, p_max: float = 0.2, profile: str = "exp", exit_scale: float = 1.0) -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}.")
        layer_drop_rates(1, p_max, profile)  # validates p_max
        early_exit_weights([0], 1, exit_scale)  # validates exit_scale
        self.p_max, self.profile, self.exit_scale = p_max, profile, exit_scale
        self.depths: list[int] = []
        self.weights: list[float] = []

    def configure(self, trunk: nn.Module) -> None:
        """Set ``trunk.drop_rates`` (residual blocks only) and find the exits of ``trunk``."""
        blocks = list(trunk.blocks)
        residual = [getattr(b, "skip", None) is not None for b in blocks]
        if self.p_max > 0 and blocks and not any(residual):
            raise ConfigError(
                "layer_drop skips residual blocks, and this trunk has none; set residual=True "
                "with equal hidden widths, or layer_drop='none'."
            )
        if not blocks:  # logistic regression: nothing to skip, no exits
            self.depths, self.weights = [], []
            return
        rates = layer_drop_rates(len(blocks), self.p_max, self.profile)
        trunk.drop_rates = [p if r else 0.0 for p, r in zip(rates, residual, strict=True)]
        widths = [b.out_features for b in blocks]
        self.depths = [i for i, w in enumerate(widths) if w == trunk.out_features]
        self.weights = early_exit_weights(self.depths, len(blocks), self.exit_scale)

    def loss(self, net: nn.Module, final: Tensor, exits: dict[int, Tensor], target: Tensor,
             criterion: nn.Module) -> Tensor:  # fmt: skip
        """``Σ_l e_l·L_l``: the final loss and each recorded exit's, weighted by its scale."""
        if len(self.depths) < 2:
            return final
        total = final * self.weights[-1]
        for depth, weight in zip(self.depths[:-1], self.weights[:-1], strict=True):
            if depth not in exits or weight == 0:
                continue  # skipped this step
            total = total + weight * head_loss(net, exits[depth], target, criterion)
        return total

    def __repr__(self) -> str:
        return (
            f"LayerSkip(p_max={self.p_max}, profile={self.profile!r}, exit_scale={self.exit_scale})"
        )


def head_loss(net: nn.Module, features: Tensor, target: Tensor, criterion: nn.Module) -> Tensor:
    """The training loss of the network's head on ``features`` (its own loss when it has one)."""
    if isinstance(net.head, OwnsTrainingLoss):
        return net.head.training_loss(features, target)
    return criterion(net.head(features, target), target, features=features)


@LAYER_DROPS.register("none")
def none() -> None:
    """No layer dropout and no early exits: every block runs in training and prediction."""
    return None


LAYER_DROPS.register("layerskip")(LayerSkip)


@torch.no_grad()
def early_exit_predict(net: nn.Module, x: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """Probabilities of rows that leave at the first confident exit, and their depths.

    Parameters
    ----------
    net : HeadNet
        A network built with ``layer_drop="layerskip"`` (its exits), in eval mode.
    x : Tensor, shape (N, n_features)
    threshold : float
        A row leaves after block l when ``max_c p_c ≥ threshold`` at that exit (p from
        ``net.probabilities``: output map and calibration temperature apply; the test is made
        in the logits' dtype, the returned probabilities in float64 as ``predict_proba``'s).
        Above 1 every row runs the whole network, which is then exactly the full-depth forward.

    Returns
    -------
    proba : Tensor of float64, shape (N, C)
    depth : Tensor of int64, shape (N,)
        Dense blocks run for each row (1 … n_blocks).
    """
    plan = getattr(net, "layer_drop", None)
    if plan is None:
        raise ConfigError(
            "Early exit needs a network trained with layer_drop='layerskip' (its head is trained "
            "on every block's output); this one was trained with layer_drop='none'."
        )
    blocks = net.trunk.blocks
    exits = set(plan.depths[:-1])
    h = net.trunk.input_dropout(net.trunk_input(x))
    proba = x.new_empty(len(x), net.config.n_classes, dtype=torch.float64)
    depth = torch.full((len(x),), len(blocks), dtype=torch.int64, device=x.device)
    active = torch.arange(len(x), device=x.device)
    for i, block in enumerate(blocks):
        h = block(h)
        if i not in exits:
            continue
        logits = net.head(h)
        done = net.probabilities(logits).amax(-1) >= threshold  # the test in float32
        if bool(done.any()):
            proba[active[done]] = net.probabilities(logits[done].double())  # as predict_proba
            depth[active[done]] = i + 1
            active, h = active[~done], h[~done]
            if len(active) == 0:
                return proba, depth
    proba[active] = net.probabilities(net.head(h).double())
    return proba, depth
