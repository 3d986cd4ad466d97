"""HeadClassifier: the scikit-learn face of headkit.

The estimator's parameters are a view of :class:`headkit.config.NetworkConfig` and
:class:`headkit.config.TrainingConfig`; ``fit`` validates, builds a :class:`headkit.nn.HeadNet`
and hands it to :class:`headkit.training.Trainer`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state

from headkit import fit_inputs
from headkit._validation import validate_features
from headkit.config import NetworkConfig, TrainingConfig
from headkit.data.sparse import SparseRows, column_moments, is_sparse
from headkit.data.split import holdout_split
from headkit.exceptions import ConfigError, DataError, ModelFileError, NotFittedError
from headkit.nn.network import HeadNet
from headkit.training import Callback, Checkpointer, Trainer, default_callbacks, resolve_device
from headkit.training.checkpoint import fit_fingerprint
from headkit.training.memory import check_training_memory, explain_allocation_failure

PREDICT_BATCH = 8192
_NET = NetworkConfig(n_features=1, n_classes=2)  # the defaults, read by the signature below
_TRAIN = TrainingConfig()
_NETWORK_FIELDS = (
    "hidden_sizes",
    "activation",
    "norm",
    "residual",
    "dropout",
    "head",
    "output",
    "init",
)
_TRAINING_FIELDS = (
    "loss",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "schedule",
    "validation_fraction",
    "patience",
    "restore_best",
    "monitor",
    "gradient_noise",
    "teacher",
    "teacher_temperature",
    "teacher_weight",
    "random_state",
    "device",
    "solver",
    "augment",
)


OOD_FILE = "mahalanobis.safetensors"
PREPROCESSING_FILE = "preprocessing.json"


def _detector_bytes(detector: Any) -> bytes:
    """Serialise a fitted MahalanobisDetector's arrays with safetensors (no pickle)."""
    from safetensors.numpy import save

    return save(
        {
            "classes": np.ascontiguousarray(detector.classes_, dtype=np.int64),
            "means": np.ascontiguousarray(detector.means_),
            "covariance": np.ascontiguousarray(detector.covariance_),
            "precision": np.ascontiguousarray(detector.precision_),
        }
    )


def _detector_from_file(path: Path) -> Any:
    """Rebuild the MahalanobisDetector saved beside a model, or None when there is none."""
    if not path.is_file():
        return None
    from safetensors.numpy import load_file

    from headkit.evaluation.ood import MahalanobisDetector

    try:
        arrays = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types
        raise ModelFileError(f"{path} is corrupt ({error}); retrain the model.") from None
    detector = MahalanobisDetector()
    detector.classes_ = arrays["classes"]
    detector.means_ = arrays["means"]
    detector.covariance_ = arrays["covariance"]
    detector.precision_ = arrays["precision"]
    return detector


def _teacher_spec(teacher: Any) -> str | tuple[str, ...] | None:
    """One run path as a str, several as a tuple of str (the config's form)."""
    if teacher is None or isinstance(teacher, str | Path):
        return None if teacher is None else str(teacher)
    return tuple(str(t) for t in teacher)


def _json_class_weight(class_weight: Any) -> Any:
    """``class_weight`` for config.json (dict keys become text; load restores them as text)."""
    if isinstance(class_weight, dict):
        return {str(k): float(v) for k, v in class_weight.items()}
    return class_weight


def _preprocessor_from_file(path: Path) -> Any:
    """Rebuild the table preprocessing saved beside a model, or None when there is none."""
    if not path.is_file():
        return None
    from headkit.data.preprocessing import TablePreprocessor

    try:
        return TablePreprocessor.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ModelFileError(f"{path} is corrupt ({error}); retrain the model.") from None


def _tensor(array: np.ndarray) -> torch.Tensor:
    """Return a tensor over ``array``'s data, copying read-only or non-contiguous input."""
    if not array.flags.writeable or not array.flags.c_contiguous:
        array = np.array(array, order="C")
    return torch.from_numpy(array)


def _rows(X: Any) -> torch.Tensor | SparseRows:
    """Training rows as a tensor, or sparse rows densified one batch at a time."""
    return SparseRows(X) if is_sparse(X) else _tensor(X)


def _batches(X: Any, device: torch.device) -> Iterator[torch.Tensor]:
    """Dense float32 batches of PREDICT_BATCH rows of an array or sparse matrix, on ``device``."""
    rows = _rows(X)
    for start in range(0, len(rows), PREDICT_BATCH):
        yield rows[start : start + PREDICT_BATCH].to(device)


