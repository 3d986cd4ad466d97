"""The one description of a network and its training.

The estimator's parameters, the CLI's flags and the saved ``config.json`` are views of these two
frozen dataclasses, never separate truths. Technique choices are spec strings resolved through the
registries (``dropout="multisample:k=8"``, ``head="arcface:s=30,m=0.5"``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NetworkConfig:
    """Shape and parts of a :class:`headkit.nn.HeadNet`.

    Parameters
    ----------
    n_features : int
        Width of the input features.
    n_classes : int
        Number of classes (width of the logits).
    hidden_sizes : tuple of int
        Widths of the Dense blocks; ``()`` gives a linear (logistic-regression) model.
    activation : str
        Activation spec (``headkit.nn.ACTIVATIONS``): ``relu``, ``leaky_relu:slope=0.1``,
        ``prelu``, ``elu``, ``selu``, ``gelu``, ``silu``, ``mish``, ``softplus``, ``tanh``,
        ``sigmoid``.
    norm : str or None
        ``None``, ``"batch"`` or ``"layer"`` normalisation after each Dense layer.
    residual : bool or str
        Skip connection around blocks whose input and output widths agree: ``True`` or a
        residual spec with branch scaling (``"scaled"`` for α = 1/√L, ``"learnable"`` from 0).
    dropout : str or float
        A rate for standard dropout, or a dropout spec (``"multisample:k=8,p=0.5"``).
    head : str
        Head spec mapping features to logits (``"linear"``, ``"arcface:s=30,m=0.5"``).
    output : str
        Output-map spec mapping logits to probabilities (``"softmax"``, ``"entmax15"``).
    init : str
        Initialisation spec of the Dense layers (``"default"``, ``"critical"``).
    """

    n_features: int
    n_classes: int
    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    norm: str | None = None
    residual: bool | str = False
    dropout: str | float = 0.2
    head: str = "linear"
    output: str = "softmax"
    init: str = "default"

    def replace(self, **changes: Any) -> NetworkConfig:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["hidden_sizes"] = list(self.hidden_sizes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkConfig:
        """Rebuild from :meth:`to_dict` output, ignoring unknown keys."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["hidden_sizes"] = tuple(int(h) for h in values.get("hidden_sizes", ()))
        return cls(**values)


@dataclass(frozen=True)
class TrainingConfig:
    """How a network is fitted.

    Parameters
    ----------
    loss : str
        Loss spec (``"cross_entropy"``, ``"label_smoothing:0.1"``).
    epochs : int
        Maximum number of passes over the training data.
    batch_size : int
        Rows per optimisation step.
    lr : float
        Peak learning rate of AdamW.
    weight_decay : float
        AdamW's decoupled weight decay.
    schedule : str
        ``"onecycle"``, ``"cosine"`` or ``"constant"`` learning-rate schedule.
    validation_fraction : float
        Share of the training rows held out for early stopping; 0 disables both.
    patience : int or None
        Epochs without validation improvement before stopping; ``None`` (the default) runs the
        whole schedule, which on small data beats stopping at a noisy validation peak.
    restore_best : bool
        When early stopping is on, end with the weights of the best validation epoch.
    monitor : str
        What "best" means for early stopping and the restore: ``"val_accuracy"`` (higher is
        better; ties go to the lower validation loss) or ``"val_loss"``.
    gradient_noise : float
        η of annealed Gaussian gradient noise, σ² = η / (1 + t)^γ; 0 disables it.
    gradient_noise_gamma : float
        γ of the gradient-noise schedule (0.55 in Neelakantan et al. 2015).
    solver : str
        ``"adamw"`` (the fit loop) or a readout solver on frozen features: ``"lbfgs:C=1"``
        (logistic regression), ``"ridge:alpha=1e-3"`` (closed form).
    augment : str
        Training-batch augmentation: ``"none"``, ``"mixup:alpha=0.2"``, ``"cutmix:alpha=1"``.
    teacher : str, tuple of str, or None
        A saved run directory whose probabilities the network is distilled from (knowledge
        distillation, Hinton et al. 2015), or several, whose probabilities are averaged (MEAL V2);
        ``None`` trains on the labels only.
    teacher_temperature : float
        T > 0 applied to teacher and student in the distillation term.
    teacher_weight : float
        β in [0, 1]: ``β·T²·KL(p_T^teacher ‖ p_T^student) + (1 − β)·loss``.
    random_state : int or None
        Seed; the same seed gives the same weights bit for bit on CPU.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or any torch device string.
    """

    loss: str = "cross_entropy"
    epochs: int = 150
    batch_size: int = 256
    lr: float = 1e-2
    weight_decay: float = 1e-2
    schedule: str = "onecycle"
    validation_fraction: float = 0.1
    patience: int | None = None
    restore_best: bool = True
    monitor: str = "val_accuracy"
    gradient_noise: float = 0.0
    gradient_noise_gamma: float = 0.55
    solver: str = "adamw"
    augment: str = "none"
    teacher: str | tuple[str, ...] | None = None
    teacher_temperature: float = 4.0
    teacher_weight: float = 0.5
    random_state: int | None = None
    device: str = "auto"

    def replace(self, **changes: Any) -> TrainingConfig:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        """Rebuild from :meth:`to_dict` output, ignoring unknown keys."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if isinstance(values.get("teacher"), list):  # JSON has no tuples
            values["teacher"] = tuple(values["teacher"])
        return cls(**values)
