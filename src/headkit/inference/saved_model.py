"""A saved classifier ready to predict: the lean path behind ``headkit predict``.

:class:`SavedModel` holds a loaded network with its label names, feature names and table
preprocessing, checks incoming columns (:func:`align_rows`) and returns probabilities. It does
not import scikit-learn, and with ``engine="auto"`` a plain network
(:func:`headkit.inference.numpy_net.unsupported_reason`) is run by :class:`headkit.inference.numpy_net.NumpyHeadNet`
without importing torch either, so a ``headkit predict`` process starts in a fraction of the
time; any other network runs on torch through :meth:`headkit.nn.HeadNet.probabilities`, the one
place that maps logits to probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from headkit.exceptions import ConfigError, ModelFileError
from headkit.inference.columns import align_rows

if TYPE_CHECKING:
    from headkit.inference.numpy_net import NumpyHeadNet
    from headkit.nn.network import HeadNet

ENGINES = ("auto", "torch", "numpy")


@dataclass
class SavedModel:
    """A saved classifier ready to predict, without scikit-learn (and for plain networks, torch).

    Attributes
    ----------
    network : HeadNet or NumpyHeadNet
        In eval mode; a :class:`headkit.inference.numpy_net.NumpyHeadNet` when loaded with
        ``engine="numpy"`` (or ``"auto"`` and the network is plain).
    classes : ndarray, shape (C,)
        Label names, in probability-column order.
    feature_names : list of str
        Training column names (empty when the model was trained on an unnamed array).
    metadata : dict
        The run's saved metadata (training config, target column, ...).
    preprocessing : dict or None
        ``TablePreprocessor.to_dict()`` of a run fitted on a table (categories, gaps); rows are
        then a DataFrame of the raw columns, encoded by it before the network.
    path : Path or None
        The directory it was loaded from: MC dropout and OOD scores load the torch network and
        the Mahalanobis statistics from there when the NumPy engine computes probabilities.
    """

    network: HeadNet | NumpyHeadNet
    classes: np.ndarray
    feature_names: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, Any] | None = None
    path: Path | None = None
    _torch: HeadNet | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", engine: str = "torch") -> SavedModel:
        """Load a run or model directory written by ``headkit train`` or ``HeadClassifier.save``.

        Parameters
        ----------
        path : str or Path
            The directory.
        device : str
            Torch device of the network (the NumPy engine runs on the CPU).
        engine : {"torch", "numpy", "auto"}
            ``"torch"``: a :class:`headkit.nn.HeadNet`. ``"numpy"``: a
            :class:`headkit.inference.numpy_net.NumpyHeadNet`, for plain networks only. ``"auto"``: NumPy
            when the network is plain and ``device`` is ``"cpu"``, else torch.

        Raises
        ------
        ModelFileError
            Missing, corrupt or bare-network directories.
        ConfigError
            An unknown engine, or ``engine="numpy"`` for a network it cannot run.
        """
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}.")
        network = None
        if engine != "torch" and (engine == "numpy" or device == "cpu"):
            network = _numpy_network(Path(path), required=engine == "numpy")
        if network is None:
            from headkit import io

            network = io.load(path, device=device)
        meta = network.metadata
        if "classes" not in meta:
            raise ModelFileError(
                f"{path} holds a bare network without label names; save it with "
                "HeadClassifier.save or train it with `headkit train`."
            )
        classes = np.array(meta["classes"], dtype=np.dtype(meta.get("classes_dtype", "O")))
        names = list(meta.get("feature_names") or [])
        return cls(network, classes, names, meta, _read_preprocessing(Path(path)), Path(path))

    @property
    def engine(self) -> str:
        """``"numpy"`` or ``"torch"``: what computes the forward pass."""
        return getattr(self.network, "engine", "torch")

    @property
    def multilabel(self) -> bool:
        """Whether the model predicts a 0/1 indicator per class (``output="sigmoid"`` on a matrix)."""
        return bool(self.metadata.get("multilabel", False))

    @property
    def n_features(self) -> int:
        """Width of the network's input."""
        return self.network.config.n_features

    def align(self, X: Any, names: list[str] | None = None) -> np.ndarray:
        """Return the rows as float32 (N, n_features) in training column order; see :func:`align_rows`."""
        return align_rows(X, names, self.feature_names, self.n_features)

    def rows(self, X: Any, names: list[str] | None = None) -> np.ndarray:
        """The network's input rows (N, n_features) float32: table encoding, then column matching."""
        if self.preprocessing is not None:
            return self.align(self._encode_table(X, names), None)
        return self.align(X, names)

    def predict_proba(self, X: Any, names: list[str] | None = None) -> np.ndarray:
        """Return probabilities, shape (N, C), columns in ``classes`` order.

        float64 like :meth:`headkit.HeadClassifier.predict_proba` (logits in float32, the output
        map in float64).
        """
        return self._proba(self.rows(X, names))

    def _proba(self, rows: np.ndarray) -> np.ndarray:
        if self.engine == "torch":
            from headkit.inference.forward import predict_arrays
            from headkit.nn.network import HeadNet

            if isinstance(self.network, HeadNet):
                return predict_arrays(self.network, rows).proba.numpy()  # float64
        # NumPy, or in the server onnxruntime or a fixed-thread torch forward: rows → float64
        return self.network.predict_proba(rows)

    def predict_uncertainty(
        self, X: Any, mc_samples: int, names: list[str] | None = None
    ) -> dict[str, np.ndarray]:
        """MC-dropout prediction on the torch network, seeded by the fit's seed.

        Returns ``proba`` (N, C) and ``entropy``, ``expected_entropy``, ``mutual_information``
        (N,): the same numbers as :meth:`headkit.HeadClassifier.predict_uncertainty`.
        """
        from headkit.inference.forward import mc_predict_arrays

        seed = int(self.metadata.get("seed", 0) or 0)
        result = mc_predict_arrays(self.torch_network(), self.rows(X, names), mc_samples, seed)
        return {name: value.numpy() for name, value in result._asdict().items()}

    def predict_early_exit(
        self, X: Any, threshold: float, names: list[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Early-exit probabilities (N, C) float64 and exit depths (N,) int64 (torch network).

        The same numbers as :meth:`headkit.HeadClassifier.predict_early_exit`; see
        :func:`headkit.nn.layer_drop.early_exit_predict`.
        """
        from headkit.inference.forward import map_batches
        from headkit.nn.layer_drop import early_exit_predict

        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold <= 0:
            raise ConfigError(f"--early-exit must be a number > 0; got {threshold!r}.")
        net = self.torch_network().eval()

        def step(x: Any) -> dict[str, Any]:
            proba, depth = early_exit_predict(net, x, float(threshold))
            return {"proba": proba, "depth": depth}

        out = map_batches(net, self.rows(X, names), step)
        return out["proba"].numpy(), out["depth"].numpy()

    def ood_score(self, X: Any, method: str, names: list[str] | None = None) -> np.ndarray:
        """Out-of-distribution score per row (N,), higher = in-distribution (torch network).

        See :func:`headkit.inference.scores.network_ood_score` for the methods.
        """
        from headkit.inference.scores import network_ood_score

        return network_ood_score(self.torch_network(), self.rows(X, names), method, self.detector)

    def predict_set(
        self, X: Any, alpha: float = 0.1, method: str = "aps", names: list[str] | None = None
    ) -> np.ndarray:
        """Split-conformal prediction sets (N, C) bool from the run's held-out scores.

        See :meth:`headkit.HeadClassifier.predict_set`.

        Raises
        ------
        ConfigError
            A run saved without conformal scores (no held-out split, or an older headkit).
        """
        from headkit.evaluation.conformal_scores import ConformalScores
        from headkit.io import CONFORMAL

        scores = ConformalScores.load(Path(self.path) / CONFORMAL) if self.path else None
        if scores is None:
            raise ConfigError(
                "This run has no conformal scores (it was fitted without a held-out split, or "
                "by an older headkit); refit it with validation_fraction > 0."
            )
        rows = self.rows(X, names)
        return scores.sets(self._proba(rows), rows, alpha, method)  # type: ignore[arg-type]

    def torch_network(self) -> HeadNet:
        """The network on torch (loaded once, when the NumPy engine runs the probabilities)."""
        if self.engine == "torch":
            return getattr(self.network, "net", self.network)  # the server wraps it: TorchNet
        if self._torch is None:
            from headkit import io

            self._torch = io.load(self.path, device="cpu")
        return self._torch

    @cached_property
    def detector(self) -> Any:
        """The Mahalanobis statistics saved with the run (None without them), read once."""
        from headkit.evaluation.ood import MahalanobisDetector
        from headkit.io import OOD_STATISTICS

        return MahalanobisDetector.load(Path(self.path) / OOD_STATISTICS)

    def _encode_table(self, X: Any, names: list[str] | None) -> np.ndarray:
        import pandas as pd

        from headkit.data.preprocessing import TablePreprocessor

        if not hasattr(X, "columns"):
            X = pd.DataFrame(X, columns=names)
        return TablePreprocessor.from_dict(self.preprocessing).transform(X)


def _numpy_network(path: Path, required: bool) -> NumpyHeadNet | None:
    """The NumPy network of a model directory; None (torch then) when it is not plain."""
    from headkit.config import NetworkConfig
    from headkit.inference.numpy_net import NumpyHeadNet, unsupported_reason
    from headkit.io import read_config

    config = read_config(path)
    try:
        network_config = NetworkConfig.from_dict(config["network"])
    except (KeyError, TypeError, ValueError):
        return None  # the torch loader names what is wrong
    parts = config.get("resolved")
    why = unsupported_reason(network_config, parts)
    if why is None:
        network = NumpyHeadNet.load(path, network_config, parts)
        why = unsupported_reason(network_config, parts, network.weight_shapes())
    if why is not None:
        if required:
            raise ConfigError(f"{path}: {why}; load it with engine='torch' (or 'auto').")
        return None
    network.metadata = config.get("metadata", {})
    return network


def _read_preprocessing(path: Path) -> dict[str, Any] | None:
    import json

    from headkit.io import PREPROCESSING

    file = path / PREPROCESSING
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{file} is corrupt ({error}); retrain the model.") from None
