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
from headkit.inference.numpy_ops import (
    ACTIVATION_PARAMETERS,
    ACTIVATIONS,
    NORMS,
    OUTPUTS,
    kernel_options,
)

PLAIN_RESIDUALS = (False, None, "none")
# OpenBLAS multiplies matrices of fewer rows with another kernel that rounds differently; padding
# every batch to MIN_ROWS makes a row's result independent of how many rows come with it (and
# keeps it within float32 rounding of torch's, which is batch-size independent too).
MIN_ROWS = 128


def expected_weights(config: NetworkConfig, parts: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The state-dict names and shapes of a plain network with this config and parts."""
    sizes = [config.n_features, *config.hidden_sizes]
    shapes: dict[str, tuple[int, ...]] = {
        "temperature": (),
        "feature_mean": (config.n_features,),
        "feature_scale": (config.n_features,),
        "head.weight": (config.n_classes, sizes[-1]),
    }
    if parts["head"]["options"].get("bias", True):
        shapes["head.bias"] = (config.n_classes,)
    activation = parts["activation"]["name"]
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        block = f"trunk.blocks.{i}"
        shapes[f"{block}.linear.weight"] = (n_out, n_in)
        shapes[f"{block}.linear.bias"] = (n_out,)
        if config.norm is not None:
            for leaf in NORMS[config.norm][0]:
                shapes[f"{block}.norm.{leaf}"] = () if leaf == "num_batches_tracked" else (n_out,)
        for leaf in ACTIVATION_PARAMETERS.get(activation, ()):
            shapes[f"{block}.activation.{leaf}"] = ()
    output = parts["output"]["name"]
    for leaf in OUTPUTS[output][0] if output in OUTPUTS else ():
        shapes[f"output.{leaf}"] = ()
    return shapes


def unsupported_reason(
    config: NetworkConfig,
    parts: dict[str, Any] | None,
    weights: dict[str, tuple[int, ...]] | None = None,
) -> str | None:
    """Why the NumPy forward cannot reproduce this network (None: it can).

    Parameters
    ----------
    config : NetworkConfig
        The saved network config.
    parts : dict or None
        The saved ``resolved`` parts (:meth:`headkit.nn.HeadNet.resolved_parts`): each part's
        registry name and option values; None for a run saved before headkit recorded them.
    weights : dict of str → shape, optional
        The saved state-dict names and shapes; they must be exactly :func:`expected_weights`.
    """
    if not parts:
        return "the run was saved without its resolved options (save it again with this headkit)"
    head, dropout = parts["head"], parts["dropout"]
    activation, output = parts["activation"], parts["output"]
    checks = [
        (head["name"] == "linear" and set(head["options"]) <= {"bias"}, f"head {config.head!r}"),
        (config.residual in PLAIN_RESIDUALS, f"residual {config.residual!r}"),
        (config.norm is None or config.norm in NORMS, f"norm {config.norm!r}"),
        (bool(dropout.get("identity_in_eval")), f"dropout {config.dropout!r}"),
        (getattr(config, "block", "dense") == "dense", f"block {getattr(config, 'block', '')!r}"),
        (getattr(config, "input_gates", "none") == "none", f"input_gates {config.input_gates!r}"),
        (activation["name"] in ACTIVATIONS, f"activation {config.activation!r}"),
        (output["name"] in OUTPUTS, f"output {config.output!r}"),
    ]
    for ok, what in checks:
        if not ok:
            return f"{what} has no NumPy forward"
    if kernel_options(ACTIVATIONS[activation["name"]]) != set(activation["options"]):
        return f"activation {config.activation!r} has options the NumPy forward does not know"
    if kernel_options(OUTPUTS[output["name"]][1]) != set(output["options"]):
        return f"output {config.output!r} has options the NumPy forward does not know"
    if weights is not None and weights != expected_weights(config, parts):
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
    min_rows : int
        Batches of fewer rows are padded to this many (``MIN_ROWS``: a row's result does not
        depend on its batch). The server sets 1: a one-row call then costs one row, not 128,
        and a row may differ in float32's last digit with the requests it is batched with.
    """

    engine: ClassVar[str] = "numpy"  # SavedModel.engine reads it (a HeadNet has none: torch)
    config: NetworkConfig
    parts: dict[str, Any]
    weights: dict[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)
    min_rows: int = MIN_ROWS

    def __post_init__(self) -> None:
        activation, output = self.parts["activation"], self.parts["output"]
        self._activation_fn = ACTIVATIONS[activation["name"]]
        self._activation_options = dict(activation["options"])
        self._output_fn = OUTPUTS[output["name"]][1]
        self._output_options = dict(output["options"])

    @classmethod
    def load(cls, path: str | Path, config: NetworkConfig, parts: dict[str, Any]) -> NumpyHeadNet:
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
            parts,
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
        if n < self.min_rows:
            x = np.concatenate([x, np.zeros((self.min_rows - n, x.shape[1]), dtype=x.dtype)])
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
