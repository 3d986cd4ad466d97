"""Convex solvers for the readout on frozen features; the ``solver=`` registry.

The default ``adamw`` trains the whole network with the fit loop. The other solvers fit only the
head's linear readout, in float64, on the features of the frozen trunk (for ``hidden_sizes=()``
the standardised inputs: a linear probe on cached features; for ``head="random_features"`` the
random features):

| solver | objective over the readout (W, b) |
|---|---|
| adamw | the fit loop (mini-batch AdamW, every trainable parameter) |
| lbfgs (``C=1,max_iter=2000,tol=1e-10``) | ``C·Σ_i CE_i + ½‖W‖²`` by full-batch L-BFGS (1) |
| ridge (``alpha=1e-3,form=auto``) | ``½‖ΦW + b − Y‖² + ½α‖W‖²`` in closed form, Y one-hot (primal or dual) |

(1) scikit-learn's ``LogisticRegression(C=C)``; for two classes the penalty is ``‖W‖²``, which
equals sklearn's ``½‖w‖²`` on its single weight vector ``w = W₁ − W₀``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from sklearn.exceptions import ConvergenceWarning
from torch import Tensor, nn

from headkit import functional as F
from headkit.exceptions import ConfigError
from headkit.registry import Registry
from headkit.training.callbacks import EpochRecord

if TYPE_CHECKING:
    from headkit.training.trainer import Trainer

SOLVERS = Registry("solver")


def readout_of(model: nn.Module) -> tuple[Callable[[Tensor], Tensor], nn.Linear]:
    """Return ``(embed, readout)``: the frozen map to the readout's input, and the readout."""
    head = getattr(model, "head", None)
    if hasattr(head, "readout") and hasattr(head, "embed"):
        return head.embed, head.readout
    if isinstance(head, nn.Linear):
        return (lambda h: h), head
    raise ConfigError(
        f"This solver fits a linear readout; head {type(head).__name__} has none. Use "
        "head='linear' or head='random_features', or solver='adamw'."
    )


def fit_readout(
    trainer: Trainer,
    X: Tensor,
    y: Tensor,
    X_val: Tensor | None,
    y_val: Tensor | None,
    sample_weight: Tensor | None,
    teacher_log_probs: Tensor | None,
) -> list[EpochRecord]:
    """Fit ``trainer.model``'s readout with the config's solver instead of the loop: one history row.

    The arguments are those of :meth:`headkit.training.Trainer.fit`; ``trainer.solver`` is set.
    """
    if sample_weight is not None or teacher_log_probs is not None:
        raise ConfigError(
            f"solver={trainer.config.solver!r} fits the readout without sample weights or a "
            "teacher; drop them or use solver='adamw'."
        )
    started = time.perf_counter()
    X, y = X.to(trainer.device), y.to(trainer.device)
    trainer.begin_fit(1, resumable=False)
    extra = trainer.solver.fit(trainer.model, X, y, readout_of(trainer.model)[1].out_features)
    train_loss, _ = trainer.evaluate(X, y)
    val_loss = val_acc = None
    if X_val is not None and y_val is not None and len(X_val) > 0:
        val_loss, val_acc = trainer.evaluate(X_val.to(trainer.device), y_val.to(trainer.device))
    trainer.epoch += 1
    seconds = time.perf_counter() - started
    record = EpochRecord(trainer.epoch, train_loss, val_loss, val_acc, 0.0, seconds, extra)
    trainer.end_epoch(record)
    trainer.end_fit()
    return trainer.history[trainer.fit_start_epoch :]


def frozen_features(model: nn.Module, X: Tensor, batch_size: int = 8192) -> Tensor:
    """Return the readout's input for every row, float64, (N, m), in eval mode."""
    embed, _ = readout_of(model)
    model.eval()
    with torch.no_grad():
        parts = [embed(model.features(X[i : i + batch_size])) for i in range(0, len(X), batch_size)]
    return torch.cat(parts).double()


