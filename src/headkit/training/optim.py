"""AdamW with torch's fused kernel and none of ``torch.optim``'s compile-time machinery.

torch wraps its optimisers' ``step``, ``zero_grad``, ``add_param_group`` and ``state_dict`` so
that ``torch.compile`` can trace around them, and those wrappers import ``torch._dynamo`` on first
use: 2–3 s on a 2-core machine, paid by every process that trains, against a default MNIST-1D
fit of 4 s. headkit's loop is never compiled, so
:class:`FusedAdamW` calls the kernel ``torch.optim.AdamW(fused=True)`` calls,
``torch._fused_adamw_``, directly, and uses the unwrapped bookkeeping methods. The state
(``step``, ``exp_avg``, ``exp_avg_sq`` per parameter) and ``param_groups`` are torch's, so
schedulers, checkpoints and ``state_dict`` files are interchangeable with ``torch.optim.AdamW``.
Anything the kernel does not cover (sparse gradients, AMSGrad, ``maximize``, a closure) falls back
to torch's own step. Parameters of fewer than 2^18 elements each are updated on one intra-op
thread (:mod:`headkit.functional._serial`: a busy machine's barrier costs more than the split
saves).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

from headkit.functional._serial import one_thread

_KERNEL_DTYPES = (torch.float32, torch.float64)


def _unwrapped(method: Callable[..., Any]) -> Callable[..., Any]:
    """The method under torch's ``_disable_dynamo`` wrapper (the method itself if unwrapped)."""
    return getattr(method, "__wrapped__", method)


class FusedAdamW(torch.optim.AdamW):
    """Decoupled-weight-decay Adam (Loshchilov & Hutter 2019) via the fused kernel.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters or parameter groups, as for any torch optimiser.
    lr : float
        Learning rate.
    weight_decay : float
        Decoupled weight decay (per group when groups set their own).
    betas : tuple of float
        Coefficients of the running averages of the gradient and its square.
    eps : float
        Added to the denominator for numerical stability.

    Notes
    -----
    The same arithmetic as ``torch.optim.AdamW(..., fused=True)`` step for step (a test compares
    the parameters bit for bit). The fused kernel exists for CPU and CUDA float tensors from
    torch 2.4; other devices and dtypes take torch's ordinary step.
    """

    add_param_group = _unwrapped(Optimizer.add_param_group)
    state_dict = _unwrapped(Optimizer.state_dict)
    load_state_dict = _unwrapped(Optimizer.load_state_dict)

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        params = list(params)
        tensors = [
            t for item in params for t in (item["params"] if isinstance(item, dict) else [item])
        ]
        # Recorded in param_groups as torch records it, so a state_dict loaded into
        # torch.optim.AdamW takes the same fused arithmetic.
        fused = all(t.device.type in ("cpu", "cuda") and t.dtype in _KERNEL_DTYPES for t in tensors)
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused or None
        )

    def _patch_step_function(self) -> None:
        # torch wraps ``step`` in a profiler record and a hook loop (a dispatched call and a few
        # Python frames per step); ``step`` runs the hooks itself when any are registered.
        self._zero_grad_profile_name = f"Optimizer.zero_grad#{type(self).__name__}.zero_grad"

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every gradient (or zero it with ``set_to_none=False``), without a profiler record."""
        if not set_to_none:
            _unwrapped(Optimizer.zero_grad)(self, set_to_none=False)
            return
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Update every parameter that has a gradient; return the closure's loss (if given)."""
        if (
            self._optimizer_step_pre_hooks
            or self._optimizer_step_post_hooks
            or _global_optimizer_pre_hooks
            or _global_optimizer_post_hooks
        ):
            return self.profile_hook_step(FusedAdamW._update)(self, closure)
        return self._update(closure)

    @torch.no_grad()
    def _update(self, closure: Callable[[], float] | None = None) -> float | None:
        """The step itself (``step`` adds the registered hooks around it)."""
        if closure is not None or not self._kernel_applies():
            return _unwrapped(torch.optim.AdamW.step)(self, closure)
        for group in self.param_groups:
            for tensors in self._by_device_and_dtype(group).values():
                params, grads, exp_avgs, exp_avg_sqs, steps = tensors
                beta1, beta2 = group["betas"]
                # one thread for small tensors (headkit.functional._serial); the kernel splits
                # each tensor on its own
                with one_thread(max(p.numel() for p in params)):
                    torch._foreach_add_(steps, 1)
                    torch._fused_adamw_(
                        params, grads, exp_avgs, exp_avg_sqs, [], steps,
                        lr=group["lr"], beta1=beta1, beta2=beta2,
                        weight_decay=group["weight_decay"], eps=group["eps"], amsgrad=False,
                        maximize=False, grad_scale=None, found_inf=None,
                    )  # fmt: skip
        return None

    def _kernel_applies(self) -> bool:
        """True when every gradient and group is one the fused kernel handles."""
        for group in self.param_groups:
            if group["amsgrad"] or group["maximize"] or group["differentiable"]:
                return False
            for p in group["params"]:
                if p.grad is not None and (
                    p.grad.is_sparse
                    or p.device.type not in ("cpu", "cuda")
                    or p.dtype not in _KERNEL_DTYPES
                ):
                    return False
        return True

    def _by_device_and_dtype(self, group: dict[str, Any]) -> dict[Any, tuple[list[Tensor], ...]]:
        """The group's parameters with gradients and their state, split by device and dtype."""
        split: dict[Any, tuple[list[Tensor], ...]] = {}
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if not state:  # torch's layout: a float32 step counter beside the two averages
                state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            lists = split.setdefault((p.device, p.dtype), ([], [], [], [], []))
            for items, value in zip(
                lists,
                (p, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"]),
                strict=True,
            ):
                items.append(value)
        return split


SCHEDULES = ("onecycle", "cosine", "constant")
WARMUP_FRACTION = 0.25  # share of one-cycle steps spent raising the learning rate


def build_schedulers(schedule: str, optimizers: list[Optimizer], steps: int) -> list[Any]:
    """Per-step learning-rate schedulers of ``schedule`` over ``steps`` steps (none for 0).

    ``"onecycle"`` warms up over :data:`WARMUP_FRACTION` of the steps (at least two) and anneals;
    ``"cosine"`` anneals from the start; ``"constant"`` has no scheduler.
    """
    if schedule == "constant" or steps < 1:
        return []
    if schedule == "onecycle":
        return [
            torch.optim.lr_scheduler.OneCycleLR(
                opt,
                max_lr=[g["lr"] for g in opt.param_groups],
                total_steps=steps,
                pct_start=max(WARMUP_FRACTION, 2 / steps) if steps > 2 else WARMUP_FRACTION,
                cycle_momentum=getattr(opt, "cycle_momentum", True),
            )
            for opt in optimizers
        ]
    return [torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) for opt in optimizers]
