"""Several networks trained on the same rows, saved as one wider network (``members``).

A fit with ``members=K`` trains K networks of the same shape from K seeds on the same training
rows, each stopped at its own best epoch on the same held-out rows, then merges them into one
:class:`headkit.nn.HeadNet` whose logits are the mean of the K networks' logits: the first
Dense layer stacks the K first layers (K·h₁ units), each later hidden layer is block-diagonal
(member k's units read only member k's units), and the head concatenates the K heads divided by
K. Without normalisation, residuals or gates the merged network computes exactly the mean of the
members' logits, so saving, loading, the NumPy engine, the server and the ONNX export take it
as any network. The temperature is then fitted on the held-out rows for the merged network.
Averaging the logits of networks that differ only in their initialisation, dropout masks and
batch order is the cheapest ensemble (Lakshminarayanan et al. 2017 use five).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from headkit.exceptions import ConfigError
from headkit.nn.network import HeadNet
from headkit.training.packed import PackedTrainer
from headkit.training.packed_net import packable

# members="auto": this many networks on the honest recipe's tables of at most MEMBER_ROWS rows
AUTO_MEMBERS, MEMBER_ROWS = 3, 20_000


def mergeable(config: Any) -> bool:
    """True when K networks of this config merge exactly (plain Dense blocks, linear head)."""
    return (
        config.norm in (None, "none")
        and not config.residual
        and config.block == "dense"
        and config.input_gates == "none"
        and config.layer_drop == "none"
        and config.head == "linear"
        and len(config.hidden_sizes) > 0
    )


def resolve_members(est: Any, table: bool, n_rows: int) -> int:
    """Return the number of members of a fit (once ``monitor_`` and ``preset_`` are set).

    ``members``, or for ``"auto"`` :data:`AUTO_MEMBERS` on a table (a DataFrame) of at most
    :data:`MEMBER_ROWS` rows fitted with the honest recipe (the epoch chosen on the calibrated
    held-out loss) and a :func:`mergeable` network, else 1 (numeric arrays keep one network).

    Raises
    ------
    ConfigError
        ``members`` > 1 with a network that does not merge, or with DP-SGD, a teacher or
        ``nested_budget`` (whose state is that of one network).
    """
    # A checkpoint holds member 0: a resumed fit finishes it, then trains the others afresh
    # from their seeds, as the uninterrupted fit does.
    single = str(est.privacy) != "none" or est.teacher is not None or est.nested_budget is not None
    from headkit.estimator.presets import HONEST_MONITOR, honest_data

    config = est.network_config(1, 2)
    if est.members == "auto":
        recipe = table and est.monitor_ == HONEST_MONITOR and honest_data(table, n_rows)
        ok = recipe and n_rows <= MEMBER_ROWS and mergeable(config) and not single
        return AUTO_MEMBERS if ok else 1
    if int(est.members) > 1 and (single or not mergeable(config)):
        raise ConfigError(
            "members > 1 needs plain Dense blocks (no norm, residual, gates, layer drop), a "
            "linear head, and no privacy, teacher or nested_budget; set members=1."
        )
    return int(est.members)


def merge_networks(nets: list[HeadNet]) -> HeadNet:
    """Return one network whose logits are the mean of ``nets``' logits (same config each).

    Parameters
    ----------
    nets : list of HeadNet
        K >= 1 networks of one :func:`mergeable` config; their standardisation buffers are
        taken from the first.
    """
    k, first = len(nets), nets[0]
    sizes = tuple(k * h for h in first.config.hidden_sizes)
    merged = HeadNet(first.config.replace(hidden_sizes=sizes))
    states = [net.state_dict() for net in nets]
    new = merged.state_dict()
    for name in ("feature_mean", "feature_scale"):
        new[name] = states[0][name].clone()
    for j in range(len(sizes)):
        w, b = f"trunk.blocks.{j}.linear.weight", f"trunk.blocks.{j}.linear.bias"
        parts = [s[w] for s in states]
        new[w] = torch.cat(parts) if j == 0 else torch.block_diag(*parts)
        new[b] = torch.cat([s[b] for s in states])
    new["head.weight"] = torch.cat([s["head.weight"] for s in states], dim=1) / k
    new["head.bias"] = torch.stack([s["head.bias"] for s in states]).mean(dim=0)
    merged.load_state_dict(new)
    return merged.to(first.temperature.device).train(first.training)


def member_seed(seed: int, k: int) -> int:
    """Seed of member ``k`` (member 0 keeps the fit's seed)."""
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0] % (2**31 - 1)) if k else seed


