"""HeadNet: the whole classifier, DenseStack → dropout → head → output map."""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import Tensor, nn

from headkit.config import NetworkConfig
from headkit.nn.activations import ACTIVATIONS
from headkit.nn.dense import DenseStack
from headkit.nn.dropout import build_dropout, resolved_dropout
from headkit.nn.fused_loss import fused_gradients, fused_loss
from headkit.nn.heads import HEADS
from headkit.nn.input_gates import INPUT_GATES, build_input_gates
from headkit.nn.layer_drop import LAYER_DROPS
from headkit.nn.outputs import OUTPUTS


class HeadNet(nn.Module):
    """The features → Dense → Dropout → head → output-map classifier.

    Build it from a :class:`headkit.config.NetworkConfig` or with keyword arguments; it is an
    ordinary ``nn.Module`` that can sit on top of any backbone producing (N, n_features) features.

    Parameters
    ----------
    config : NetworkConfig, optional
        Full description; when omitted, built from ``n_features``, ``n_classes`` and ``**options``.
    n_features, n_classes : int, optional
        Input width and number of classes (when ``config`` is omitted).
    **options
        Other :class:`NetworkConfig` fields (``hidden_sizes``, ``dropout``, ``head``, ...).

    Attributes
    ----------
    trunk : DenseStack
        Features → hidden representation (N, D).
    head : nn.Module
        Hidden representation → logits (N, C).
    output : nn.Module
        Logits → probabilities (N, C).
    temperature : Tensor, shape ()
        Post-hoc calibration temperature applied by :meth:`probabilities` (1 until fitted).
    feature_mean, feature_scale : Tensor, shape (n_features,)
        Input standardisation applied first (identity until :meth:`set_standardization`).

    Shape
    -----
    ``forward``: input (N, n_features) → logits (N, n_classes); in training mode with
    multi-sample dropout, (k, N, n_classes).
    """

    # dtype of the fused training loss's hidden products (headkit.training.precision); None: x's
    matmul_dtype: torch.dtype | None = None

    def __init__(
        self,
        config: NetworkConfig | None = None,
        *,
        n_features: int | None = None,
        n_classes: int | None = None,
        **options: object,
    ) -> None:
        super().__init__()
        if config is None:
            if n_features is None or n_classes is None:
                raise TypeError("HeadNet needs a config, or n_features and n_classes.")
            config = NetworkConfig(n_features=n_features, n_classes=n_classes, **options)  # type: ignore[arg-type]
        self.config = config
        plan = build_dropout(config.dropout)
        self.trunk = DenseStack(
            config.n_features,
            config.hidden_sizes,
            activation=config.activation,
            norm=config.norm,
            residual=config.residual,
            dropout=plan,
            init=config.init,
            block=config.block,
        )
        self.input_gates = build_input_gates(config.input_gates, config.n_features)
        self.layer_drop = LAYER_DROPS.build(config.layer_drop)  # None or a LayerSkip plan
        if self.layer_drop is not None:
            self.layer_drop.configure(self.trunk)
        self.head = HEADS.build(
            config.head, in_features=self.trunk.out_features, n_classes=config.n_classes
        )
        self.output = OUTPUTS.build(config.output, n_classes=config.n_classes)
        self.register_buffer("temperature", torch.ones(()))
        self.register_buffer("feature_mean", torch.zeros(config.n_features))
        self.register_buffer("feature_scale", torch.ones(config.n_features))

    def set_standardization(self, mean: Tensor, scale: Tensor) -> None:
        """Store input scaling ``(x - mean) / scale`` applied before the trunk, shape (F,) each.

        Saved with the weights, so a loaded model takes raw features.
        """
        self.feature_mean.copy_(mean)
        self.feature_scale.copy_(scale)

    def trunk_input(self, x: Tensor) -> Tensor:
        """Return the trunk's input: standardised, then gated (``input_gates``), shape (N, F)."""
        return self.input_gates((x - self.feature_mean) / self.feature_scale)

    def features(self, x: Tensor) -> Tensor:
        """Return the trunk's output (the penultimate features), shape (N, D)."""
        return self.trunk(self.trunk_input(x))

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        """Return logits, shape (N, C) (or (k, N, C) with multi-sample dropout in training)."""
        return self.head(self.features(x), target)

    def training_loss(self, x: Tensor, target: Tensor, criterion: nn.Module) -> Tensor:
        """Return the training loss of a batch, shape ().

        Uses the head's own ``training_loss`` when it has one (heads that never materialise the
        full logits), else ``criterion(head(features, target), target, features)``; with
        ``layer_drop`` the same head's loss at every exit is added (:mod:`headkit.nn.layer_drop`).
        """
        inputs = self.trunk_input(x)
        if self.layer_drop is None:
            fused = self._fused_loss(inputs, target, criterion)
            if fused is not None:
                return fused
        exits: dict[int, Tensor] | None = {} if self.layer_drop is not None else None
        feats = self.trunk(inputs, exits)
        if callable(getattr(self.head, "training_loss", None)):  # OwnsTrainingLoss, without
            loss = self.head.training_loss(feats, target)  # a Protocol check (~0.1 ms) per step
        else:
            loss = criterion(self.head(feats, target), target, features=feats)
        if exits:  # layer_drop: the shared head's loss at every exit (LayerSkip)
            loss = self.layer_drop.loss(self, loss, exits, target, criterion)
        return loss

    def _fused_loss(self, x: Tensor, target: Tensor, criterion: nn.Module) -> Tensor | None:
        """The loss as one autograd node when the network is the default kind, else None.

        Dense-ReLU-Dropout blocks, a linear head with a bias and plain softmax cross-entropy
        (:func:`headkit.nn.fused_loss.fused_arguments`): the same arithmetic as the per-node path.
        """
        return fused_loss(self, x, target, criterion)

    def fused_gradients(self, x: Tensor, target: Tensor, criterion: nn.Module) -> Tensor | None:
        """Add the batch's gradients to ``.grad`` with no autograd graph; the loss, or None.

        What ``training_loss(x, target, criterion).backward()`` does, for the network kinds
        whose loss is one fused node (:func:`headkit.nn.fused_loss.fused_gradients`); None,
        with nothing touched, for every other kind. ``x`` is raw features, shape (N, F).
        """
        return fused_gradients(self, x, target, criterion)

    def probabilities(self, logits: Tensor, temperature: float | Tensor | None = None) -> Tensor:
        """Return ``output(logits / T)``, shape (..., C): the one path from logits to probabilities.

        T is the calibration temperature (the buffer ``temperature``, 1 until
        :func:`headkit.training.calibration.calibrate_network` fits it) unless ``temperature`` is given.
        The output map applies its own settings inside, so a map temperature τ
        (``output="softmax:temperature=2"``) and the calibration T compose as
        ``softmax(z / (T·τ))``. Predictions, argmax/accuracy, calibration, OOD scores and the
        report all call this method or :meth:`log_probabilities`.
        """
        t = self.temperature if temperature is None else temperature
        return self.output(logits / t)

    def log_probabilities(
        self, logits: Tensor, temperature: float | Tensor | None = None
    ) -> Tensor:
        """Return ``output.log_prob(logits / T)``, shape (..., C) (see :meth:`probabilities`).

        ``-inf`` where a sparse map gives an exact zero.
        """
        t = self.temperature if temperature is None else temperature
        return self.output.log_prob(logits / t)

    def predict_proba(self, x: Tensor) -> Tensor:
        """Return calibrated probabilities of inputs (N, n_features) → (N, C)."""
        return self.probabilities(self(x))

    def predict_log_proba(self, x: Tensor) -> Tensor:
        """Return calibrated log-probabilities of inputs (N, n_features) → (N, C)."""
        return self.log_probabilities(self(x))

    def extra_repr(self) -> str:
        return f"n_features={self.config.n_features}, n_classes={self.config.n_classes}"

    def resolved_parts(self) -> dict[str, dict[str, Any]]:
        """Each part's registry name and every option's value, defaults filled in (JSON-ready).

        :func:`headkit.io.save` writes it to ``config.json``; the NumPy engine reads it there, so
        option defaults are declared once, in the registries, for both engines. The dropout
        entry also says whether the plan is the identity in eval mode.
        """
        c = self.config
        return {
            "activation": ACTIVATIONS.resolved(c.activation),
            "output": OUTPUTS.resolved(c.output, ("n_classes",)),
            "head": HEADS.resolved(c.head, ("in_features", "n_classes")),
            "dropout": resolved_dropout(c.dropout),
            "input_gates": INPUT_GATES.resolved(c.input_gates, ("n_features",)),
            "layer_drop": LAYER_DROPS.resolved(c.layer_drop),
        }

    def truncate(self, k: int) -> HeadNet:
        """Return a smaller network that uses only the first ``k`` units of the last hidden layer.

        The copy has ``hidden_sizes[-1] = k``; the last Dense block keeps its first ``k`` output
        rows (and norm statistics) and the head its first ``k`` input columns, so for a linear
        head the result equals this network with the last hidden layer's units ``k:`` set to
        zero. Meant for networks trained with nested dropout (``dropout="nested"``), whose units
        are ordered by importance.

        Parameters
        ----------
        k : int
            Units to keep, ``1 <= k <= hidden_sizes[-1]``.

        Returns
        -------
        HeadNet
            A new network (weights copied), in the same train/eval mode.
        """
        from headkit.exceptions import ConfigError

        sizes = self.config.hidden_sizes
        if not sizes:
            raise ConfigError("truncate(k) needs at least one hidden layer; this network has none.")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= sizes[-1]:
            raise ConfigError(
                f"truncate(k) needs an int k in [1, {sizes[-1]}] (the last hidden width); "
                f"got {k!r}."
            )
        if self.config.norm == "layer":
            raise ConfigError(
                "truncate(k) cannot keep a layer-normalised last layer equivalent; "
                "use norm=None or norm='batch'."
            )
        if getattr(self.trunk.blocks[-1], "residual", False):
            raise ConfigError(
                "truncate(k) cannot cut a residual last block (its skip needs the full width); "
                "use residual=False."
            )
        small = HeadNet(self.config.replace(hidden_sizes=(*sizes[:-1], k)))
        small.to(device=self.temperature.device, dtype=self.temperature.dtype)
        source = self.state_dict()
        state = {}
        for name, tensor in small.state_dict().items():
            old = source[name]
            if old.shape != tensor.shape:
                old = old[tuple(slice(0, n) for n in tensor.shape)]
            state[name] = old.detach().clone()
        small.load_state_dict(state)
        return small.train(self.training)

    # --- Layer inspection (CKA, block redundancy, block dropping) ------------------------------

    def layer_outputs(self, x: Tensor, *, include_input: bool = False) -> list[Tensor]:
        """Return the output of every Dense block, each (N, width_b) (in eval mode).

        Parameters
        ----------
        x : Tensor, shape (N, n_features)
            Input features.
        include_input : bool
            Prepend the trunk's input (standardised, and after the input dropout of a block-less
            trunk).

        Runs in the module's current mode; call ``eval()`` first for deterministic activations
        (in training mode a multi-sample final dropout adds a leading sample dimension).
        """
        h = self.trunk.input_dropout(self.trunk_input(x))
        outs = [h] if include_input else []
        for block in self.trunk.blocks:
            h = block(h)
            outs.append(h)
        return outs

    def block_redundancy(self, x: Tensor) -> Tensor:
        """Return ``1 − mean_i cos(h_in_i, h_out_i)`` for each Dense block, shape (n_blocks,).

        Low values mark blocks that barely change their input (candidates for
        :meth:`drop_blocks`; Men et al. 2024, He et al. 2024). Only blocks whose input and output
        widths agree have a cosine; width-changing blocks (always the first when ``n_features``
        differs from ``hidden_sizes[0]``) get NaN rather than a made-up projection, since they
        cannot be dropped without changing shapes anyway. Two zero vectors count as cosine 1.
        """
        acts = self.layer_outputs(x, include_input=True)
        values = []
        for h_in, h_out in itertools.pairwise(acts):
            if h_in.shape != h_out.shape:
                values.append(torch.tensor(float("nan"), dtype=h_out.dtype, device=h_out.device))
                continue
            na = h_in.norm(dim=-1)
            nb = h_out.norm(dim=-1)
            cos = (h_in * h_out).sum(-1) / (na * nb).clamp_min(1e-12)
            cos = torch.where((na == 0) & (nb == 0), torch.ones_like(cos), cos)
            values.append(1.0 - cos.mean())
        if not values:
            return torch.empty(0)
        return torch.stack(values)

    def drop_blocks(self, indices: list[int] | tuple[int, ...]) -> HeadNet:
        """Return a new HeadNet without the Dense blocks at ``indices`` (weights copied).

        Removal must keep the widths chained: every kept block's input width must equal the
        previous kept block's output width (or ``n_features``), and the last kept width must
        equal the head's input width. Dropping a same-width block always qualifies; otherwise a
        :class:`headkit.exceptions.ConfigError` names the block that breaks the chain. The copy
        is rebuilt from ``config`` with the shorter ``hidden_sizes`` (so it saves and loads like
        any network); the last kept block receives the final (between trunk and head) dropout
        module of the dropout plan. The temperature and standardisation buffers are copied too.
        """
        from headkit.exceptions import ConfigError

        n_blocks = len(self.trunk.blocks)
        drop = set()
        for i in indices:
            j = int(i) + n_blocks if int(i) < 0 else int(i)
            if not 0 <= j < n_blocks:
                raise ConfigError(f"Block index {i} is out of range for {n_blocks} blocks.")
            drop.add(j)
        widths = [self.config.n_features, *self.config.hidden_sizes]
        kept = [j for j in range(n_blocks) if j not in drop]
        previous = self.config.n_features
        for j in kept:
            if widths[j] != previous:
                raise ConfigError(
                    f"Dropping blocks {sorted(drop)} leaves block {j} (input width {widths[j]}) "
                    f"after a width-{previous} layer; drop only blocks whose input and output "
                    "widths agree."
                )
            previous = widths[j + 1]
        if previous != self.trunk.out_features:
            raise ConfigError(
                f"Dropping blocks {sorted(drop)} changes the trunk's output width from "
                f"{self.trunk.out_features} to {previous}, which the head cannot take; drop only "
                "blocks whose input and output widths agree."
            )
        config = self.config.replace(hidden_sizes=tuple(widths[j + 1] for j in kept))
        new = HeadNet(config)
        for new_block, j in zip(new.trunk.blocks, kept, strict=True):
            old = self.trunk.blocks[j]
            new_block.linear.load_state_dict(old.linear.state_dict())
            new_block.norm.load_state_dict(old.norm.state_dict())
            if old.skip is not None and new_block.skip is not None:  # a learned branch scale
                new_block.skip.load_state_dict(old.skip.state_dict())
        new.head.load_state_dict(self.head.state_dict())
        new.output.load_state_dict(self.output.state_dict())
        new.input_gates.load_state_dict(self.input_gates.state_dict())
        new.temperature.copy_(self.temperature)
        new.set_standardization(self.feature_mean, self.feature_scale)
        param = next(self.parameters(), None)
        if param is not None:
            new = new.to(device=param.device, dtype=param.dtype)
        return new.train(self.training)


def truncate_rank(net: nn.Module, k: int) -> nn.Module:
    """Return a copy of a ``block="lowrank:…"`` network whose layers keep their first k ranks.

    The copy's config names ``rank=k``, so it saves and loads at that size; its outputs equal the
    original's with every layer's ``keep = k``.
    """
    from headkit.exceptions import ConfigError
    from headkit.nn.gated import BLOCKS
    from headkit.registry import Spec

    spec = Spec.parse(net.config.block)
    if spec.name != "lowrank":
        raise ConfigError(
            f"truncate_rank needs a block='lowrank' network; got {net.config.block!r}."
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"truncate_rank needs an int k >= 1; got {k!r}.")
    _, options = BLOCKS.resolve(spec)
    options["rank"] = k
    block = "lowrank:" + ",".join(f"{key}={value}" for key, value in options.items())
    small = HeadNet(net.config.replace(block=block))
    source = net.state_dict()
    state = {}
    for name, tensor in small.state_dict().items():
        state[name] = source[name][tuple(slice(0, n) for n in tensor.shape)].detach().clone()
    small.load_state_dict(state)
    small.to(device=net.temperature.device, dtype=net.temperature.dtype)
    return small.train(net.training)
