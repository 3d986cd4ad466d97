"""The one description of a network and its training.

Every setting is a field of one of these two frozen dataclasses, with its default, its one-line
help and its allowed values in the field's metadata. The estimator's parameters (and their
validation), the CLI's flags (and their ``--help`` text) and the saved ``config.json`` are all
derived from these fields, so a new setting is added here and nowhere else. Technique choices are
spec strings resolved through the registries (``dropout="multisample:k=8"``,
``head="arcface:s=30,m=0.5"``).

This module imports nothing heavy: the CLI's ``--help`` reads it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from headkit._settings import Choice, Range, setting, settings

AUTO_BATCH_MAX = 512  # rows per step of batch_size=None on large data
AUTO_BATCH_STEPS = 8  # steps per epoch batch_size=None keeps on small data
AUTO_BATCH_MIN = 32  # ... but no batch of batch_size=None is smaller than this (or all rows)
MULTILABEL_THRESHOLD = 0.5  # a multi-label model predicts each class whose probability is above it
PREDICT_BATCH = 8192  # rows per forward pass when predicting (torch and NumPy engines)
# What "auto" means for the settings that follow the data where the data is not known (a Trainer
# built from a bare TrainingConfig, runs saved before "auto"): the plain path, every row trained.
PLAIN_AUTO = {"calibrate": False, "monitor": "val_accuracy", "patience": None}


def setting_fields() -> list[dataclasses.Field]:
    """Every fit setting: those of :class:`NetworkConfig`, then those of :class:`TrainingConfig`."""
    return [*settings(NetworkConfig), *settings(TrainingConfig)]


def batch_rows(batch_size: int | None, n_rows: int) -> int:
    """Return the rows per step for ``n_rows`` training rows.

    ``batch_size`` (at most ``n_rows``), or for ``None`` ``⌈n/AUTO_BATCH_STEPS⌉`` clipped to
    [AUTO_BATCH_MIN, AUTO_BATCH_MAX] (and to ``n``): 500 rows on MNIST-1D's 4,000, while a 300-row
    table still gets 8 steps per epoch instead of one, and a handful of rows is one batch.
    """
    if batch_size is None:
        rows = min(AUTO_BATCH_MAX, max(AUTO_BATCH_MIN, math.ceil(n_rows / AUTO_BATCH_STEPS)))
        return max(1, min(rows, n_rows))
    return max(1, min(batch_size, n_rows))


def depth_width_ratio(hidden_sizes: tuple[int, ...] | list[int]) -> float:
    """Return Σ_l 1/n_l over the hidden widths, the depth-to-width aspect ratio.

    Roberts, Yaida & Hanin (2022): it sets the size of the leading finite-width corrections (0 = a
    linear model; small = close to the infinite-width limit, where a network at criticality trains
    as a kernel).
    """
    return float(sum(1.0 / int(width) for width in hidden_sizes))


@dataclass(frozen=True)
class NetworkConfig:
    """Shape and parts of a :class:`headkit.nn.HeadNet`.

    ``n_features`` and ``n_classes`` come from the data; the other fields are settings (see
    :func:`settings`; each field's metadata holds its help line).
    """

    n_features: int
    n_classes: int
    hidden_sizes: tuple[int, ...] = setting(
        (256, 256, 256),
        "Width of each Dense block, e.g. 256,256; none or () gives multinomial logistic regression.",
        tuple,
    )
    activation: str = setting(
        "relu",
        "Activation spec (headkit.nn.ACTIVATIONS): relu, leaky_relu:slope=0.1, prelu, elu, selu, "
        "gelu, silu, mish, softplus, tanh or sigmoid.",
        str,
    )
    block: str = setting(
        "dense",
        "Dense block kind (headkit.nn.BLOCKS): dense (Linear → activation), glu, swiglu or geglu "
        "(a gated unit replaces both), lowrank:rank=16 (W = U Vᵀ, ordered dropout over the rank) "
        "or moe:experts=4,k=1 (top-k gated mixture of experts, load-balancing loss).",
        str,
    )
    input_gates: str = setting(
        "none",
        "Learnable input-feature gates, sparsity-penalised: none, optfs:lam=0.1 or stg:lam=0.5.",
        str,
    )
    layer_drop: str = setting(
        "none",
        "Drop residual blocks in training, shared early-exit head: none or layerskip:p_max=0.2.",
        str,
    )
    norm: str | None = setting(
        None,
        "Normalisation after each Dense layer: batch, layer or none.",
        Choice(("batch", "layer")),
        None,
    )
    residual: bool | str = setting(
        False,
        "Skip connections around equal-width Dense blocks: true (h + f(h)) or a residual spec "
        "with branch scaling, scaled (h + f(h)/√L) or learnable (α from 0).",
        bool,
        str,
    )
    dropout: str | float = setting(
        0.3, "A dropout rate (0.3) or a dropout spec (multisample:k=8).", Range(float, 0, 1), str
    )
    head: str = setting("linear", "Head spec from features to logits (arcface:s=30,m=0.5).", str)
    output: str = setting("softmax", "Output map from logits to probabilities (entmax15).", str)
    init: str = setting(
        "default",
        "Initialisation of the Dense layers: default or critical (W ~ N(0, C_W/fan_in) at the "
        "activation's critical point: ReLU C_W = 2, tanh C_W = 1).",
        str,
    )

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
    """How a network is fitted: every field is a setting (see :func:`settings`).

    ``random_state`` is the seed as the user gave it: 0 by default, in the estimator and the CLI
    alike, so that a run repeats exactly (``None`` draws a fresh seed each fit); the seed a fit
    derived from it is the estimator's fitted attribute ``seed_``.
    """

    loss: str = setting("cross_entropy", "Loss spec (label_smoothing:0.1).", str)
    epochs: int = setting(80, "Maximum passes over the training data.", Range(int, 1, None))
    batch_size: int | None = setting(
        None,
        "Rows per optimisation step; none takes n/8 clipped to [32, 512], so that small data sets "
        "get 8 steps per epoch too.",
        Range(int, 1, None),
        None,
    )
    lr: float = setting(1e-2, "Peak learning rate of AdamW.", Range(float, 0, None, "neither"))
    weight_decay: float = setting(
        1e-2, "AdamW's decoupled weight decay on weight matrices.", Range(float, 0, None)
    )
    schedule: str = setting(
        "onecycle",
        "Learning-rate schedule: onecycle, cosine or constant.",
        Choice(("onecycle", "cosine", "constant")),
    )
    validation_fraction: float | None = setting(
        None,
        "Share of the training rows held out for early stopping, best-weight restore and "
        "calibration; 0 trains on every row; none holds out about 200 rows (within 5–20 %) only "
        "when patience or calibrate needs it.",
        Range(float, 0, 1),
        None,
    )
    members: int | str = setting(
        "auto",
        "Networks trained from different seeds on the same rows and saved as one network whose "
        "logits are their mean (headkit.estimator.members); auto: 3 on a table (a DataFrame) of at "
        "most 20,000 rows fitted with the honest recipe, else 1.",
        Range(int, 1, None),
        Choice(("auto",)),
    )
    patience: int | str | None = setting(
        "auto",
        "Epochs without validation improvement before stopping; none runs the whole schedule "
        "(on MNIST-1D 0.7 points better on average over 8 seeds than patience=40); auto: 16 "
        "where monitor resolves to val_calibrated_loss (tables and small data, whose best epoch "
        "comes early), else none.",
        Range(int, 1, None),
        Choice(("auto",)),
        None,
    )
    restore_best: bool = setting(
        True,
        "End with the weights of the best validation epoch (with or without early stopping).",
        bool,
    )
    monitor: str = setting(
        "auto",
        "What early stopping and the restore watch: val_accuracy (ties: lower val_loss), "
        "val_loss, or val_calibrated_loss (the softmax loss at the temperature best for that "
        "epoch: an overconfident but well-ranked epoch is not penalised for what calibration "
        "repairs); auto: val_calibrated_loss when the fit calibrates a table (a DataFrame) or "
        "fewer than 2,000 rows, else val_accuracy.",
        Choice(("auto", "val_accuracy", "val_loss", "val_calibrated_loss")),
    )
    gradient_noise: float = setting(
        0.0,
        "η of annealed Gaussian gradient noise σ² = η/(1+t)^γ; 0 disables it.",
        Range(float, 0, None),
    )
    gradient_noise_gamma: float = setting(
        0.55,
        "γ of the gradient-noise schedule (0.55 in Neelakantan et al. 2015).",
        Range(float, 0, None),
    )
    nested_budget: float | None = setting(
        None,
        "With dropout='nested': after the fit, cut the last hidden layer to the smallest width K "
        "whose validation accuracy is within this budget of the best width's (0.01 = one point); "
        "needs a validation split (none holds out 10 %); none keeps the full width.",
        Range(float, 0, 1, "both"),
        None,
    )
    prune: str = setting(
        "none",
        "Sparse Dense layers: none, gmp:sparsity=0.9 (gradual magnitude pruning on the cubic "
        "schedule) or erk:density=0.1 (a fixed random mask, ERK layer densities); the saved "
        "weights hold exact zeros.",
        str,
    )
    privacy: str = setting(
        "none",
        "Differentially private training: none, or dp:noise=1.0,clip=1.0,delta=1e-5 (DP-SGD "
        "through Opacus: Poisson batches, per-row gradients clipped to clip, Gaussian noise "
        "noise·clip; ε is reported as epsilon_). Needs pip install 'headkit[dp]' and "
        "standardize=False (the training mean and scale are not private).",
        str,
    )
    orthogonal_gradients: bool = setting(
        False,
        "⊥Grad: remove from each parameter's gradient its component along the parameter before "
        "the optimiser step, so training cannot lower the loss by scaling the logits up (Prieto "
        "et al. 2025: prevents Softmax Collapse).",
        bool,
    )
    standardize: bool = setting(
        True, "Scale features by the training mean and standard deviation (saved).", bool
    )
    class_weight: str | dict[str, float] | None = setting(  # noqa: RUF009 (None is immutable)
        None,
        "Weight of each class's rows in the loss, as in scikit-learn: balanced gives "
        "n_samples/(n_classes·count_c); a dict (Python) maps labels to weights, others weigh 1. "
        "Multiplies sample_weight.",
        Choice(("balanced",)),
        dict,
        None,
    )
    tabular: bool | str = setting(
        "auto",
        "Table preprocessing of a DataFrame (median imputation + missing flags + scaling, one-hot "
        "or hashed categories): auto does it for frames with text, category or boolean columns or "
        "gaps; numeric arrays never use it.",
        Choice(("auto",)),
        bool,
    )
    calibrate: bool | str = setting(
        "auto",
        "After training, fit a temperature on the validation split (needs "
        "validation_fraction > 0); with validation_fraction none it holds out about 200 rows "
        "(5–20 %). auto: on for a table (a DataFrame) or fewer than 2,000 rows, and wherever rows "
        "are held out anyway (validation_fraction > 0, patience); larger numeric arrays train on "
        "every row (the hold-out cost MNIST-1D a point of accuracy).",
        Choice(("auto",)),
        bool,
    )
    numeric: str = setting(
        "auto",
        "Encoding of a table's numeric columns (tabular preprocessing): robust_clip (median and "
        "inter-quartile range, then smooth clipping to ±3, as RealMLP), ple (robust_clip plus a "
        "piecewise-linear encoding on up to 16 quantile bins), standard (mean, std); auto: ple "
        "with at least 400 training rows per class, else robust_clip.",
        Choice(("auto", "robust_clip", "ple", "standard")),
    )
    track_collapse: bool = setting(
        False, "Record neural-collapse NC1–NC4 on the training split after every epoch.", bool
    )
    solver: str = setting(
        "adamw",
        "adamw trains everything with the fit loop; lbfgs:C=1 (logistic regression) and "
        "ridge:alpha=1e-3 (closed form) fit only the head's readout on frozen features.",
        str,
    )
    augment: str = setting(
        "none", "Training-batch augmentation: none, mixup:alpha=0.2 or cutmix:alpha=1.", str
    )
    teacher: str | tuple[str, ...] | None = setting(
        None,
        "A saved run directory whose probabilities the network is distilled from (Hinton et al. "
        "2015), or several whose probabilities are averaged (MEAL V2); none trains on the labels "
        "only. Needs a head without its own loss.",
        str,
        "path",
        list,
        tuple,
        None,
    )
    teacher_temperature: float = setting(
        4.0,
        "T > 0 applied to teacher and student in the distillation term.",
        Range(float, 0, None, "neither"),
    )
    teacher_weight: float = setting(
        0.5,
        "β in [0, 1]: β·T²·KL(p_T^teacher ‖ p_T^student) + (1 − β)·loss.",
        Range(float, 0, 1, "both"),
    )
    student_temperature: float | None = setting(
        None,
        "T_s > 0 of the student in the distillation term, β·T_s²·KL(p_Tt^teacher ‖ p_Ts^student), "
        "when it differs from teacher_temperature (T_t; LTD uses a low T_t); none: T_s = T_t.",
        Range(float, 0, None, "neither"),
        None,
    )
    teacher_loss: str = setting(
        "kl",
        "The distillation term: kl (the teacher's whole distribution) or sampled_logit (squared "
        "error between student and teacher log-probabilities of each row's label: the loss for a "
        "teacher known only by the sampled label's probability, Zhao & Zhu 2023).",
        Choice(("kl", "sampled_logit")),
    )
    track_diagnostics: bool = setting(
        False,
        "Record layer diagnostics after every epoch: gradient norms, output entropy, effective "
        "ranks, per-layer probe accuracy and matrix entropy.",
        bool,
    )
    random_state: int | None = setting(
        0,
        "Seed of initialisation, splits, shuffling and dropout: the same seed gives the same "
        "weights on CPU; None (Python only) draws a fresh one. The fit's seed is saved as seed_.",
        "random_state",
    )
    device: str = setting("auto", "auto (CUDA when available), cpu, cuda or a torch device.", str)
    threads: int | None = setting(
        None,
        "Intra-op CPU threads for fit and predict; none picks them per call from the work per "
        "step and the cores free now (headkit.threads). Fix it for bit-for-bit repeats.",
        Range(int, 1, None),
        None,
    )
    precision: str = setting(
        "auto",
        "Dtype of the default network's hidden matrix products in training: float32, or "
        "bfloat16 (float32 accumulation, weights and loss; predictions stay float32); auto: "
        "float32 for now (headkit.training.precision says why).",
        Choice(("auto", "float32", "bfloat16")),
    )
    preset: str | None = setting(
        None,
        "A named recipe (headkit.estimator.presets: accurate, small, none) whose values replace "
        "every setting left at its default; options after a colon (accurate:epochs=60); none "
        "uses small (2×128, dropout 0.5, weight decay 0.1, label smoothing 0.1) where calibrate "
        "is on for a table (a DataFrame) or fewer than 2,000 rows.",
        str,
        None,
    )
    checkpoint_dir: str | None = setting(
        None,
        "Write the whole training state there after every epoch; a fit interrupted and called "
        "again with the same parameters and data resumes and ends bit for bit as an "
        "uninterrupted one (docs/failures.md).",
        str,
        "path",
        None,
    )

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
