"""The capabilities the trainer and the network look for on modules, declared in one place.

A head, output map, loss or dropout module opts into a behaviour by having the members of one of
these protocols; nothing inherits from them. :func:`modules_with` finds the modules of a tree
that have a capability, and the flag protocols (``row_sparse``, ``sharded``, ``mc_dropout``) are
read with :func:`has_flag`. ``docs/architecture.md`` lists who implements what.

This module imports nothing heavy (torch only for type checking).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn


@runtime_checkable
class OwnsTrainingLoss(Protocol):
    """A head that computes its own training loss without materialising the full logits.

    :class:`headkit.nn.HeadNet` calls ``head.training_loss(features, target)`` instead of
    ``criterion(head(features, target), target)``. Implemented by Partial FC, the chunked linear
    head, the class-sharded head and SphereFace2.
    """

    def training_loss(self, features: Tensor, target: Tensor) -> Tensor:
        """Return the loss of a batch, shape (); features (N, D) or (k, N, D), target (N,)."""
        ...


@runtime_checkable
class TrainableNetwork(Protocol):
    """What :class:`headkit.training.Trainer` fits: a network with a loss step and logits."""

    def training_loss(self, x: Tensor, target: Tensor, criterion: nn.Module) -> Tensor:
        """Return the training loss of a batch of inputs, shape ()."""
        ...

    def __call__(self, x: Tensor) -> Tensor:
        """Return logits (N, C)."""
        ...


@runtime_checkable
class Probabilistic(Protocol):
    """A network that owns the path from logits to probabilities (:class:`headkit.nn.HeadNet`).

    The trainer's validation accuracy ranks classes by these probabilities.
    """

    def probabilities(self, logits: Tensor) -> Tensor:
        """Return probabilities of logits (..., C), shape of ``logits``."""
        ...


@runtime_checkable
class ConfiguresOptimizer(Protocol):
    """A module that owns the optimiser of its parameters (sparse row updates in Partial FC).

    The trainer leaves those parameters out of AdamW and steps the returned optimiser too; an
    optimiser with ``cycle_momentum = False`` keeps its momentum under the one-cycle schedule.
    """

    def configure_optimizer(self, lr: float, weight_decay: float) -> torch.optim.Optimizer | None:
        """Return an optimiser for this module's parameters, or ``None`` to leave them to AdamW."""
        ...


@runtime_checkable
class ProgressAware(Protocol):
    """A module told the training progress at the start of every epoch (annealed schedules).

    Implemented by SphereFace (λ annealing) and Noisy Softmax (noise annealing).
    """

    def set_progress(self, fraction: float) -> None:
        """Receive the share of training done, 0 at the first epoch, towards 1."""
        ...


@runtime_checkable
class AuxiliaryLoss(Protocol):
    """A module that adds a term to the training loss (input-gate sparsity, MoE load balance).

    The trainer adds :func:`auxiliary_loss` of the network's modules to every step's loss,
    whichever path computed it (plain, weighted rows, mixup, distillation). A module computes its
    term during a training-mode forward and hands it over once (None when it has none).
    """

    def auxiliary_loss(self) -> Tensor | None:
        """Return the term of the last training forward (then forget it), or None."""
        ...


def auxiliary_loss(modules: Iterable[Any]) -> Tensor | float:
    """Sum of the ``auxiliary_loss()`` terms of ``modules`` (0.0 when none has one)."""
    total: Tensor | float = 0.0
    for module in modules:
        term = module.auxiliary_loss()
        if term is not None:
            total = total + term
    return total


@runtime_checkable
class OwnsTrainPass(Protocol):
    """A callback that runs the training steps of each epoch itself (DP-SGD's Poisson batches).

    :class:`headkit.training.Trainer` calls ``train_pass(trainer, X, y)`` instead of its own
    shuffled batches; it returns the epoch's mean training loss.
    """

    def train_pass(self, trainer: Any, X: Tensor, y: Tensor) -> float:
        """Run one epoch's steps through ``trainer._step``; return the mean training loss."""
        ...


@runtime_checkable
class OutputMap(Protocol):
    """Logits → probabilities along the last dimension (the ``output=`` registry's contract).

    ``natural_loss`` names the LOSSES entry that trains the logits consistently with the map.
    """

    natural_loss: ClassVar[str]

    def __call__(self, logits: Tensor) -> Tensor:
        """Return probabilities, shape of ``logits``."""
        ...

    def log_prob(self, logits: Tensor) -> Tensor:
        """Return log-probabilities, shape of ``logits``."""
        ...


class RowSparse(Protocol):
    """A module whose parameter gradients are sparse row tensors (``row_sparse = True``).

    Under DistributedDataParallel its gradients are averaged by a hook, not by DDP's buckets.
    """

    row_sparse: ClassVar[bool]


class ClassSharded(Protocol):
    """A head whose class rows are split across ranks (``sharded = True``).

    DDP leaves its parameters alone; ``feature_grad_scale`` is set to the world size so the trunk
    gets the global-mean gradient; ``gather_()`` collects the full weight after training.
    """

    sharded: ClassVar[bool]
    feature_grad_scale: float

    def gather_(self) -> Any:
        """Collect every rank's rows (a collective); return the module."""
        ...


class MCDropout(Protocol):
    """A dropout module that MC-dropout prediction switches on (``mc_dropout = True``)."""

    mc_dropout: ClassVar[bool]


def modules_with(roots: Iterable[nn.Module], capability: type) -> list[nn.Module]:
    """Return the submodules of ``roots`` (each once, in order) that implement ``capability``.

    Parameters
    ----------
    roots : iterable of nn.Module
        Trees to search (the network and the loss).
    capability : runtime-checkable Protocol class
        One of the method protocols of this module.
    """
    seen: dict[int, nn.Module] = {}
    for root in roots:
        for module in root.modules():
            if isinstance(module, capability):
                seen.setdefault(id(module), module)
    return list(seen.values())


def has_flag(module: Any, flag: str) -> bool:
    """Return whether ``module`` declares the flag protocol ``flag`` (a true class attribute)."""
    return bool(getattr(module, flag, False))
