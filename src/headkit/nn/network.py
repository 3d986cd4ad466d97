"""HeadNet: the whole classifier, DenseStack → dropout → head → output map."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from headkit.config import NetworkConfig
from headkit.nn.dense import DenseStack
from headkit.nn.dropout import build_dropout
from headkit.nn.heads import HEADS
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
        Post-hoc calibration temperature applied by :meth:`predict_proba` (1 until fitted).
    feature_mean, feature_scale : Tensor, shape (n_features,)
        Input standardisation applied first (identity until :meth:`set_standardization`).

    Shape
    -----
    ``forward``: input (N, n_features) → logits (N, n_classes); in training mode with
    multi-sample dropout, (k, N, n_classes).
    """

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
        )
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

    def features(self, x: Tensor) -> Tensor:
        """Return the trunk's output (the penultimate features), shape (N, D)."""
        return self.trunk((x - self.feature_mean) / self.feature_scale)

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        """Return logits, shape (N, C) (or (k, N, C) with multi-sample dropout in training)."""
        return self.head(self.features(x), target)

    def training_loss(self, x: Tensor, target: Tensor, criterion: nn.Module) -> Tensor:
        """Return the training loss of a batch, shape ().

        Uses the head's own ``training_loss`` when it has one (heads that never materialise the
        full logits), else ``criterion(head(features, target), target, features)``.
        """
        feats = self.features(x)
        fused = getattr(self.head, "training_loss", None)
        if fused is not None:
            return fused(feats, target)
        return criterion(self.head(feats, target), target, features=feats)

    def predict_proba(self, x: Tensor) -> Tensor:
        """Return calibrated probabilities ``output(logits / temperature)``, shape (N, C)."""
        return self.output(self(x) / self.temperature)

    def extra_repr(self) -> str:
        return f"n_features={self.config.n_features}, n_classes={self.config.n_classes}"

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