def train_packed(est: Any, rows: tuple, seed: int, table: bool) -> PackedTrainer | None:
    """Set ``members_``; train every member together when the fit allows, else return None.

    Member 0 is ``est.model_``, member k is built from :func:`member_seed` as in
    :func:`train_members`; the K train packed (:class:`headkit.training.packed.PackedTrainer`,
    one pass over the data) and the trainer returned holds them in ``nets``. Packing needs
    :func:`~headkit.training.packed.packable` networks and a plain fit: dense single-label
    rows without row or class weights, no augment, solver, gradient noise, pruning, ⊥Grad,
    torch.distributed, a checkpoint to resume or callbacks other than the progress display and
    a fresh checkpoint writer (which then writes nothing; the Softmax Collapse detector watches
    member 0, as on the sequential path); any of those trains the members one after another.
    """
    est._set_fitted(members_=resolve_members(est, table, len(rows[1]) + len(rows[3])))
    if est.members_ == 1 or not _packs(est, rows):
        return None
    from headkit.estimator import fit as steps
    from headkit.inference.forward import seeded
    from headkit.training import PlainLog, ProgressBar, SoftmaxCollapseDetector, resolve_device

    nets, device = [est.model_], resolve_device(est.device)
    for k in range(1, est.members_):
        with seeded(member_seed(seed, k), device):
            nets.append(steps.build_network(est, rows[0], rows[4]).to(device))
    callbacks = est._trainer.callbacks
    shown = [cb for cb in callbacks if isinstance(cb, (PlainLog, ProgressBar))]
    watch = [cb for cb in callbacks if isinstance(cb, SoftmaxCollapseDetector)]
    trainer = PackedTrainer(nets, est._trainer.config, est._trainer.criterion, shown, watch)
    data = steps.trainer_rows(est, rows)
    trainer.fit(data["X"], data["y"], data["X_val"], data["y_val"])
    return trainer


def _packs(est: Any, rows: tuple) -> bool:
    """True when the fit's members may train packed (see :func:`train_packed`)."""
    from headkit.data.sparse import is_sparse
    from headkit.training import PlainLog, ProgressBar, SoftmaxCollapseDetector
    from headkit.training.stopping import DivergenceGuard, EarlyStopping

    trainer = est._trainer
    known = (DivergenceGuard, EarlyStopping, PlainLog, ProgressBar, SoftmaxCollapseDetector)
    return (
        all(type(cb) in known or _fresh_checkpoint(cb) for cb in trainer.callbacks)
        and trainer.solver is None
        and trainer.augment is None
        and not trainer.gradient_noise.enabled
        and trainer._ddp_step is None
        and not trainer._auxiliary
        and rows[4] is None
        and rows[5] is None
        and not est.multilabel_
        and not is_sparse(rows[0])
        and packable(est.model_, trainer.criterion)
    )


def _fresh_checkpoint(callback: Any) -> bool:
    """True for a :class:`Checkpointer` with no checkpoint to resume (a packed fit skips it).

    A packed fit (at most :data:`MEMBER_ROWS` rows: seconds) writes no per-epoch checkpoint,
    so an interrupted ``headkit train`` of a table resumes from its first epoch; a checkpoint
    left by a fit that trained its members one after another is resumed on that path.
    """
    from headkit.training.checkpoint import Checkpointer

    return type(callback) is Checkpointer and callback.saved_info() is None


def train_members(est: Any, rows: tuple, seed: int, table: bool) -> HeadNet:
    """Set ``members_``; train members 1..K-1 like ``est.model_`` (member 0); return the merge.

    ``rows`` is ``(X_train, y_train, X_val, y_val, w_train, w_val)`` as the fit split them,
    ``table`` whether the fit's X was a DataFrame; with ``members_ == 1`` ``est.model_`` itself
    is returned.
    """
    est._set_fitted(members_=resolve_members(est, table, len(rows[1]) + len(rows[3])))
    if est.members_ == 1:
        return est.model_
    from headkit.estimator import fit as steps
    from headkit.inference.forward import seeded
    from headkit.training import Trainer, default_callbacks, resolve_device

    X_train, w_train = rows[0], rows[4]
    nets = [est.model_]
    device = resolve_device(est.device)
    for k in range(1, est.members_):
        with seeded(member_seed(seed, k), device):
            net = steps.build_network(est, X_train, w_train).to(device)
            trainer = Trainer(net, est.training_config(), len(est.classes_), default_callbacks(0))
            trainer.fit(**steps.trainer_rows(est, rows))
        nets.append(trainer.model)
    return merge_networks(nets)
