"""One training run as a plain function: data → fit → metrics → save → report.

``headkit train`` is a thin view over :func:`train_run`; tests and scripts call it directly with
a :class:`TrainRequest` and get a :class:`RunResult` back, without typer.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from headkit.estimator.inputs import validation_share
from headkit.exceptions import DivergenceError, RunClaimedError
from headkit.io import HISTORY, METRICS
from headkit.runs.data import DEFAULT_DATASET, TrainingData, load_training_data
from headkit.runs.directory import RunDirectory, staging_path
from headkit.runs.interrupt import RunInterrupted


@dataclass(frozen=True)
class TrainRequest:
    """Everything one training run was asked to do.

    Attributes
    ----------
    dataset : str or None
        Built-in data set spec (``mnist1d`` when neither it nor ``data`` is given).
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
    force_classification : bool
        Train on a numeric target with many distinct values, each value a class.
    na_values : list of str
        Text read as a missing value in ``data`` besides the defaults (saved with the run's
        table preprocessing, so prediction applies them too).
    decimal : str or None
        Decimal mark of a text ``data`` file (``.`` or ``,``); sniffed when None.
    """

    dataset: str | None = None
    data: Path | None = None
    target: str | None = None
    test_fraction: float = 0.2
    out: Path | None = None
    overwrite: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    report: bool = False
    force_classification: bool = False
    na_values: list[str] = field(default_factory=list)
    decimal: str | None = None

    @property
    def data_name(self) -> str:
        """The data as the run records it: the file path or the data set spec."""
        return str(self.data) if self.data is not None else self.dataset or DEFAULT_DATASET

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (stored in the staging directory for ``--resume``)."""
        values = dataclasses.asdict(self)
        values["data"] = str(self.data.resolve()) if self.data is not None else None
        values["out"] = str(self.out) if self.out is not None else None
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainRequest:
        """Rebuild from :meth:`to_dict`."""
        values = dict(values)
        for key in ("data", "out"):
            values[key] = Path(values[key]) if values.get(key) is not None else None
        return cls(**values)


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
    notices : list of str
        One line per thing the user should hear about the fit (Softmax Collapse that hurts),
        naming the ``headkit train`` flags; the CLI prints them unless ``--quiet``.
    """

    out: Path | None
    model: Any
    metrics: dict[str, Any]
    report_index: Path | None = None
    notices: list[str] = field(default_factory=list)


def collapse_notice(warning: Any) -> str:
    """One CLI line for a :class:`headkit.training.SoftmaxCollapseWarning`, naming the flags."""
    now = " ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in warning.settings.items())
    return (
        f"Softmax Collapse from epoch {warning.epoch}: {warning.fraction:.0%} of training rows "
        f"give no gradient and {warning.symptom}; with {now}, try a larger --weight-decay, a "
        "smaller --lr or --output stablemax."
    )


def feature_frame(X: np.ndarray, names: list[str]) -> Any:
    """Wrap X in a DataFrame with the file's column names (generated ``x0…`` names are dropped)."""
    import pandas as pd

    from headkit._validation import are_generated

    if hasattr(X, "columns"):  # a table as read (keeps its attrs, e.g. the user's na_values)
        return X
    if names and not are_generated(names):
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


def _data(request: TrainRequest) -> TrainingData:
    seed = request.params.get("random_state", 0)
    return load_training_data(
        request.dataset,
        request.data,
        request.target,
        request.test_fraction,
        validation_share(
            request.params.get("validation_fraction"),
            None if request.params.get("patience") == "auto" else request.params.get("patience"),
            request.params.get("calibrate") is True,  # "auto" holds out rows only where it can
        ),
        seed if isinstance(seed, int) else 0,
        request.force_classification,
        na_values=request.na_values,
        decimal=request.decimal,
    )


