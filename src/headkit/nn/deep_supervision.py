"""Deep supervision: companion losses on the hidden Dense blocks; the ``deep_supervision`` loss.

From Lee et al., *Deeply-Supervised Nets* (2015).

``L = L_out + Σ_m α_m·max(L_m − γ, 0)`` where ``L_m`` is the softmax cross-entropy of a
companion linear classifier on the output of hidden block m (every block but the last). α_m
decays linearly to 0 over training by default, so the end of training optimises ``L_out`` alone.
The companion classifiers belong to the loss, not the network: they are trained with it and are
never saved with the model.
"""

from __future__ import annotations

from torch import Tensor, nn

from headkit import functional as F
from headkit.exceptions import ConfigError
from headkit.nn.losses import LOSSES, flatten_samples, natural_loss


class DeepSupervisionLoss(nn.Module):
    """The output loss plus weighted companion losses on the trunk's hidden blocks.

    Parameters
    ----------
    base : nn.Module
        The loss of the network's logits.
    blocks : sequence of nn.Module
        The trunk's Dense blocks; every block but the last gets a companion classifier, and a
        forward hook records its output in training mode.
    widths : sequence of int
        Output width of each block.
    n_classes : int
    alpha : float
        Initial companion weight α (the same for every companion).
    hinge : float
        γ: a companion loss below γ contributes nothing (0 disables the hinge).
    decay : bool
        Decay α linearly to 0 over training.
    """

    def __init__(
        self,
        base: nn.Module,
        blocks: list[nn.Module],
        widths: list[int],
        n_classes: int,
        alpha: float = 0.3,
        hinge: float = 0.0,
        decay: bool = True,
    ) -> None:
        super().__init__()
        if alpha < 0 or hinge < 0:
            raise ConfigError(f"alpha and hinge must be >= 0; got {alpha} and {hinge}.")
        self.base = base
        self.companions = nn.ModuleList(nn.Linear(w, n_classes) for w in widths[:-1])
        self.alpha, self.hinge, self.decay = alpha, hinge, decay
        self.weight = alpha
        self._captured: dict[int, Tensor] = {}
        self._handles = [
            block.register_forward_hook(self._recorder(m)) for m, block in enumerate(blocks[:-1])
        ]

    def _recorder(self, m: int):
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            if module.training:
                self._captured[m] = output

        return hook

    def set_progress(self, fraction: float) -> None:
        """Anneal α: ``α·(1 − fraction)`` with ``decay``, else constant."""
        self.weight = self.alpha * (1.0 - fraction) if self.decay else self.alpha

    def companion_losses(self, target: Tensor) -> list[Tensor]:
        """Return the companion losses ``L_m`` of the last training forward, one scalar each.

        The recorded hidden outputs are consumed; an eval-mode forward records none.
        """
        captured, self._captured = self._captured, {}
        losses = []
        for m, hidden in sorted(captured.items()):
            logits, rows = flatten_samples(self.companions[m](hidden), target)
            losses.append(F.cross_entropy(logits, rows))
        return losses

    def forward(self, logits: Tensor, target: Tensor, features: Tensor | None = None) -> Tensor:
        loss = self.base(logits, target, features=features)
        companions = self.companion_losses(target)
        if self.weight == 0 or not companions:
            return loss
        for value in companions:
            loss = loss + self.weight * (value - self.hinge).clamp_min(0.0)
        return loss

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, hinge={self.hinge}, decay={self.decay}"


@LOSSES.register("deep_supervision")
def deep_supervision(
    n_classes: int,
    network: nn.Module | None = None,
    output: nn.Module | None = None,
    alpha: float = 0.3,
    hinge: float = 0.0,
    decay: bool = True,
) -> nn.Module:
    """Natural loss + α·Σ_m max(L_m − γ, 0), companion classifiers on hidden blocks (DSN)."""
    trunk = getattr(network, "trunk", None)
    if trunk is None or len(trunk.blocks) < 2:
        raise ConfigError(
            "loss='deep_supervision' needs a network with at least two hidden Dense blocks; "
            "set hidden_sizes to two or more widths."
        )
    blocks = list(trunk.blocks)
    widths = list(network.config.hidden_sizes)
    return DeepSupervisionLoss(natural_loss(output), blocks, widths, n_classes, alpha, hinge, decay)
