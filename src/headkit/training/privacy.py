"""DP-SGD through Opacus (catalogue F3): ``privacy="dp:noise=1.0,clip=1.0,delta=1e-5"``.

Differentially private training (Abadi et al. 2016) as Opacus implements it: each step samples a
Poisson batch (every training row independently, with probability q = batch size / n), clips each
row's gradient to L2 norm ``clip`` (C), sums them, adds Gaussian noise N(0, σ²C²I) with
σ = ``noise`` and divides by the expected batch size; the AdamW step then uses that gradient.
Opacus's RDP accountant turns (σ, q, steps) into the privacy budget ε at ``delta``: the fit is
(ε, δ)-differentially private with respect to the training rows. Rows held out for validation
(early stopping, ``restore_best``, ``calibrate``) are not covered: keep ``validation_fraction``
at 0 (the default without patience or calibration) for a guarantee over every row.

Opacus is an optional dependency (``pip install 'headkit[dp]'``), imported only when a fit asks
for privacy. What it cannot make private is refused before the first step, with the reason:
batch norm (Opacus's ``ModuleValidator``), losses or heads with their own optimiser or trainable
loss parameters, and fit options that mix rows or change gradients (teacher, augment, sample or
class weights, pruning, gradient noise, ⊥Grad, checkpoints, readout solvers, torch.distributed).

| privacy | |
|---|---|
| none | ordinary training (the default) |
| dp (``noise=1.0,clip=1.0,delta=1e-5``) | DP-SGD; ε per epoch in the history, ``epsilon_`` after the fit |
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from headkit.config import batch_rows
from headkit.exceptions import ConfigError
from headkit.registry import Registry
from headkit.training.callbacks import Callback

if TYPE_CHECKING:
    from headkit.training.callbacks import EpochRecord
    from headkit.training.trainer import Trainer

PRIVACY = Registry("privacy")
ACCOUNTANT = "rdp"  # Opacus's Rényi-DP accountant


def _require_opacus() -> Any:
    try:
        import opacus
    except ImportError:
        raise ConfigError(
            "privacy='dp' needs Opacus; install it with pip install 'headkit[dp]'."
        ) from None
    return opacus


def _unsupported_setting(config: Any) -> str | None:
    """The first fit setting DP-SGD cannot honour, as the sentence to show (None: all fine)."""
    checks = [
        (config.solver != "adamw", f"solver={config.solver!r} fits without the loop; use adamw"),
        (config.teacher is not None, "a teacher's targets are not covered; drop teacher"),
        (config.augment != "none", "augment mixes rows; use augment='none'"),
        (config.class_weight is not None, "class weights change per-row scales; drop them"),
        (config.prune != "none", "pruning masks are not per-sample; use prune='none'"),
        (config.gradient_noise > 0, "gradient_noise adds noise of its own; set it to 0"),
        (config.orthogonal_gradients, "⊥Grad edits the noised gradient; turn it off"),
        (config.checkpoint_dir is not None, "a resumed fit loses its accountant; drop it"),
        (
            config.standardize,
            "standardize stores the training rows' mean and scale in the model outside the "
            "budget; set standardize=False and scale the features with public statistics",
        ),
    ]
    return next((why for bad, why in checks if bad), None)


class DifferentialPrivacy(Callback):
    """DP-SGD with Opacus: Poisson batches, per-sample clipping to ``clip``, noise ``noise``·``clip``.

    Parameters
    ----------
    noise : float
        σ > 0, the noise multiplier: the noise's standard deviation over the clip norm.
    clip : float
        C > 0, the largest L2 norm of one row's gradient (over every parameter together).
    delta : float
        δ in (0, 1) of the (ε, δ) guarantee; keep it below 1/n.

    Attributes
    ----------
    epsilon : float or None
        ε of the fit so far at ``delta`` (Opacus's RDP accountant), None before the first step.
    steps : int
        Optimisation steps taken (each one accounted).
    sample_rate : float or None
        q, the Poisson sampling probability of one row per step.
    """

    def __init__(self, noise: float = 1.0, clip: float = 1.0, delta: float = 1e-5) -> None:
        if not (noise > 0 and math.isfinite(noise)) or not (clip > 0 and math.isfinite(clip)):
            raise ConfigError(
                f"privacy='dp' needs noise > 0 and clip > 0; got noise={noise}, clip={clip}."
            )
        if not 0 < delta < 1:
            raise ConfigError(f"privacy='dp' needs delta in (0, 1); got {delta}.")
        self.noise, self.clip, self.delta = float(noise), float(clip), float(delta)
        self.engine: Any = None
        self._hooks: Any = None
        self._loader: Any = None

    @property
    def steps(self) -> int:
        return sum(n for _, _, n in self.engine.accountant.history) if self.engine else 0

    @property
    def sample_rate(self) -> float | None:
        return self.engine.accountant.history[-1][1] if self.steps else None

    @property
    def epsilon(self) -> float | None:
        return float(self.engine.get_epsilon(self.delta)) if self.steps else None

    def summary(self) -> dict[str, Any]:
        """JSON-ready record of the guarantee: ε, δ, σ, C, q and the steps."""
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "noise": self.noise,
            "clip": self.clip,
            "sample_rate": self.sample_rate,
            "steps": self.steps,
            "accountant": ACCOUNTANT,
        }

    def _check(self, trainer: Trainer) -> None:
        from headkit.training import distributed
        from headkit.training.checkpoint import Checkpointer

        why = _unsupported_setting(trainer.config)
        if why is None and distributed.active():
            why = "torch.distributed runs are not supported; train in one process"
        if why is None and any(isinstance(c, Checkpointer) for c in trainer.callbacks):
            why = "a resumed fit loses its accountant; drop checkpoint_dir"
        if why is None and getattr(trainer, "_weighted", None) is not None:
            why = "sample weights change per-row scales; drop sample_weight"
        if why is None and any(p.requires_grad for p in trainer.criterion.parameters()):
            why = f"the loss {trainer.config.loss!r} has trainable parameters; use another loss"
        if why is None and len(trainer.optimizers) != 1:
            why = "the network brings an optimiser of its own; use another head or loss"
        if why is not None:
            raise ConfigError(f"privacy='dp' cannot be used here: {why}.")

    def _validate_network(self, model: torch.nn.Module) -> None:
        from opacus.validators import ModuleValidator

        errors = ModuleValidator.validate(model, strict=False)
        if errors:
            first = str(errors[0]).strip().splitlines()[0]
            raise ConfigError(
                f"privacy='dp' cannot train this network: Opacus says {first!r} (batch norm: "
                "use norm='layer' or none)."
            )

    def on_fit_start(self, trainer: Trainer, epochs: int) -> None:
        """Refuse what DP-SGD cannot cover before the first step (Opacus checks the network)."""
        _require_opacus()
        self._check(trainer)
        self._validate_network(trainer.model)

    def _attach(self, trainer: Trainer, n_rows: int) -> None:
        """Make the trainer's model and optimiser private (once per fit)."""
        from opacus import PrivacyEngine
        from torch.utils.data import DataLoader, TensorDataset

        batch = batch_rows(trainer.config.batch_size, n_rows)
        rows = TensorDataset(torch.arange(n_rows))
        loader = DataLoader(rows, batch_size=batch, generator=trainer.generator)
        with warnings.catch_warnings(), _quiet_opacus(), _opacus_refusal():
            warnings.simplefilter("ignore")  # "Secure RNG turned off": seeded runs repeat
            if self.engine is None:
                self.engine = PrivacyEngine(accountant=ACCOUNTANT)
            self._hooks, optimizer, self._loader = self.engine.make_private(
                module=trainer.model,
                optimizer=trainer.optimizers[0],
                data_loader=loader,
                noise_multiplier=self.noise,
                max_grad_norm=self.clip,
                poisson_sampling=True,
                wrap_model=False,
            )
        trainer._optimizers = [optimizer]

    def train_pass(self, trainer: Trainer, X: Tensor, y: Tensor) -> float:
        """One epoch of DP-SGD steps over Poisson batches; return the mean training loss."""
        if self._loader is None or len(self._loader.dataset) != len(X):
            self._attach(trainer, len(X))
        loss_sum, rows = torch.zeros((), device=trainer.device), 0
        with warnings.catch_warnings():  # Opacus's hooks on a network whose input needs no grad
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            for step, (index,) in enumerate(self._loader):
                index = index.to(trainer.device)
                with _opacus_refusal() if step == 0 else contextlib.nullcontext():
                    loss = trainer._step(X[index], y[index])
                if len(index):  # an empty Poisson batch still takes its (noise-only) step
                    loss_sum, rows = loss_sum + loss * len(index), rows + len(index)
        return float(loss_sum) / max(rows, 1)

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        if self.steps:
            record.extra["epsilon"] = self.epsilon  # type: ignore[assignment]

    def on_fit_end(self, trainer: Trainer) -> None:
        """Take Opacus's hooks off the network and give the trainer its plain optimiser back."""
        if self._hooks is not None:
            self._hooks.cleanup()
            trainer._optimizers = [trainer.optimizers[0].original_optimizer]
            self._hooks = self._loader = None


@contextlib.contextmanager
def _quiet_opacus():
    logger = logging.getLogger("opacus")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_private_fit(estimator: Any, tabular: bool, partial: bool = False) -> None:
    """Refuse an estimator fit whose other outputs would leak the training rows past ε.

    Raises
    ------
    ConfigError
        ``partial_fit`` (the accountant covers one fit over one data set), or table
        preprocessing (medians, scales and categories fitted on the training rows).
    """
    if getattr(estimator, "privacy", "none") in (None, "none"):
        return
    if partial:
        raise ConfigError(
            "privacy='dp' accounts for one fit over one data set; use fit, not partial_fit."
        )
    if tabular:
        raise ConfigError(
            "privacy='dp' cannot cover the table preprocessing (medians, scales and categories "
            "fitted on the training rows); encode the table yourself and pass tabular=False."
        )


def privacy_attributes(trainer: Any) -> dict[str, Any]:
    """The fitted ``epsilon_`` and ``privacy_`` (:meth:`DifferentialPrivacy.summary`) of a fit."""
    privacy = privacy_of(trainer)
    summary = privacy.summary() if privacy is not None else None
    return {"epsilon_": summary and summary["epsilon"], "privacy_": summary}


@contextlib.contextmanager
def _opacus_refusal():
    """Turn Opacus's refusal of a module (at set-up or the first step) into one ConfigError."""
    try:
        yield
    except (NotImplementedError, ValueError, RuntimeError) as error:
        text = str(error).strip().replace("\n", " ")
        known = ("Per sample gradient", "vmap", "Opacus", "grad_sample", "buffers")
        if not any(word in text for word in known):
            raise
        raise ConfigError(
            "privacy='dp' cannot train this network: Opacus cannot compute its per-row "
            f"gradients ({text[:160]}); use parts made of ordinary layers (head='linear', "
            "dropout='standard', block='dense')."
        ) from None


def privacy_of(trainer: Any) -> DifferentialPrivacy | None:
    """The trainer's DP-SGD callback, or None for ordinary training."""
    callbacks = getattr(trainer, "callbacks", ())
    return next((c for c in callbacks if isinstance(c, DifferentialPrivacy)), None)


@PRIVACY.register("none")
def no_privacy() -> None:
    """Ordinary (non-private) training (the default)."""
    return None


PRIVACY.register("dp")(DifferentialPrivacy)