def _claim(request: TrainRequest) -> RunDirectory:
    """Claim the asked run directory, or the first free ``runs/NAME-TIME[-k]``."""
    if request.out is not None:
        return RunDirectory.claim(request.out, request.overwrite)
    name = request.data.stem if request.data is not None else request.data_name.split(":")[0]
    base = Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for k in range(1, 1000):
        out = base if k == 1 else base.with_name(f"{base.name}-{k}")
        if out.exists() or staging_path(out).exists():
            continue
        try:
            return RunDirectory.claim(out)
        except RunClaimedError:
            continue  # another run took this name a moment ago
    raise RunClaimedError(f"Could not find a free run name beside {base}; pass --out.")


def train_run(request: TrainRequest, callbacks: tuple = ()) -> RunResult:
    """Train, evaluate and save one run; see :class:`TrainRequest`.

    The data is read and checked first; then the run directory is claimed (before the first
    epoch), the fit checkpoints every epoch into the claim, and the finished run replaces
    ``out`` as one unit.

    Parameters
    ----------
    request : TrainRequest
    callbacks : tuple of headkit.training.Callback
        Extra observers of the fit loop.

    Raises
    ------
    RunInterrupted
        On Ctrl-C (KeyboardInterrupt); the checkpoint stays for :func:`resume_run`.
    DivergenceError
        The loss exploded; the last good checkpoint stays.
    """
    from headkit.training import distributed

    started = time.perf_counter()
    env = distributed.init_distributed()  # no-op outside torchrun
    data = _data(request)
    run = _claim(request) if env.is_main else None
    if run is not None:
        request = dataclasses.replace(request, out=run.out)
        run.write_request(request.to_dict())
    return _execute(request, run, data, callbacks, started)


def _execute(
    request: TrainRequest,
    run: RunDirectory | None,
    data: TrainingData,
    callbacks: tuple,
    started: float,
    resumed_at: int | None = None,
) -> RunResult:
    from headkit.training import distributed

    try:
        model, notices = _fit(request, run, data, callbacks)
        metrics = _metrics(model, data, request, started, resumed_at)
        if run is None:  # a non-main rank of a distributed run
            distributed.shutdown()
            return RunResult(None, model, metrics)
        result = _save(request, run, model, data, metrics)
        result.notices = notices
    except KeyboardInterrupt:
        raise _interrupted(run, request) from None
    except DivergenceError as error:
        if run is None:
            raise
        run.release(keep=True)
        raise DivergenceError(
            f"{error} The last good checkpoint stays in {run.staging}; fix the setting and start "
            f"again with --overwrite."
        ) from None
    except BaseException:
        if run is not None:
            run.release(keep=_checkpointed_epoch(run)[0] > 0)
        raise
    distributed.shutdown()
    return result


