"""The data of a training run: read, checked and split before any directory is claimed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from headkit._validation import check_labels, check_split_sizes, check_two_classes, split_sizes
from headkit.exceptions import ConfigError, DataError

DEFAULT_DATASET = "mnist1d"


@dataclass(frozen=True)
class TrainingData:
    """Train and test rows of a run, with the feature names.

    ``table`` is False for a built-in data set: numeric arrays (signals, images), whose
    ``"auto"`` settings are an array's even though the run keeps their column names.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    table: bool = True


def _force_classes(y: np.ndarray) -> np.ndarray:
    """Make every distinct value of a numeric target a class (ints stay ints, others text)."""
    if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
        return y.astype(np.int64)
    return y.astype(str) if y.dtype.kind == "f" else y


def load_training_data(
    dataset: str | None,
    data: Path | None,
    target: str | None,
    test_fraction: float,
    validation_fraction: float,
    seed: int,
    force_classification: bool = False,
    na_values: Any = (),
    decimal: str | None = None,
) -> TrainingData:
    """Read a built-in data set or a file, check its labels and cut its test split.

    Raises
    ------
    ConfigError
        ``--data`` with ``--dataset``, ``--target`` without ``--data``, a fraction outside [0, 1).
        ``na_values`` and ``decimal`` are passed to :func:`headkit.data.load_table`.
    DataError
        Missing label column or labels, a regression-like target, too few rows for the splits.
    """
    from headkit.data import holdout_split, load_dataset, load_table

    if data is not None and dataset is not None:
        raise ConfigError(
            f"Give --data FILE or --dataset NAME, not both (got {data} and {dataset})."
        )
    for name, value in (
        ("--test-fraction", test_fraction),
        ("--validation-fraction", validation_fraction),
    ):
        if not 0 <= value < 1:
            raise ConfigError(f"{name} must be in [0, 1); got {value}.")
    if data is None:
        if target is not None:
            raise ConfigError(
                "--target only applies with --data FILE; add --data or drop --target."
            )
        ds = load_dataset(dataset or DEFAULT_DATASET)
        return TrainingData(
            ds.X_train, ds.y_train, ds.X_test, ds.y_test, ds.feature_names, table=False
        )
    if target is None:
        raise DataError(f"Say which column of {data} holds the labels with --target COLUMN.")
    table = load_table(data, target, na_values=na_values, decimal=decimal)
    y = _checked_labels(table.y, f"Column {target!r} of {data}", force_classification)
    n_classes = len(np.unique(y))
    check_split_sizes(len(y), n_classes, test_fraction, validation_fraction, str(data))
    n_test = split_sizes(len(y), test_fraction, 0.0)[0]
    X_train, y_train, X_test, y_test = holdout_split(table.X, y, n_test, seed)
    return TrainingData(X_train, y_train, X_test, y_test, table.feature_names)


def _checked_labels(y: Any, where: str, force: bool) -> np.ndarray:
    y = np.asarray(y)
    if force:
        y = _force_classes(y)
    check_labels(y, where, "pass --force-classification")
    check_two_classes(y)
    return y
