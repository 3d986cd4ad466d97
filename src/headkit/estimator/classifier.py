"""HeadClassifier: the scikit-learn face of headkit.

Its parameters are the settings of :class:`headkit.config.NetworkConfig` and
:class:`headkit.config.TrainingConfig` (plus ``verbose``): the signature, the defaults, the
parameter validation and the "Parameters" section below are all derived from those fields.
``fit`` validates, builds a :class:`headkit.nn.HeadNet` and hands it to the trainer; the fit
steps are in :mod:`headkit.estimator.fit`, inference in :mod:`headkit.inference.forward`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils.validation import check_is_fitted

from headkit.config import MULTILABEL_THRESHOLD, NetworkConfig, TrainingConfig
from headkit.data.sparse import is_sparse
from headkit.estimator import fit as steps
from headkit.estimator.inputs import is_frame, split_rows, validation_rows
from headkit.estimator.members import merge_networks, train_members, train_packed
from headkit.estimator.params import (
    NETWORK_SETTINGS,
    SIGNATURE,
    TRAINING_SETTINGS,
    check_mc_samples,
    network_config,
    parameter_constraints,
    parameters_section,
    training_config,
)
from headkit.estimator.presets import automatic_settings, class_balance, resolved_parameters
from headkit.estimator.state import estimator_metadata, fitted_files, load_estimator
from headkit.estimator.structure import StructureMixin
from headkit.inference.forward import mc_predict_arrays, predict_arrays, seeded
from headkit.inference.scores import network_ood_score
from headkit.training import Callback, Trainer, default_callbacks, resolve_device
from headkit.training.calibration import calibrate_network


class HeadClassifier(StructureMixin, ClassifierMixin, BaseEstimator):
    """Dense → Dropout → Softmax classifier with the scikit-learn API.

    One parameter per setting of :class:`~headkit.config.NetworkConfig` and
    :class:`~headkit.config.TrainingConfig`, plus ``verbose``; ``random_state`` is kept as given
    and the seed a fit derives from it is ``seed_`` (a NumPy ``RandomState`` is used but saved as
    ``None``). With ``output="softmax"`` a Softmax Collapse detector scores training rows each
    epoch (``history_`` column ``softmax_collapse``) and warns (``SoftmaxCollapseWarning``) when
    90 % have a float32 loss of 0 and it hurts (training stalled or validation loss climbing).
    A setting a preset may change defaults to ``"auto"`` (the preset's value, else the library
    default); ``checkpoint_dir`` and ``verbose`` are run-time plumbing, not saved.

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
        Epoch with the best validation score; its weights are the model's when
        ``restore_best`` restored them.
    temperature_ : float
        Calibration temperature in use (1.0 unless ``calibrate`` fitted one): read from the
        network's ``temperature`` buffer, its one home (saved in ``model.safetensors``).
    calibration_ : dict
        With ``calibrate``: validation ``ece_before``, ``ece_after``, ``nll_before``,
        ``nll_after`` and ``temperature``; empty otherwise.
    ood_detector_ : MahalanobisDetector or None
        Class means and shared covariance of the training split's penultimate features, used by
        ``ood_score(X, method="mahalanobis")`` (None for multi-label targets).
    conformal_ : ConformalScores or None
        The held-out split's APS/RAPS scores behind :meth:`predict_set` (None without one).
    preprocessor_ : TablePreprocessor or None
        The fitted table preprocessing (see ``tabular``); its ``transform`` gives the network's
        input.
    multilabel_ : bool
        True when ``y`` was a 2-D indicator matrix; ``predict`` then returns one.
    seed_ : int
        Seed this fit derived from ``random_state`` (initialisation, split, shuffling, dropout,
        and MC-dropout prediction); saved with the model.
    input_gates_ : dict of str → float or None
        With ``input_gates``: each input column's prediction-time gate (0 = unused; tables per
        original column); None without gates. See :mod:`headkit.estimator.structure`.
    preset_ : str or None
        The preset the fit used: ``preset``, or with ``preset=None`` and calibration on
        ``"small"`` for a table or fewer than 2,000 rows (``"small:smoothing=0"`` where a class
        is rare; :func:`headkit.estimator.presets.automatic_preset`); saved.
    calibrate_, monitor_, patience_, epochs_, precision_ : bool, str, int or None, int, str
        The ``calibrate``, ``monitor``, ``patience``, ``epochs`` and ``precision`` the fit used
        (``"auto"`` resolved: presets.automatic_settings, precision.resolve_precision); saved.
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        **parameter_constraints(),
        "device": [str, torch.device],
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        bound = SIGNATURE.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    # ----------------------------------------------------------------- configs (views of params)
    def resolved_params(self) -> dict[str, Any]:
        """Return the parameters a fit uses: ``get_params()`` with the preset's values filled in."""
        return resolved_parameters(self)

    def network_config(self, n_features: int, n_classes: int) -> NetworkConfig:
        """Return the :class:`NetworkConfig` a fit builds (preset applied)."""
        return network_config(self.resolved_params(), n_features, n_classes)

    def training_config(self, resolved: bool = True) -> TrainingConfig:
        """Return the JSON-ready :class:`TrainingConfig` a fit uses (``resolved=False``: as given)."""
        return training_config(self.resolved_params() if resolved else self.get_params())

    @classmethod
    def from_configs(
        cls, network: NetworkConfig, training: TrainingConfig, **extra: Any
    ) -> HeadClassifier:
        """Build an estimator whose parameters are the given configs (plus ``verbose``)."""
        params = {name: getattr(network, name) for name in NETWORK_SETTINGS}
        params.update({name: getattr(training, name) for name in TRAINING_SETTINGS})
        params.update(extra)
        return cls(**params)

    # ----------------------------------------------------------------------------- fitting
    def _prepare(self, X: Any, callbacks: Sequence[Callback], weights: Any = None) -> None:
        """Build ``model_`` and its trainer for data of this shape (inside a seeded context)."""
        self._set_fitted(precision_=steps.fit_precision(self, X, weights))
        self._set_fitted(model_=steps.build_network(self, X, weights), history_=[])
        self._trainer = Trainer(
            self.model_.to(resolve_device(self.device)),
            self.training_config(),
            len(self.classes_),
            [*default_callbacks(self.verbose), *callbacks],
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X: Any, y: Any, sample_weight: Any = None, callbacks: Sequence[Callback] = ()
    ) -> HeadClassifier:
        """Train a fresh network on (X, y).

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame, shape (n_samples, n_features)
            Numeric features (NaN/inf rejected), a SciPy sparse matrix (densified one batch at
            a time), or a DataFrame with text/category/boolean columns and gaps (see
            ``tabular``).
        y : array-like, shape (n_samples,) or (n_samples, n_labels)
            Class labels (any sortable type), or a 0/1 indicator matrix (``output="sigmoid"``).
        sample_weight : array-like, shape (n_samples,), optional
            Row weights: the loss, the validation loss/accuracy (early stopping) and the
            standardisation statistics count a row of weight w like w copies of it.
        callbacks : sequence of Callback
            Extra observers of the training loop.

        Returns ``self``.
        """
        table = is_frame(X)
        X, y, weights, fitted = steps.validate_fit(self, X, y, sample_weight)
        auto = automatic_settings(self.get_params(deep=False), table, len(y), class_balance(y))
        self._set_fitted(**fitted, **auto)
        writer = steps.checkpointer(self, X, y, weights)
        seed = steps.derive_seed(self, writer.saved_info() if writer is not None else None)
        self._set_fitted(seed_=seed)
        n_val = validation_rows(self, len(y))
        X_train, y_train, X_val, y_val, w_train, w_val = split_rows(X, y, weights, n_val, seed)
        if w_train is not None:
            w_train = w_train / w_train.mean()
        callbacks = [*callbacks, *steps.observers(self, X_train, y_train)]
        if writer is not None:
            writer.info["seed"] = seed
            callbacks.append(writer)  # last: it stores the others' state
        rows = (X_train, y_train, X_val, y_val, w_train, w_val)
        with seeded(seed, resolve_device(self.device)):
            self._prepare(X_train, callbacks, w_train)
            packed = train_packed(self, rows, seed, table)  # all members at once, or None
            if packed is None:
                self._trainer.fit(
                    **steps.trainer_rows(self, rows),
                    teacher_log_probs=steps.teacher_targets(self, X_train),
                )
        self._after_training(packed or self._trainer)
        merged = merge_networks(packed.nets) if packed else train_members(self, rows, seed, table)
        self._set_fitted(model_=merged)
        self._set_fitted(**steps.fit_extras(self, X_train, y_train, X_val, y_val))
        return self

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
        X, y, fitted = steps.validate_partial_fit(self, X, y, classes, first)
        if first:
            self._set_fitted(**fitted, seed_=steps.derive_seed(self))
            with seeded(self.seed_, resolve_device(self.device)):
                self._prepare(X, ())
            self._set_fitted(calibration_={})
        self._trainer.config = dataclasses.replace(self._trainer.config, schedule="constant")
        self._trainer.fit(
            steps.training_rows(X),
            steps.encode_targets(self, y),
            epochs=1,
            teacher_log_probs=steps.teacher_targets(self, X),
        )
        self._after_training()
        return self

    def _set_fitted(self, **attributes: Any) -> None:
        """Assign fitted attributes (``name_``): the one place an estimator's state is written."""
        for name, value in attributes.items():
            setattr(self, name, value)

    def _after_training(self, trainer: Any = None) -> None:
        trainer = trainer or self._trainer  # or the packed members' (train_packed)
        self._set_fitted(
            history_=[record.as_dict() for record in trainer.history],
            n_iter_=trainer.epoch,
            best_epoch_=trainer.best_epoch,
            threads_=trainer.threads,
        )

    def calibrate_temperature(self, X: Any, y: Any) -> float:
        """Fit the temperature on held-out (X, y), store it in the network and return it.

        Sets ``temperature_`` and ``calibration_`` (ECE and NLL before/after on (X, y)); see
        :func:`headkit.training.calibration.calibrate_network`.
        """
        X = self._rows(X)
        calibration = calibrate_network(
            self.model_, X, steps.encode_targets(self, np.asarray(y)).numpy()
        )
        self._set_fitted(calibration_=calibration)
        return self.temperature_

    @property
    def temperature_(self) -> float:
        return float(self.model_.temperature)

    # --------------------------------------------------------------------------- inference
    def _rows(self, X: Any) -> Any:
        return steps.network_input(self, X)

    def _predict(self, X: Any, log_proba: bool = False) -> Any:
        rows = self._rows(X)  # first: it raises NotFittedError before model_ is read
        return predict_arrays(self.model_, rows, log_proba, self.threads)

    def network_input(self, X: Any) -> np.ndarray:
        """Return the float32 rows (N, model_.config.n_features) the network reads.

        X after the fitted table preprocessing, or the validated rows (sparse → dense).
        """
        X = self._rows(X)
        return X.toarray() if is_sparse(X) else X

    def predict_set(self, X: Any, alpha: float = 0.1, method: str = "aps") -> np.ndarray:
        """Split-conformal prediction sets (n_samples, n_classes) bool, columns as ``classes_``.

        Each set holds its row's label with probability about ``1 − alpha`` (``conformal_``, the
        held-out split's scores). ``method``: ``"aps"`` (randomised APS, the default) or
        ``"raps"``, whose sets may be empty, or ``"aps-det"`` (never empty, over-covers); see
        :mod:`headkit.evaluation.conformal_scores`.
        """
        return steps.prediction_sets(self, X, alpha, method)

    def ood_score(self, X: Any, method: str = "energy") -> np.ndarray:
        """Return an out-of-distribution score per row, higher = more in-distribution, (N,).

        ``method``: ``"msp"`` (the largest of :meth:`predict_proba`'s probabilities: the output
        map and the calibration temperature apply), ``"max_logit"``, ``"energy"``
        (T·logsumexp(z/T) with T = 1, the negative free energy) or ``"mahalanobis"`` (−min_c
        squared distance to the training class means of the penultimate features, shared
        covariance). See :mod:`headkit.evaluation.ood`.
        """
        X = self._rows(X)
        return network_ood_score(self.model_, X, method, getattr(self, "ood_detector_", None))

    def predict_proba(
        self, X: Any, mc_samples: int | None = None, class_mask: Any = None
    ) -> np.ndarray:
        """Return class probabilities from the output map, shape (n_samples, n_classes).

        Columns follow ``classes_``; rows sum to 1 (for one-vs-all ``sigmoid`` outputs each
        entry is an independent probability). All predictions go through
        :meth:`headkit.nn.HeadNet.probabilities`.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        mc_samples : int, optional
            With T >= 2, MC dropout (Gal & Ghahramani 2016): the mean of T stochastic passes
            with the dropout modules on and everything else in eval mode (seeded by ``seed_``,
            so the result is the same after a save and load). ``None`` or 1 gives the
            deterministic prediction.
        class_mask : array-like of bool, shape (n_samples, n_classes) or (n_classes,), optional
            True where a class may be predicted (columns follow ``classes_``); the other
            classes get probability exactly 0 and the rest sum to 1 (logit masking).
        """
        if class_mask is not None:
            return steps.masked_proba(self, X, class_mask)
        if mc_samples is not None and check_mc_samples(mc_samples) > 1:
            return self.predict_uncertainty(X, mc_samples)["proba"].astype(np.float64)
        return self._predict(X).proba.numpy()  # float64 already

    def predict_uncertainty(self, X: Any, mc_samples: int = 30) -> dict[str, np.ndarray]:
        """Return MC-dropout predictive uncertainty, each array of shape (n_samples,).

        Keys: ``"entropy"`` (predictive entropy H[p̄], nats), ``"expected_entropy"`` (mean
        entropy of the passes, aleatoric), ``"mutual_information"`` (entropy minus expected
        entropy, epistemic / BALD) and ``"proba"`` (n_samples, n_classes), the same as
        ``predict_proba(X, mc_samples=mc_samples)``. See :func:`headkit.nn.mc_predict`.
        """
        samples = check_mc_samples(mc_samples)
        X = self._rows(X)
        result = mc_predict_arrays(self.model_, X, samples, self.seed_, self.threads)
        return {name: value.numpy() for name, value in result._asdict().items()}

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Return log-probabilities of the output map (``-inf`` where a sparse map gives 0)."""
        return self._predict(X, log_proba=True).log_proba.numpy()

    def predict(self, X: Any, class_mask: Any = None) -> np.ndarray:
        """Return the most probable class of each row, shape (n_samples,).

        ``class_mask`` restricts each row to a candidate set, as in :meth:`predict_proba`.
        For multi-label models: the 0/1 indicator matrix ``predict_proba(X) > 0.5``, shape
        (n_samples, n_labels).
        """
        proba = self.predict_proba(X, class_mask=class_mask)
        if getattr(self, "multilabel_", False):
            return (proba > MULTILABEL_THRESHOLD).astype(np.int64)
        return self.classes_[proba.argmax(axis=1)]

    def logits(self, X: Any) -> np.ndarray:
        """Return the raw logits, shape (n_samples, n_classes)."""
        return self._predict(X).logits.numpy()

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
        files = {**fitted_files(self), **(extra_files or {})}
        metadata = {**estimator_metadata(self), **(extra_metadata or {})}
        return io.save(self.model_, path, metadata, extra_files=files)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> HeadClassifier:
        """Load an estimator saved by :meth:`save` or written by ``headkit train``.

        The parameters are those the model was fitted with (``get_params()`` round-trips);
        ``device`` only says where the weights go.
        """
        return load_estimator(cls, path, device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True
        return tags


HeadClassifier.__init__.__signature__ = SIGNATURE  # type: ignore[attr-defined]
HeadClassifier.__doc__ = (HeadClassifier.__doc__ or "").replace(
    "    Attributes\n", parameters_section() + "    Attributes\n", 1
)