class LBFGSLogistic:
    """L2-penalised multinomial logistic regression of the readout by L-BFGS.

    Runs until the largest gradient entry of ``mean CE + ½‖W‖²/(C·n)`` is at most ``tol``, or
    the line search makes no more progress in float64, or ``max_iter`` iterations (then a
    :class:`~sklearn.exceptions.ConvergenceWarning`). It minimises scikit-learn's unscaled
    ``C·Σ CE + ½‖W‖²`` times 10⁶: torch's L-BFGS drops every curvature pair with
    ``yᵀs ≤ 1e-10``, an absolute test that a small objective fails near its optimum (L-BFGS then
    falls back to gradient steps, several times as many). Scaled, it took 597 iterations on
    4,000 × 256 MNIST-1D features at C = 1, scikit-learn 508
    (``benchmarks/results/linear_probe.md``).
    """

    def __init__(self, C: float = 1.0, max_iter: int = 2000, tol: float = 1e-10) -> None:
        if C <= 0 or max_iter < 1:
            raise ConfigError(f"lbfgs needs C > 0 and max_iter >= 1; got C={C}, {max_iter}.")
        self.C, self.max_iter, self.tol = C, max_iter, tol

    def fit(self, model: nn.Module, X: Tensor, y: Tensor, n_classes: int) -> dict[str, float]:
        """Fit the readout; return ``{"iterations": ..., "gradient_max": ...}``."""
        phi = frozen_features(model, X)
        _, readout = readout_of(model)
        has_bias = readout.bias is not None
        zeros = {"dtype": torch.float64, "device": phi.device}
        weight = torch.zeros(n_classes, phi.shape[1], **zeros, requires_grad=True)
        bias = torch.zeros(n_classes, **zeros, requires_grad=has_bias)
        scale = 1e6 * max(self.C * len(y), 1.0)
        penalty = (1.0 if n_classes == 2 else 0.5) / (self.C * len(y))
        optimiser = torch.optim.LBFGS(
            [weight, bias] if has_bias else [weight],
            lr=1.0,
            max_iter=self.max_iter,
            # torch's default, 1.25 evaluations per iteration, would end a fit whose line
            # searches need more before max_iter does.
            max_eval=25 * self.max_iter,
            tolerance_grad=self.tol * scale,
            tolerance_change=0.0,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

        def closure() -> Tensor:
            optimiser.zero_grad()
            logits = phi @ weight.T + bias
            loss = scale * (F.cross_entropy(logits, y) + penalty * weight.pow(2).sum())
            loss.backward()
            return loss

        optimiser.step(closure)
        closure()
        grads = [weight.grad] + ([bias.grad] if has_bias else [])
        gradient_max = max(float(g.abs().max()) for g in grads) / scale
        iterations = optimiser.state[weight].get("n_iter", 0)
        if iterations >= self.max_iter and gradient_max > self.tol:
            warnings.warn(
                f"lbfgs stopped at max_iter={self.max_iter} with gradient {gradient_max:.1e} > "
                f"tol={self.tol:g}; raise max_iter (solver='lbfgs:max_iter=...').",
                ConvergenceWarning,
                stacklevel=2,
            )
        with torch.no_grad():
            readout.weight.copy_(weight)
            if has_bias:
                readout.bias.copy_(bias)
        return {"iterations": float(iterations), "gradient_max": gradient_max}


class RidgeReadout:
    """Closed-form ridge regression of one-hot targets on the readout's input."""

    def __init__(self, alpha: float = 1e-3, form: str = "auto") -> None:
        if alpha < 0:
            raise ConfigError(f"ridge needs alpha >= 0; got {alpha}.")
        self.alpha, self.form = alpha, form

    def fit(self, model: nn.Module, X: Tensor, y: Tensor, n_classes: int) -> dict[str, float]:
        """Fit the readout; return ``{"train_mse": ...}`` (mean over rows and classes)."""
        phi = frozen_features(model, X)
        _, readout = readout_of(model)
        targets = torch.nn.functional.one_hot(y, n_classes).double()
        theta, intercept = F.ridge_solve(
            phi, targets, self.alpha, self.form, fit_intercept=readout.bias is not None
        )
        with torch.no_grad():
            readout.weight.copy_(theta.T)
            if readout.bias is not None:
                readout.bias.copy_(intercept)
        residual = phi @ theta + intercept - targets
        return {"train_mse": float(residual.pow(2).mean())}


@SOLVERS.register("adamw")
def adamw() -> None:
    """The fit loop: mini-batch AdamW on every trainable parameter (the default)."""
    return None


@SOLVERS.register("lbfgs")
def lbfgs(C: float = 1.0, max_iter: int = 2000, tol: float = 1e-10) -> LBFGSLogistic:
    """Readout by L-BFGS logistic regression, C·ΣCE + ½‖W‖² (scikit-learn's LogisticRegression)."""
    return LBFGSLogistic(C, max_iter, tol)


@SOLVERS.register("ridge")
def ridge(alpha: float = 1e-3, form: str = "auto") -> RidgeReadout:
    """Readout by closed-form ridge on one-hot targets (primal or dual form)."""
    return RidgeReadout(alpha, form)