class HeadClassifier(ClassifierMixin, BaseEstimator):
    """Dense → Dropout → Softmax classifier with the scikit-learn API.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(256, 256)
        Width of each Dense block; ``()`` gives multinomial logistic regression.
    activation : str, default="relu"
        Activation spec: ``relu``, ``leaky_relu:slope=0.1``, ``prelu``, ``elu``, ``selu``,
        ``gelu``, ``silu``, ``mish``, ``softplus``, ``tanh`` or ``sigmoid``.
    norm : {None, "batch", "layer"}, default=None
        Normalisation after each Dense layer.
    residual : bool or str, default=False
        Skip connections around equal-width blocks: ``True`` (``h + f(h)``) or a residual spec
        with branch scaling, ``"scaled"`` (``h + f(h)/√L``) or ``"learnable"`` (α from 0).
    dropout : float or str, default=0.2
        A dropout rate, or a dropout spec such as ``"multisample:k=8,p=0.5"``.
    output : str, default="softmax"
        Output map from logits to probabilities (``"softmax"``, ``"entmax15"``, ...).
    head : str, default="linear"
        Head from features to logits (``"linear"``, ``"arcface:s=30,m=0.5"``, ...).
    loss : str, default="cross_entropy"
        Training loss spec (``"label_smoothing:0.1"``, ...).
    epochs : int, default=150
        Maximum passes over the data.
    batch_size : int, default=256
        Rows per step.
    lr : float, default=1e-2
        Peak learning rate (AdamW with a one-cycle schedule by default).
    weight_decay : float, default=1e-2
        Decoupled weight decay on weight matrices.
    schedule : {"onecycle", "cosine", "constant"}, default="onecycle"
        Learning-rate schedule.
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping and best-weights restore; 0 disables both.
    patience : int or None, default=None
        Epochs without validation improvement before stopping; ``None`` runs the whole schedule
        (on MNIST-1D that ends 0.7 points higher, on average over 8 seeds, than stopping with
        ``patience=40`` and restoring the best validation epoch, and varies less).
    restore_best : bool, default=True
        When early stopping is on, end with the weights of the best validation epoch.
    monitor : {"val_accuracy", "val_loss"}, default="val_accuracy"
        What early stopping and the restore watch. Accuracy is the default because on small
        data the validation log-loss starts rising (over-confidence) while accuracy still improves.
    gradient_noise : float, default=0.0
        η of annealed Gaussian gradient noise (Neelakantan et al. 2015); 0 disables it.
    teacher : str, list of str or None, default=None
        A saved run directory to distil from (knowledge distillation), or several whose
        probabilities are averaged (MEAL V2): the student is trained
        on ``teacher_weight·T²·KL(p_T^teacher ‖ p_T^student) + (1 − teacher_weight)·loss``
        with the teacher's probabilities on the training rows. Needs a head without its own
        loss (``linear``, ``cosine``, margins).
    teacher_temperature : float, default=4.0
        T of the distillation term.
    teacher_weight : float, default=0.5
        β in [0, 1], the weight of the distillation term.
    standardize : bool, default=True
        Scale features with the training mean and standard deviation (saved with the model).
    class_weight : "balanced", dict or None, default=None
        Weight of each class's rows in the loss, as in scikit-learn: ``"balanced"`` gives
        ``n_samples / (n_classes * count_c)``; a dict maps labels to weights (others weigh 1).
        Multiplies ``sample_weight``.
    tabular : "auto" or bool, default="auto"
        Run the table preprocessing (:class:`headkit.data.preprocessing.TablePreprocessor`:
        median imputation + missing flags + scaling of numbers, one-hot or hashed categories) on
        a DataFrame. ``"auto"`` does so when the frame has a text, category or boolean column or
        a missing value; numeric arrays never use it.
    random_state : int, RandomState or None, default=None
        Seed for initialisation, splitting, shuffling and dropout; fixed seed → identical weights.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    verbose : int, default=0
        0 silent; 1 a progress bar on terminals, one line per epoch otherwise.
    calibrate : bool, default=False
        After training, fit a temperature on the validation split (L-BFGS on NLL) and store it
        in the network, so :meth:`predict_proba` returns calibrated probabilities (needs
        ``validation_fraction > 0``). See :func:`headkit.evaluation.fit_temperature`.
    track_collapse : bool, default=False
        Record neural-collapse measures NC1–NC4 on the training split after every epoch
        (columns ``nc1`` … ``nc4`` of ``history_``).
    track_diagnostics : bool, default=False
        Record layer diagnostics after every epoch: gradient norms and output entropy, effective
        ranks of features and head, per-layer probe accuracy and matrix entropy (see
        :mod:`headkit.evaluation.diagnostics_tracking`).
    init : str, default="default"
        Initialisation of the Dense layers: ``"default"`` or ``"critical"`` (W ~ N(0, C_W/fan_in)
        at the activation's critical point: ReLU C_W = 2, tanh C_W = 1).
    solver : str, default="adamw"
        ``"adamw"`` trains everything with the fit loop; ``"lbfgs:C=1"`` (logistic regression,
        scikit-learn's penalty) and ``"ridge:alpha=1e-3"`` (closed form) fit only the head's
        readout on frozen features (with ``hidden_sizes=()``: a linear probe).
    augment : str, default="none"
        Training-batch augmentation: ``"mixup:alpha=0.2"`` or ``"cutmix:alpha=1"``.
    checkpoint_dir : str, Path or None, default=None
        Write the whole training state there after every epoch. A ``fit`` interrupted (Ctrl-C,
        kill) and called again with the same parameters and data resumes from the last
        checkpoint and ends with the same weights, bit for bit on CPU, as an uninterrupted fit;
        a fit whose checkpoint is complete is not repeated. A checkpoint of different
        parameters or data is refused. See ``docs/failures.md``.

    With ``output="softmax"`` a Softmax Collapse detector scores training rows after each epoch
    (``history_`` column ``softmax_collapse``) and warns with
    :class:`headkit.training.SoftmaxCollapseWarning` when 90 % of them have a float32 loss of
    exactly 0.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Only when ``X`` had string column names.
    model_ : HeadNet
        The fitted network.
    history_ : list of dict
        Per-epoch ``train_loss``, ``val_loss``, ``val_accuracy``, ``lr``, ``seconds``.
    n_iter_ : int
        Epochs run.
    best_epoch_ : int or None
        Epoch with the best validation score; its weights are the model's only when early
        stopping (``patience``) restored them.
    temperature_ : float
        Calibration temperature in use (1.0 unless ``calibrate`` fitted one).
    calibration_ : dict
        With ``calibrate``: validation ``ece_before``, ``ece_after``, ``nll_before``,
        ``nll_after`` and ``temperature``; empty otherwise.
    ood_detector_ : MahalanobisDetector or None
        Class means and shared covariance of the training split's penultimate features, used by
        ``ood_score(X, method="mahalanobis")`` (None for multi-label targets).
    preprocessor_ : TablePreprocessor or None
        The fitted table preprocessing (see ``tabular``); its ``transform`` gives the network's
        input.
    multilabel_ : bool
        True when ``y`` was a 2-D indicator matrix; ``predict`` then returns one.
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        "hidden_sizes": ["array-like"],
        "activation": [str],
        "norm": [StrOptions({"batch", "layer"}), None],
        "residual": ["boolean", str],
        "dropout": [Interval(Real, 0, 1, closed="left"), str],
        "output": [str],
        "head": [str],
        "loss": [str],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "schedule": [StrOptions({"onecycle", "cosine", "constant"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "restore_best": ["boolean"],
        "monitor": [StrOptions({"val_accuracy", "val_loss"})],
        "gradient_noise": [Interval(Real, 0, None, closed="left")],
        "teacher": [str, Path, list, tuple, None],
        "teacher_temperature": [Interval(Real, 0, None, closed="neither")],
        "teacher_weight": [Interval(Real, 0, 1, closed="both")],
        "standardize": ["boolean"],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "tabular": [StrOptions({"auto"}), "boolean"],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
        "calibrate": ["boolean"],
        "track_collapse": ["boolean"],
        "track_diagnostics": ["boolean"],
        "init": [str],
        "solver": [str],
        "augment": [str],
        "checkpoint_dir": [str, os.PathLike, None],
    }

    def __init__(
        self,
        hidden_sizes: Sequence[int] = _NET.hidden_sizes,
        activation: str = _NET.activation,
        norm: str | None = _NET.norm,
        residual: bool = _NET.residual,
        dropout: float | str = _NET.dropout,
        output: str = _NET.output,
        head: str = _NET.head,
        loss: str = _TRAIN.loss,
        epochs: int = _TRAIN.epochs,
        batch_size: int = _TRAIN.batch_size,
        lr: float = _TRAIN.lr,
        weight_decay: float = _TRAIN.weight_decay,
        schedule: str = _TRAIN.schedule,
        validation_fraction: float = _TRAIN.validation_fraction,
        patience: int | None = _TRAIN.patience,
        restore_best: bool = _TRAIN.restore_best,
        monitor: str = _TRAIN.monitor,
        gradient_noise: float = _TRAIN.gradient_noise,
        teacher: str | Path | Sequence[str | Path] | None = _TRAIN.teacher,
        teacher_temperature: float = _TRAIN.teacher_temperature,
        teacher_weight: float = _TRAIN.teacher_weight,
        standardize: bool = True,
        class_weight: str | dict[Any, float] | None = None,
        tabular: bool | str = "auto",
        random_state: int | np.random.RandomState | None = None,
        device: str = _TRAIN.device,
        verbose: int = 0,
        calibrate: bool = False,
        track_collapse: bool = False,
        track_diagnostics: bool = False,
        init: str = _NET.init,
        solver: str = _TRAIN.solver,
        augment: str = _TRAIN.augment,
        checkpoint_dir: str | os.PathLike | None = None,
    ) -> None:
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.norm = norm
        self.residual = residual
        self.dropout = dropout
        self.output = output
        self.head = head
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.restore_best = restore_best
        self.monitor = monitor
        self.gradient_noise = gradient_noise
        self.teacher = teacher
        self.teacher_temperature = teacher_temperature
        self.teacher_weight = teacher_weight
        self.standardize = standardize
        self.class_weight = class_weight
        self.tabular = tabular
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.calibrate = calibrate
        self.track_collapse = track_collapse
        self.track_diagnostics = track_diagnostics
        self.init = init
        self.solver = solver
        self.augment = augment
        self.checkpoint_dir = checkpoint_dir

    # ----------------------------------------------------------------- configs (views of params)
    def network_config(self, n_features: int, n_classes: int) -> NetworkConfig:
        """Return the :class:`NetworkConfig` these parameters describe."""
        values = {name: getattr(self, name) for name in _NETWORK_FIELDS}
        values["hidden_sizes"] = tuple(int(h) for h in self.hidden_sizes)
        if not isinstance(values["dropout"], str):
            values["dropout"] = float(values["dropout"])
        return NetworkConfig(n_features=n_features, n_classes=n_classes, **values)

    def training_config(self, seed: int | None = None) -> TrainingConfig:
        """Return the :class:`TrainingConfig` these parameters describe."""
        values = {name: getattr(self, name) for name in _TRAINING_FIELDS}
        values["random_state"] = seed
        values["device"] = str(self.device)
        values["teacher"] = _teacher_spec(self.teacher)
        return TrainingConfig(**values)

    @classmethod
    def from_configs(
        cls, network: NetworkConfig, training: TrainingConfig, **extra: Any
    ) -> HeadClassifier:
        """Build an estimator whose parameters are the given configs (plus ``extra`` params)."""
        params = {name: getattr(network, name) for name in _NETWORK_FIELDS}
        params.update({name: getattr(training, name) for name in _TRAINING_FIELDS})
        params.update(extra)
        return cls(**params)

    # ----------------------------------------------------------------------------- fitting
    @contextlib.contextmanager
    def _seeded(self, seed: int) -> Iterator[None]:
        device = resolve_device(self.device)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def _encode(self, y: np.ndarray) -> torch.Tensor:
        if getattr(self, "multilabel_", False):
            return torch.as_tensor(np.asarray(y, dtype=np.float32))
        index = np.searchsorted(self.classes_, y)
        index = np.clip(index, 0, len(self.classes_) - 1)
        unseen = self.classes_[index] != y
        if unseen.any():
            raise DataError(
                f"Labels {sorted(set(np.asarray(y)[unseen].tolist()))[:5]} were not among the classes "
                "seen in the first call; pass every class to partial_fit's `classes` argument."
            )
        return torch.as_tensor(index, dtype=torch.int64)

    def _split(
        self, X: Any, y: np.ndarray, weights: np.ndarray | None, seed: int
    ) -> tuple[Any, ...]:
        """Hold out the validation split: X, y (train), X, y (validation), then the weights."""
        n_val = round(self.validation_fraction * len(y))
        if n_val < 1 or len(y) - n_val < len(self.classes_):
            n_val = 0
        if weights is None and y.ndim == 1:
            return (*holdout_split(X, y, n_val, seed), None, None)
        # Split row numbers exactly as the unweighted split would, then cut every array alike.
        labels = y if y.ndim == 1 else np.zeros(len(y))
        train, _, val, _ = holdout_split(np.arange(len(y)), labels, n_val, seed)
        w_train, w_val = (None, None) if weights is None else (weights[train], weights[val])
        return X[train], y[train], X[val], y[val], w_train, w_val

    def _prepare(self, X: Any, y: np.ndarray, seed: int, weights: np.ndarray | None = None) -> None:
        """Build ``model_`` and its trainer for data of this shape (inside a seeded context)."""
        config = self.network_config(X.shape[1], len(self.classes_))
        check_training_memory(config, resolve_device(self.device))
        try:
            self.model_ = HeadNet(config)
        except (RuntimeError, MemoryError) as error:
            if "alloc" not in str(error).lower() and not isinstance(error, MemoryError):
                raise
            raise explain_allocation_failure(config, error) from None
        if self.standardize and getattr(self, "preprocessor_", None) is None:
            if weights is None and not is_sparse(X):
                mean = X.mean(axis=0)
                scale = X.std(axis=0)
            else:
                mean, scale = (m.astype(np.float32) for m in column_moments(X, weights))
            scale[scale < 1e-12] = 1.0
            self.model_.set_standardization(torch.as_tensor(mean), torch.as_tensor(scale))
        self._trainer = Trainer(
            self.model_.to(resolve_device(self.device)),
            self.training_config(seed),
            len(self.classes_),
            self._callbacks(),
        )
        self.history_: list[dict[str, Any]] = []

    def _teacher_targets(self, X: np.ndarray) -> torch.Tensor | None:
        """The teacher run's log-probabilities of the rows of ``X`` (None without a teacher)."""
        if self.teacher is None:
            return None
        if getattr(self, "preprocessor_", None) is not None or getattr(self, "multilabel_", False):
            raise ConfigError(
                "A teacher needs numeric features and single-label targets; it cannot follow "
                "the table preprocessing or multi-label y. Pass tabular=False with numeric X."
            )
        from headkit.teacher import teacher_log_probs

        return teacher_log_probs(self.teacher, X, self.classes_)

    def _callbacks(self) -> list[Callback]:
        return [*default_callbacks(self.verbose), *self._extra_callbacks]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        callbacks: Sequence[Callback] = (),
    ) -> HeadClassifier:
        """Train a fresh network on (X, y).

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame, shape (n_samples, n_features)
            Numeric features (NaN/inf rejected), a SciPy sparse matrix (densified one batch at
            a time), or a DataFrame with text/category/boolean columns and gaps (see
            ``tabular``).
        y : array-like, shape (n_samples,) or (n_samples, n_labels)
            Class labels of any sortable type, or a 0/1 multi-label indicator matrix (needs
            ``output="sigmoid"``).
        sample_weight : array-like, shape (n_samples,), optional
            Row weights: the loss, the validation loss/accuracy (early stopping) and the
            standardisation statistics count a row of weight w like w copies of it.
        callbacks : sequence of Callback
            Extra observers of the training loop.

        Returns
        -------
        self
        """
        X, y, weights = self._fit_inputs(X, y, sample_weight)
        self._extra_callbacks = list(callbacks)
        checkpointer = self._checkpointer(X, y, weights)
        saved = checkpointer.saved_info() if checkpointer is not None else None
        if saved is not None:
            seed = int(saved["seed"])  # a resumed fit repeats the interrupted one's draws
        else:
            seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        X_train, y_train, X_val, y_val, w_train, w_val = self._split(X, y, weights, seed)
        if w_train is not None:
            w_train = w_train / w_train.mean()
        if self.track_collapse:
            from headkit.evaluation.tracking import CollapseTracker

            self._extra_callbacks.append(CollapseTracker(X_train, self._encode(y_train)))
        if self.track_diagnostics:
            from headkit.evaluation.diagnostics_tracking import DiagnosticsTracker

            self._extra_callbacks.append(DiagnosticsTracker(X_train, self._encode(y_train)))
        if self.output.split(":")[0].strip().lower() == "softmax" and not is_sparse(X_train):
            from headkit.training.softmax_collapse import SoftmaxCollapseDetector

            self._extra_callbacks.append(
                SoftmaxCollapseDetector(_rows(X_train), self._encode(y_train))
            )
        if checkpointer is not None:
            checkpointer.info["seed"] = seed
            self._extra_callbacks.append(checkpointer)  # last: it stores the others' state
        with self._seeded(seed):
            self._prepare(X_train, y_train, seed, w_train)
            self._trainer.fit(
                _rows(X_train),
                self._encode(y_train),
                _rows(X_val),
                self._encode(y_val),
                sample_weight=None if w_train is None else torch.as_tensor(w_train),
                val_weight=None if w_val is None else torch.as_tensor(w_val),
                teacher_log_probs=self._teacher_targets(X_train),
            )
        self._after_training()
        self._fit_evaluation_extras(X_train, y_train, X_val, y_val)
        return self

    def _fit_inputs(self, X: Any, y: Any, sample_weight: Any) -> tuple[Any, np.ndarray, Any]:
        """Validate (X, y, sample_weight); fit the table preprocessing; set ``classes_``."""
        from sklearn.utils.validation import _check_sample_weight, check_consistent_length

        tabular = fit_inputs.wants_table_preprocessing(self.tabular, X)
        self.preprocessor_ = None
        if tabular:
            check_consistent_length(X, y)
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
            self.n_features_in_ = X.shape[1]
        else:
            X, y = validate_features(self, X, y, accept_sparse="csr", multi_output=True)
        y, self.multilabel_ = fit_inputs.check_targets(y, self.output)
        self.classes_ = np.arange(y.shape[1]) if self.multilabel_ else np.unique(y)
        if self.multilabel_ and (self.calibrate or self.track_collapse or self.track_diagnostics):
            raise ConfigError(
                "calibrate, track_collapse and track_diagnostics need single-label targets; "
                "turn them off for multi-label y."
            )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        y_index = None if self.multilabel_ else np.searchsorted(self.classes_, y)
        weights = fit_inputs.row_weights(sample_weight, self.class_weight, self.classes_, y_index)
        X, y, weights = fit_inputs.drop_zero_weight(X, y, weights)
        if tabular:
            from headkit.data.preprocessing import TablePreprocessor

            self.preprocessor_ = TablePreprocessor().fit(X, weights)
            X = self.preprocessor_.transform(X)
        return X, y, weights

    def _features(self, X: Any) -> Any:
        """Network input of fitted data: the table preprocessing's output, or validated rows."""
        check_is_fitted(self)
        preprocessor = getattr(self, "preprocessor_", None)
        if preprocessor is not None:
            return preprocessor.transform(fit_inputs.as_frame(X, self.feature_names_in_))
        return validate_features(self, X, reset=False, accept_sparse="csr")

    def _checkpointer(
        self, X: Any, y: np.ndarray, weights: np.ndarray | None = None
    ) -> Checkpointer | None:
        """The checkpoint writer for ``checkpoint_dir`` (None without one)."""
        if self.checkpoint_dir is None:
            return None
        params = self.get_params()
        for name in ("verbose", "checkpoint_dir"):
            params.pop(name)
        arrays = (X.data, X.indices, X.indptr) if is_sparse(X) else (X,)
        extra = () if weights is None else (weights,)
        return Checkpointer(self.checkpoint_dir, fit_fingerprint(params, *arrays, y, *extra))

    def network_input(self, X: Any) -> np.ndarray:
        """Return the float32 rows the network reads, shape (n_samples, model_.config.n_features).

        ``X`` after the fitted table preprocessing (one-hot columns, missing flags), or the
        validated numeric rows; a sparse matrix comes back dense.
        """
        X = self._features(X)
        return X.toarray() if is_sparse(X) else X

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> HeadClassifier:
        """Train one more epoch on (X, y), keeping weights and optimiser state between calls.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,)
        classes : array-like, shape (n_classes,), optional
            Every class that will ever appear; required on the first call.

        Returns
        -------
        self
        """
        first = not hasattr(self, "model_")
        if first:
            self._validate_params()
        elif getattr(self, "preprocessor_", None) is not None:
            raise ConfigError(
                "partial_fit cannot continue a model fitted on a table (text columns or gaps); "
                "refit it with fit() on all the rows."
            )
        X, y = validate_features(self, X, y, reset=first, continuous=False)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise DataError(
                    "The first call to partial_fit needs `classes`, the list of every label."
                )
            self.classes_ = np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                raise DataError(
                    "`classes` has fewer than two labels; a classifier needs at least two."
                )
            self._extra_callbacks = []
            seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
            with self._seeded(seed):
                self._prepare(X, y, seed)
        self._trainer.config = dataclasses.replace(self._trainer.config, schedule="constant")
        self._trainer.fit(
            _tensor(X), self._encode(y), epochs=1, teacher_log_probs=self._teacher_targets(X)
        )
        self._after_training()
        return self

    def _after_training(self) -> None:
        self.history_ = [record.as_dict() for record in self._trainer.history]
        self.n_iter_ = self._trainer.epoch
        self.best_epoch_ = self._trainer.best_epoch

    # ----------------------------------------- evaluation hooks (issue 6: calibration, OOD)
    def _fit_evaluation_extras(
        self, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray
    ) -> None:
        """Fit the Mahalanobis detector on the training split and, if asked, the temperature."""
        from headkit.evaluation.ood import MahalanobisDetector

        self.calibration_: dict[str, float] = {}
        self.temperature_ = float(self.model_.temperature)
        self.ood_detector_ = None
        if not self.multilabel_:
            self.ood_detector_ = MahalanobisDetector().fit(
                self._penultimate(X_train), self._encode(y_train).numpy()
            )
        if not self.calibrate:
            return
        if len(y_val) == 0:
            import warnings

            warnings.warn(
                "calibrate=True needs a validation split; set validation_fraction > 0 "
                "(the temperature stays 1).",
                stacklevel=3,
            )
            return
        self._calibrate(X_val, y_val)

    def calibrate_temperature(self, X: Any, y: Any) -> float:
        """Fit the temperature on held-out (X, y), store it in the network and return it.

        Sets ``temperature_`` and ``calibration_`` (ECE and NLL before/after on (X, y)).
        """
        X = self._features(X)
        return self._calibrate(X, np.asarray(y))

    def _calibrate(self, X: np.ndarray, y: np.ndarray) -> float:
        from headkit.evaluation import (
            expected_calibration_error,
            fit_temperature,
            negative_log_likelihood,
        )

        self.model_.temperature.fill_(1.0)
        logits, before = self._forward_arrays(X)
        target = self._encode(np.asarray(y)).numpy()
        output = self.model_.output
        if type(output).__name__ == "Softmax":
            log_prob = None
        else:

            def log_prob(z: torch.Tensor) -> torch.Tensor:
                return torch.log(output(z).clamp_min(1e-12))

        t = fit_temperature(logits, target, log_prob=log_prob)
        self.model_.temperature.fill_(t)
        after = self._forward_arrays(X)[1].numpy()
        self.temperature_ = t
        self.calibration_ = {
            "temperature": t,
            "ece_before": expected_calibration_error(target, before.numpy()),
            "ece_after": expected_calibration_error(target, after),
            "nll_before": negative_log_likelihood(target, before.numpy()),
            "nll_after": negative_log_likelihood(target, after),
            "n_samples": len(target),
        }
        return t

    def _penultimate(self, X: Any) -> np.ndarray:
        """Penultimate features (N, D) of raw rows, in eval mode."""
        X = X if is_sparse(X) else np.asarray(X, dtype=np.float32)
        device = next(self.model_.buffers()).device
        self.model_.eval()
        out = []
        with torch.no_grad():
            for batch in _batches(X, device):
                out.append(self.model_.features(batch).double().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, 0))

    def ood_score(self, X: Any, method: str = "energy") -> np.ndarray:
        """Return an out-of-distribution score per row, higher = more in-distribution, (N,).

        ``method``: ``"msp"`` (max softmax probability of the temperature-scaled logits),
        ``"max_logit"``, ``"energy"`` (T·logsumexp(z/T) with T = 1, the negative free energy)
        or ``"mahalanobis"`` (−min_c squared distance to the training class means of the
        penultimate features, shared covariance). See :mod:`headkit.evaluation.ood`.
        """
        from headkit.evaluation.ood import logit_score, msp_score

        check_is_fitted(self)
        if method == "mahalanobis":
            detector = getattr(self, "ood_detector_", None)
            if detector is None:
                raise NotFittedError(
                    "This model has no Mahalanobis statistics (saved by an older headkit or "
                    "trained with partial_fit); refit it with fit()."
                )
            return detector.score(self._penultimate(self._features(X)))
        logits = self._logits_and_proba(X)[0]
        if method == "msp":
            return msp_score(logits, temperature=float(self.model_.temperature))
        return logit_score(logits, method)

    # --------------------------------------------------------------------------- inference
    def _logits_and_proba(self, X: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self._forward_arrays(self._features(X))

    def _forward_arrays(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and probabilities of already-validated float32 rows, batched, eval mode."""
        from headkit.inference import forward_batches

        if not is_sparse(X):
            return forward_batches(self.model_, X, PREDICT_BATCH)
        parts = [forward_batches(self.model_, b.cpu().numpy()) for b in _batches(X, "cpu")]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def predict_proba(
        self, X: Any, mc_samples: int | None = None, class_mask: Any = None
    ) -> np.ndarray:
        """Return class probabilities from the output map, shape (n_samples, n_classes).

        Columns follow ``classes_``; rows sum to 1 (for one-vs-all ``sigmoid`` outputs each
        entry is an independent probability). The network computes in float32; the result is
        returned as float64, like scikit-learn's classifiers.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        mc_samples : int, optional
            With T >= 2, MC dropout (Gal & Ghahramani 2016): the mean of T stochastic passes
            with the dropout modules on and everything else in eval mode (seeded by
            ``random_state``). ``None`` or 1 gives the deterministic prediction.
        class_mask : array-like of bool, shape (n_samples, n_classes) or (n_classes,), optional
            True where a class may be predicted (columns follow ``classes_``); the other
            classes get probability exactly 0 and the rest sum to 1 (logit masking).
        """
        if class_mask is not None:
            return self._masked_proba(X, class_mask)
        if mc_samples is not None and self._check_mc_samples(mc_samples) > 1:
            return self._mc_predict(X, mc_samples)["proba"].astype(np.float64)
        return self._logits_and_proba(X)[1].numpy().astype(np.float64)

    def predict_uncertainty(self, X: Any, mc_samples: int = 30) -> dict[str, np.ndarray]:
        """Return MC-dropout predictive uncertainty, each array of shape (n_samples,).

        Keys: ``"entropy"`` (predictive entropy H[p̄], nats), ``"expected_entropy"`` (mean
        entropy of the passes, aleatoric), ``"mutual_information"`` (entropy minus expected
        entropy, epistemic / BALD) and ``"proba"`` (n_samples, n_classes), the same as
        ``predict_proba(X, mc_samples=mc_samples)``. See :func:`headkit.nn.mc_predict`.
        """
        return self._mc_predict(X, self._check_mc_samples(mc_samples))

    @staticmethod
    def _check_mc_samples(mc_samples: Any) -> int:
        from headkit.exceptions import ConfigError

        if isinstance(mc_samples, bool) or not isinstance(mc_samples, Integral) or mc_samples < 1:
            raise ConfigError(
                f"mc_samples must be an int >= 1 (the number of MC-dropout passes); "
                f"got {mc_samples!r}."
            )
        return int(mc_samples)

    def _mc_predict(self, X: Any, mc_samples: int) -> dict[str, np.ndarray]:
        from headkit.nn.uncertainty import mc_predict

        X = self._features(X)
        device = next(self.model_.buffers()).device
        seed = self.random_state if isinstance(self.random_state, Integral) else 0
        parts = []
        with self._seeded(int(seed)):
            for batch in _batches(X, device):
                parts.append(mc_predict(self.model_, batch, samples=mc_samples))
        return {
            name: torch.cat([getattr(part, name) for part in parts]).cpu().numpy()
            for name in ("proba", "entropy", "expected_entropy", "mutual_information")
        }

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Return the log of :meth:`predict_proba` (``-inf`` where a sparse map gives 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _masked_proba(self, X: Any, class_mask: Any) -> np.ndarray:
        from headkit.nn.masking import masked_probabilities

        logits = self._logits_and_proba(X)[0]
        mask = torch.as_tensor(np.asarray(class_mask, dtype=bool))
        if mask.shape not in ((len(self.classes_),), tuple(logits.shape)):
            raise DataError(
                f"class_mask must have shape ({len(logits)}, {len(self.classes_)}) or "
                f"({len(self.classes_)},), one column per class in classes_; got "
                f"{tuple(mask.shape)}."
            )
        device = self.model_.temperature.device
        with torch.no_grad():
            scaled = logits.to(device) / self.model_.temperature
            proba = masked_probabilities(self.model_.output, scaled, mask.to(device))
        return proba.double().cpu().numpy()

    def predict(self, X: Any, class_mask: Any = None) -> np.ndarray:
        """Return the most probable class of each row, shape (n_samples,).

        ``class_mask`` restricts each row to a candidate set, as in :meth:`predict_proba`.
        For multi-label models: the 0/1 indicator matrix ``predict_proba(X) > 0.5``, shape
        (n_samples, n_labels).
        """
        proba = self.predict_proba(X, class_mask=class_mask)
        if getattr(self, "multilabel_", False):
            return (proba > 0.5).astype(np.int64)
        return self.classes_[proba.argmax(axis=1)]

    def logits(self, X: Any) -> np.ndarray:
        """Return the raw logits, shape (n_samples, n_classes)."""
        return self._logits_and_proba(X)[0].numpy()

    # ----------------------------------------------------------------------------- saving
    def save(
        self,
        path: str | Path,
        extra_files: dict[str, bytes | str] | None = None,
        extra_metadata: dict[str, Any] | None = None,
    ) -> Path:
        """Save the fitted model (weights, configs, labels) to a directory; see :mod:`headkit.io`.

        ``extra_files`` (name → content) are written into the same directory in the same atomic
        step; ``extra_metadata`` is merged into the saved metadata.
        """
        from headkit import io

        check_is_fitted(self)
        extra_files = dict(extra_files or {})
        detector = getattr(self, "ood_detector_", None)
        if detector is not None:
            extra_files.setdefault(OOD_FILE, _detector_bytes(detector))
        if getattr(self, "preprocessor_", None) is not None:
            extra_files[PREPROCESSING_FILE] = json.dumps(self.preprocessor_.to_dict(), indent=1)
        metadata = {
            "estimator": "HeadClassifier",
            "classes": self.classes_.tolist(),
            "classes_dtype": self.classes_.dtype.str,
            "feature_names": getattr(self, "feature_names_in_", np.array([])).tolist(),
            "training": self._trainer.config.to_dict(),
            "params": {
                "standardize": self.standardize,
                "verbose": self.verbose,
                "calibrate": self.calibrate,
                "track_collapse": self.track_collapse,
                "track_diagnostics": self.track_diagnostics,
                "class_weight": _json_class_weight(self.class_weight),
                "tabular": self.tabular,
            },
            "multilabel": bool(getattr(self, "multilabel_", False)),
            "calibration": getattr(self, "calibration_", {}),
            "n_iter": self.n_iter_,
            "best_epoch": self.best_epoch_,
            **(extra_metadata or {}),
        }
        return io.save(self.model_, path, metadata, extra_files=extra_files)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> HeadClassifier:
        """Load an estimator saved by :meth:`save` or written by ``headkit train``."""
        from headkit import io

        model = io.load(path, device=device)
        meta = model.metadata
        if meta.get("estimator") != "HeadClassifier":
            raise ModelFileError(
                f"{path} holds a bare network, not a HeadClassifier; use headkit.load."
            )
        training = TrainingConfig.from_dict(meta.get("training", {}))
        params = dict(meta.get("params", {}))
        if isinstance(params.get("class_weight"), dict):  # JSON keys are text; match the labels
            params["class_weight"] = {
                c: params["class_weight"][str(c)]
                for c in meta["classes"]
                if str(c) in params["class_weight"]
            }
        estimator = cls.from_configs(model.config, training.replace(device=device), **params)
        estimator.model_ = model
        estimator.classes_ = np.array(
            meta["classes"], dtype=np.dtype(meta.get("classes_dtype", "O"))
        )
        estimator.n_features_in_ = model.config.n_features
        if meta.get("feature_names"):
            estimator.feature_names_in_ = np.array(meta["feature_names"], dtype=object)
        estimator._extra_callbacks = []
        estimator._trainer = Trainer(
            model, training.replace(device=device), len(estimator.classes_)
        )
        estimator.history_ = []
        estimator.n_iter_ = meta.get("n_iter", 0)
        estimator.best_epoch_ = meta.get("best_epoch")
        estimator.temperature_ = float(model.temperature)
        estimator.calibration_ = meta.get("calibration", {})
        estimator.ood_detector_ = _detector_from_file(Path(path) / OOD_FILE)
        estimator.multilabel_ = bool(meta.get("multilabel", False))
        estimator.preprocessor_ = _preprocessor_from_file(Path(path) / PREPROCESSING_FILE)
        if estimator.preprocessor_ is not None:
            estimator.n_features_in_ = len(estimator.preprocessor_.feature_names)
        return estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True
        return tags
