"""The eval-mode forward of a plain saved network in NumPy, so prediction need not import torch.

A *plain* network is one this module can reproduce exactly: Dense blocks (linear layers with
optional batch/layer norm and any activation of :data:`headkit.inference.numpy_ops.ACTIVATIONS`), no
residual skips, a dropout kind that is the identity in eval mode, the ``linear`` head, and an
output map of :data:`headkit.inference.numpy_ops.OUTPUTS`, plus the saved input standardisation and
calibration temperature. :func:`unsupported_reason` decides this from the saved config and the
weight names (the weights must be exactly the ones expected), so anything else — a margin head,
DropConnect, a learnable skip, ``entmax_bisect`` — is left to the torch path rather than
approximated. :class:`headkit.inference.saved_model.SavedModel` chooses between the two.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from headkit.config import PREDICT_BATCH, NetworkConfig
from headkit.inference.numpy_ops import ACTIVATION_PARAMETERS, ACTIVATIONS, NORMS, OUTPUTS
from headkit.registry import Spec

# Dropout kinds that are the identity in eval mode (DropConnect's eval rescales weights: torch).
EVAL_IDENTITY_DROPOUTS = ("standard", "none", "multisample", "gaussian", "nested")
PLAIN_RESIDUALS = (False, None, "none")
# OpenBLAS multiplies matrices of fewer rows with another kernel that rounds differently; padding
# every batch to MIN_ROWS makes a row's result independent of how many rows come with it (and
# keeps it within float32 rounding of torch's, which is batch-size independent too).
MIN_ROWS = 128


def _options(spec: str, defaults: dict[str, Any]) -> dict[str, Any] | None:
    """Typed options of ``spec`` (defaults filled in); None when an option is not known here."""
    parsed = Spec.parse(spec)
    if len(parsed.positional) > len(defaults):
        return None
    values = dict(defaults)
    raw = dict(zip(defaults, parsed.positional, strict=False))
    for key, value in parsed.options.items():
        if key not in defaults:
            return None
        raw[key] = value
    try:
        for key, value in raw.items():
            if isinstance(defaults[key], bool):
                values[key] = value.lower() in {"1", "true", "yes", "on"}
            else:
                values[key] = float(value)
    except ValueError:
        return None
    return values


def _dropout_is_identity(spec: Any) -> bool:
    try:
        float(spec)
        return True
    except (TypeError, ValueError):
        return Spec.parse(str(spec)).name in EVAL_IDENTITY_DROPOUTS


def expected_weights(config: NetworkConfig) -> dict[str, tuple[int, ...]]:
    """The state-dict names and shapes of a plain network with this config."""
    sizes = [config.n_features, *config.hidden_sizes]
    shapes: dict[str, tuple[int, ...]] = {
        "temperature": (),
        "feature_mean": (config.n_features,),
        "feature_scale": (config.n_features,),
        "head.weight": (config.n_classes, sizes[-1]),
    }
    if _options(config.head, {"bias": True}) != {"bias": False}:
        shapes["head.bias"] = (config.n_classes,)
    activation = Spec.parse(config.activation).name
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        block = f"trunk.blocks.{i}"
        shapes[f"{block}.linear.weight"] = (n_out, n_in)
        shapes[f"{block}.linear.bias"] = (n_out,)
        if config.norm is not None:
            for leaf in NORMS[config.norm][0]:
                shapes[f"{block}.norm.{leaf}"] = () if leaf == "num_batches_tracked" else (n_out,)
        for leaf in ACTIVATION_PARAMETERS.get(activation, ()):
            shapes[f"{block}.activation.{leaf}"] = ()
    output = Spec.parse(config.output).name
    for leaf in OUTPUTS[output][1] if output in OUTPUTS else ():
        shapes[f"output.{leaf}"] = ()
    return shapes


def unsupported_reason(
    config: NetworkConfig, weights: dict[str, tuple[int, ...]] | None = None
) -> str | None:
    """Why the NumPy forward cannot reproduce this network (None: it can).

    Parameters
    ----------
    config : NetworkConfig
        The saved network config.
    weights : dict of str → shape, optional
        The saved state-dict names and shapes; they must be exactly :func:`expected_weights`.
    """
    checks = [
        (Spec.parse(config.head).name == "linear", f"head {config.head!r}"),
        (_options(config.head, {"bias": True}) is not None, f"head {config.head!r}"),
        (config.residual in PLAIN_RESIDUALS, f"residual {config.residual!r}"),
        (config.norm is None or config.norm in NORMS, f"norm {config.norm!r}"),
        (_dropout_is_identity(config.dropout), f"dropout {config.dropout!r}"),
    ]
    activation, output = Spec.parse(config.activation).name, Spec.parse(config.output).name
    checks.append((activation in ACTIVATIONS, f"activation {config.activation!r}"))
    checks.append((output in OUTPUTS, f"output {config.output!r}"))
    for ok, what in checks:
        if not ok:
            return f"{what} has no NumPy forward"
    if _options(config.activation, ACTIVATIONS[activation][0]) is None:
        return f"activation {config.activation!r} has options the NumPy forward does not know"
    if _options(config.output, OUTPUTS[output][0]) is None:
        return f"output {config.output!r} has options the NumPy forward does not know"
    if weights is not None and weights != expected_weights(config):
        return "the saved weights are not those of a plain network of its config"
    return None


@dataclass
class NumpyHeadNet:
    """A plain :class:`headkit.nn.HeadNet` in eval mode, computed with NumPy.

    As :func:`headkit.inference.forward.predict_arrays`: the logits in float32, the output map in
    float64.

    Attributes
    ----------
    config : NetworkConfig
    weights : dict of str → ndarray
        The saved state dict (float32 arrays).
    metadata : dict
        The saved metadata (label names, training config), as ``HeadNet.metadata``.
    """

    engine: ClassVar[str] = "numpy"  # SavedModel.engine reads it (a HeadNet has none: torch)
    config: NetworkConfig
    weights: dict[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        activation = Spec.parse(self.config.activation).name
        defaults, self._activation_fn = ACTIVATIONS[activation]
        self._activation_options = _options(self.config.activation, defaults) or {}
        output = Spec.parse(self.config.output).name
        defaults, _, self._output_fn = OUTPUTS[output]
        self._output_options = _options(self.config.output, defaults) or {}

    @classmethod
    def load(cls, path: str | Path, config: NetworkConfig) -> NumpyHeadNet:
        """Read ``model.safetensors`` of a model directory as NumPy arrays.

        Raises
        ------
        ModelFileError
            Missing, unreadable or corrupt weights.
        """
        from safetensors.numpy import load as safetensors_load

        from headkit.io import read_weights

        weights = read_weights(Path(path), safetensors_load)
        # as load_state_dict into the float32 HeadNet: floating weights become float32
        return cls(
            config,
            {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in weights.items()},
        )

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name → shape of every saved weight."""
        return {name: tuple(value.shape) for name, value in self.weights.items()}

    def _part(self, prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in self.weights.items() if k.startswith(prefix)}

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Return logits of rows ``x`` (N, n_features) float32 → (N, C) float32."""
        w = self.weights
        n = len(x)
        if n < MIN_ROWS:
            x = np.concatenate([x, np.zeros((MIN_ROWS - n, x.shape[1]), dtype=x.dtype)])
        h = (x - w["feature_mean"]) / w["feature_scale"]
        norm: Callable[..., np.ndarray] | None = (
            NORMS[self.config.norm][1] if self.config.norm else None
        )
        for i in range(len(self.config.hidden_sizes)):
            block = f"trunk.blocks.{i}."
            h = h @ w[block + "linear.weight"].T + w[block + "linear.bias"]
            if norm is not None:
                h = norm(h, self._part(block + "norm."))
            h = self._activation_fn(
                h, self._part(block + "activation."), **self._activation_options
            )
        z = h @ w["head.weight"].T
        return (z + w["head.bias"] if "head.bias" in w else z)[:n]

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Return ``output(logits / T)``, (N, C) float64, T the calibration temperature."""
        z = logits.astype(np.float64) / self.weights["temperature"]
        return self._output_fn(z, self._part("output."), **self._output_options)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Return probabilities of rows ``x`` (N, n_features) → (N, C) float64, in batches."""
        if len(x) == 0:
            return np.zeros((0, self.config.n_classes))
        parts = [
            self.probabilities(self.logits(x[start : start + PREDICT_BATCH]))
            for start in range(0, len(x), PREDICT_BATCH)
        ]
        return np.concatenate(parts)