def _fit(
    request: TrainRequest, run: RunDirectory | None, data: TrainingData, callbacks: tuple
) -> tuple[Any, list[str]]:
    """Fit the run's estimator; return it and the notices (Softmax Collapse) for the CLI."""
    from headkit.estimator.classifier import HeadClassifier
    from headkit.training import SoftmaxCollapseWarning, distributed

    params = dict(request.params)
    if run is None:
        params["verbose"] = 0
    elif not distributed.active() and params.get("privacy", "none") == "none":
        # checkpoints are single-process, and DP-SGD's accountant is not in them
        params["checkpoint_dir"] = str(run.checkpoint_dir)
    model = HeadClassifier(**params)
    if not data.table:
        model.set_params(**_array_settings(model, len(data.y_train)))
    names = data.feature_names
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SoftmaxCollapseWarning)
        model.fit(feature_frame(data.X_train, names), data.y_train, callbacks=callbacks)
    notices = []
    for w in caught:  # the collapse becomes one line; every other warning goes on as it came
        if isinstance(w.message, SoftmaxCollapseWarning):
            notices.append(collapse_notice(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    distributed.gather_sharded(model.model_)  # class-sharded heads: full weight on every rank
    return model, notices


def _array_settings(model: Any, n_rows: int) -> dict[str, Any]:
    """The ``"auto"`` settings a numeric array of ``n_rows`` rows resolves to.

    A built-in data set is fitted as a frame to keep its column names; without this, its "auto"
    settings would be a table's (the honest recipe, which costs MNIST-1D 15 points).
    """
    from headkit.estimator.presets import AUTO, automatic_settings

    params = model.get_params(deep=False)
    resolved = automatic_settings(params, table=False, n_rows=n_rows)
    names = ("calibrate", "monitor", "patience")
    settings = {name: resolved[f"{name}_"] for name in names if params[name] == AUTO}
    return {**settings, "members": 1} if params["members"] == AUTO else settings  # not a table


def _metrics(
    model: Any,
    data: TrainingData,
    request: TrainRequest,
    started: float,
    resumed_at: int | None = None,
) -> dict:
    """The run's ``metrics.json``; a resumed run adds the restored epochs' times to ``seconds``."""
    names = data.feature_names
    splits = {"train": split_metrics(model, data.X_train, data.y_train, names)}
    if len(data.y_test):
        splits["test"] = split_metrics(model, data.X_test, data.y_test, names)
    earlier = sum(float(row["seconds"]) for row in model.history_[: resumed_at or 0])
    metrics = {
        "splits": splits,
        "epochs_run": model.n_iter_,
        "best_epoch": model.best_epoch_,
        "seconds": round(time.perf_counter() - started + earlier, 3),
        "data": request.data_name,
    }
    if resumed_at is not None:
        metrics["resumed_at_epoch"] = resumed_at
    if model.input_gates_ is not None:  # input_gates: each input column's gate (0 = unused)
        metrics["input_gates"] = model.input_gates_
    if getattr(model, "privacy_", None):  # DP-SGD: ε, δ, σ, C, q, steps
        metrics["privacy"] = model.privacy_
    return metrics


def _save(
    request: TrainRequest, run: RunDirectory, model: Any, data: TrainingData, metrics: dict
) -> RunResult:
    """Write the finished run into the claim, then make it ``out`` in one rename."""
    model.save(
        run.result_dir,
        extra_files={
            METRICS: json.dumps(metrics, indent=2),
            HISTORY: history_csv(model.history_),
        },
        extra_metadata={"target": request.target, "data": metrics["data"]},
    )
    if getattr(model, "calibration_", None):
        metrics["calibration"] = model.calibration_
    report = None
    if request.report:
        report = _write_report(run.result_dir, data, metrics["data"])
    out = run.commit(overwrite=request.overwrite)
    if report is not None:
        report = out / report.relative_to(run.result_dir)
    return RunResult(out, model, metrics, report)


def planned_epochs(params: dict[str, Any]) -> int:
    """The epochs a run's parameters ask for (``"auto"``: the preset's, else the default)."""
    from headkit.estimator.presets import apply_preset

    return int(apply_preset(params.get("preset"), params)["epochs"])


def _checkpointed_epoch(run: RunDirectory) -> tuple[int, int | None]:
    """(epoch, epochs) of the run's last checkpoint; (0, None) when it has none."""
    from headkit.training.checkpoint import CHECKPOINT, read_checkpoint_info

    path = run.checkpoint_dir / CHECKPOINT
    if not path.is_file():
        return 0, None
    info = read_checkpoint_info(path)
    return int(info["epoch"]), int(info["epochs"])


def _interrupted(run: RunDirectory | None, request: TrainRequest) -> BaseException:
    if run is None:
        return KeyboardInterrupt()
    epoch, epochs = _checkpointed_epoch(run)
    run.release(keep=True)
    return RunInterrupted(run.out, epoch, epochs or planned_epochs(request.params))


def _write_report(out: Path, data: TrainingData, data_name: str) -> Path:
    from headkit.report import write_report

    has_test = len(data.y_test) > 0
    return write_report(
        out,
        feature_frame(data.X_test, data.feature_names) if has_test else None,
        data.y_test if has_test else None,
        data_name=f"{data_name} (test split)" if has_test else "",
    )
