"""One training run as a plain function: data → fit → metrics → save → report.

``headkit train`` is a thin view over :func:`train_run`; tests and scripts call it directly with
a :class:`TrainRequest` and get a :class:`RunResult` back, without typer.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from headkit.exceptions import ConfigError, DataError


@dataclass(frozen=True)
class TrainRequest:
    """Everything one training run was asked to do.

    Attributes
    ----------
    dataset : str
        Built-in data set spec (used when ``data`` is None).
    data : Path or None
        Training file (.csv, .tsv, .parquet, .npy, .npz).
    target : str or None
        Label column of ``data`` (an index for .npy).
    test_fraction : float
        Share of ``data`` held out for the final test metrics.
    out : Path or None
        Run directory; None picks ``runs/NAME-TIME``.
    overwrite : bool
        Replace an existing ``out``.
    params : dict
        :class:`headkit.HeadClassifier` parameters.
    report : bool
        Also write the HTML report into ``out/report``.
    """

    dataset: str = "mnist1d"
    data: Path | None = None
    target: str | None = None
    test_fraction: float = 0.2
    out: Path | None = None
    overwrite: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    report: bool = False

    @property
    def data_name(self) -> str:
        """The data as the run records it: the file path or the data set spec."""
        return str(self.data) if self.data is not None else self.dataset


@dataclass(frozen=True)
class TrainingData:
    """Train and test rows of a run, with the feature names."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]


@dataclass
class RunResult:
    """What a finished run produced.

    Attributes
    ----------
    out : Path
        The run directory (None on non-main ranks of a distributed run).
    model : HeadClassifier
    metrics : dict
        The content of ``metrics.json`` (plus ``calibration`` when fitted).
    report_index : Path or None
        The HTML report's ``index.html`` when one was written.
    """

    out: Path | None
    model: Any
    metrics: dict[str, Any]
    report_index: Path | None = None


def default_out(request: TrainRequest) -> Path:
    """Return the run directory a request writes to (``runs/NAME-TIME`` when not given)."""
    if request.out is not None:
        return request.out
    name = request.data.stem if request.data is not None else request.dataset.split(":")[0]
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def load_training_data(request: TrainRequest, seed: int) -> TrainingData:
    """Read the request's data and cut its test split (built-in data sets bring their own)."""
    from headkit.data import holdout_split, load_dataset, load_table

    if request.data is None:
        if request.target is not None:
            raise ConfigError(
                "--target only applies with --data FILE; add --data or drop --target."
            )
        ds = load_dataset(request.dataset)
        return TrainingData(ds.X_train, ds.y_train, ds.X_test, ds.y_test, ds.feature_names)
    if request.target is None:
        raise DataError(
            f"Say which column of {request.data} holds the labels with --target COLUMN."
        )
    table = load_table(request.data, request.target)
    if not 0 <= request.test_fraction < 1:
        raise ConfigError(f"--test-fraction must be in [0, 1); got {request.test_fraction}.")
    n_test = 0 if len(table.y) < 10 else int(np.ceil(request.test_fraction * len(table.y)))
    X_train, y_train, X_test, y_test = holdout_split(table.X, table.y, n_test, seed)
    return TrainingData(X_train, y_train, X_test, y_test, table.feature_names)


def feature_frame(X: np.ndarray, names: list[str]) -> Any:
    """Wrap X in a DataFrame with the file's column names (generated ``x0…`` names are dropped)."""
    import pandas as pd

    if names and not all(n.startswith("x") for n in names):
        return pd.DataFrame(X, columns=names)
    return X


def split_metrics(model: Any, X: np.ndarray, y: np.ndarray, names: list[str]) -> dict[str, float]:
    """Return the summary metrics of ``model`` on labelled rows (X, y)."""
    from headkit.evaluation import summary_metrics

    return summary_metrics(y, model.predict_proba(feature_frame(X, names)), model.classes_)


def history_csv(history: list[dict[str, Any]]) -> str:
    """Return the per-epoch history as CSV text (the run's ``history.csv``)."""
    import pandas as pd

    buffer = io.StringIO()
    pd.DataFrame(history).to_csv(buffer, index=False)
    return buffer.getvalue()


def train_run(request: TrainRequest, callbacks: tuple = ()) -> RunResult:
    """Train, evaluate and save one run; see :class:`TrainRequest`.

    Parameters
    ----------
    request : TrainRequest
    callbacks : tuple of headkit.training.Callback
        Extra observers of the fit loop.

    Returns
    -------
    RunResult
    """
    from headkit.estimator import HeadClassifier
    from headkit.training import distributed

    started = time.perf_counter()
    env = distributed.init_distributed()  # no-op outside torchrun
    out = default_out(request)
    if out.exists() and not request.overwrite:
        raise ConfigError(
            f"{out} already exists; pass --overwrite to replace it or choose another --out."
        )
    seed = request.params.get("random_state", 0)
    data = load_training_data(request, seed if isinstance(seed, int) else 0)
    params = dict(request.params)
    if not env.is_main:
        params["verbose"] = 0
    model = HeadClassifier(**params)
    names = data.feature_names
    model.fit(feature_frame(data.X_train, names), data.y_train, callbacks=callbacks)
    distributed.gather_sharded(model.model_)  # class-sharded heads: full weight on every rank
    splits = {"train": split_metrics(model, data.X_train, data.y_train, names)}
    if len(data.y_test):
        splits["test"] = split_metrics(model, data.X_test, data.y_test, names)
    metrics = {
        "splits": splits,
        "epochs_run": model.n_iter_,
        "best_epoch": model.best_epoch_,
        "seconds": round(time.perf_counter() - started, 3),
        "data": request.data_name,
    }
    if not env.is_main:
        distributed.shutdown()
        return RunResult(None, model, metrics)
    model.save(
        out,
        extra_files={
            "metrics.json": json.dumps(metrics, indent=2),
            "history.csv": history_csv(model.history_),
        },
        extra_metadata={"target": request.target, "data": metrics["data"]},
    )
    if getattr(model, "calibration_", None):
        metrics["calibration"] = model.calibration_
    result = RunResult(out, model, metrics)
    if request.report:
        result.report_index = _write_report(out, data, metrics["data"])
    distributed.shutdown()
    return result


def _write_report(out: Path, data: TrainingData, data_name: str) -> Path:
    from headkit.report import write_report

    has_test = len(data.y_test) > 0
    return write_report(
        out,
        feature_frame(data.X_test, data.feature_names) if has_test else None,
        data.y_test if has_test else None,
        data_name=f"{data_name} (test split)" if has_test else "",
    )
