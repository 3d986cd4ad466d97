"""The ``headkit`` command: train, evaluate, predict and inspect from the shell.

Only typer and headkit's light modules are imported at start-up, so ``headkit --help`` does not
import torch; each command imports what it needs. User errors print one red line and exit with
status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from headkit.cli.inputs import (
    column_roles,
    load_data,
    load_unlabelled,
    metrics_table,
    ood_report,
    ood_table,
)
from headkit.cli.settings import with_setting_flags

app = typer.Typer(
    name="headkit",
    help="Train, evaluate and ship a features → Dense → Dropout → Softmax classifier.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
F = TypeVar("F", bound=Callable[..., Any])
_STATE = {"debug": False}
USAGE_ERROR = 2


def _fail(message: str) -> typer.Exit:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(USAGE_ERROR)


def _user_errors(command: F) -> F:
    """Turn the errors a user can fix into one red line and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from headkit.exceptions import HeadkitError

        try:
            return command(*args, **kwargs)
        except (HeadkitError, ValueError, OSError) as error:
            if _STATE["debug"]:
                raise
            raise _fail(
                str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            ) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    """Train, evaluate and ship a features → Dense → Dropout → Softmax classifier."""
    _STATE["debug"] = debug


# ------------------------------------------------------------------------------------- train
def train(
    dataset: Annotated[
        str | None,
        typer.Option(help="Built-in data: mnist1d (default), digits or blobs[:n_classes=N]."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Training file: .csv, .tsv, .parquet, .npy or .npz.")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Label column of --data (an index for .npy).")
    ] = None,
    test_fraction: Annotated[
        float, typer.Option(help="Share of --data held out for the final test metrics.")
    ] = 0.2,
    out: Annotated[
        Path | None, typer.Option(help="Run directory to write (default runs/NAME-TIME).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or logs.")] = False,
    report: Annotated[
        bool, typer.Option(help="Write the HTML report (RUN/report/index.html) after training.")
    ] = False,
    force_classification: Annotated[
        bool,
        typer.Option(help="Train on a numeric target with many distinct values, one class each."),
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Finish the interrupted run RUN from its last checkpoint (other flags ignored)."
        ),
    ] = None,
    **setting_values: Any,
) -> None:
    """Train a classifier and write a run directory (model, config, metrics.json, history.csv).

    Every fit setting of HeadClassifier is a flag with the same name and default. The run is
    checkpointed every epoch; Ctrl-C stops with status 130 and `--resume RUN` finishes it with the
    weights an uninterrupted run would have (docs/failures.md). Under torchrun the processes
    train one model data-parallel.
    """
    from headkit.cli.settings import estimator_params
    from headkit.runs import TrainRequest

    params = estimator_params(setting_values)
    params["verbose"] = 0 if quiet else 1
    request = TrainRequest(
        dataset=dataset,
        data=data,
        target=target,
        test_fraction=test_fraction,
        out=out,
        overwrite=overwrite,
        params=params,
        report=report,
        force_classification=force_classification,
    )
    _run_and_show(request, resume, quiet)


app.command("train")(_user_errors(with_setting_flags(train)))


def _run_and_show(request: Any, resume: Path | None, quiet: bool) -> None:
    """Run (or resume) a training request; print its metrics, or the interruption line."""
    from headkit.runs import RunInterrupted, interrupts, resume_run, train_run

    with interrupts() as caught:
        try:
            if resume is not None:
                result = resume_run(resume, verbose=0 if quiet else 1)
            else:
                result = train_run(request)
        except RunInterrupted as stop:
            typer.echo(str(stop), err=True)
            raise typer.Exit(caught.exit_code) from None
    if result.out is None:
        return  # a non-main rank of a distributed run
    metrics = result.metrics
    if not quiet:
        title = f"headkit · {metrics['data']} · {metrics['epochs_run']} epochs"
        metrics_table(title, metrics["splits"])
        typer.echo(f"run written to {result.out}  ({metrics['seconds']:.1f}s)")
    if result.report_index is not None:
        typer.echo(f"report written to {result.report_index}")


# ------------------------------------------------------------------------- evaluate / predict
def _load_run(run: Path, device: str = "cpu"):
    from headkit.estimator.classifier import HeadClassifier

    return HeadClassifier.load(run, device=device)


@app.command()
@_user_errors
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run directory written by `headkit train`.")],
    data: Annotated[
        str,
        typer.Argument(help="Labelled data file, or a built-in data set name (its test split)."),
    ],
    target: Annotated[
        str | None, typer.Option(help="Label column (default: the one used in training).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    ood: Annotated[
        str | None,
        typer.Option(help="Out-of-distribution data (file or built-in name): AUROC/AUPR/FPR95."),
    ] = None,
) -> None:
    """Score a trained model on labelled data; labels it never saw are reported, not fatal."""
    import numpy as np

    from headkit.runs import feature_frame, split_metrics

    model = _load_run(run)
    target = target or model.model_.metadata.get("target")
    X, y, names = load_data(data, target, True, model)
    y = np.asarray(y)
    if model.classes_.dtype.kind in "iub" and y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
        y = y.astype(model.classes_.dtype)
    known = np.isin(y, model.classes_)
    report: dict[str, Any] = {}
    if known.any():
        report = split_metrics(model, X[known], y[known], names)
    if not known.all():
        unseen = sorted({str(v) for v in y[~known]})
        report["unseen_label_rows"] = int((~known).sum())
        report["unseen_labels"] = unseen[:20]
        report["accuracy_all_rows"] = float(report.get("accuracy", 0.0) * known.mean())
        typer.echo(
            f"warning: {int((~known).sum())} rows have labels the model never saw ({', '.join(unseen[:5])}); "
            "they are left out of the metrics and count as errors in accuracy_all_rows.",
            err=True,
        )
    if ood is not None:
        X_ood, ood_names = load_unlabelled(ood, target, model)
        report["ood"] = ood_report(model, feature_frame(X, names), feature_frame(X_ood, ood_names))
    if as_json or "accuracy" not in report:
        typer.echo(json.dumps(report, indent=2))
    else:
        metrics_table(f"headkit evaluate · {data}", {"data": report})
        if ood is not None:
            ood_table(f"out-of-distribution · {data} (in) vs {ood} (out)", report["ood"])


@app.command()
@_user_errors
def predict(
    run: Annotated[Path, typer.Argument(help="Run directory written by `headkit train`.")],
    data: Annotated[
        str, typer.Argument(help="Feature file (a label column, if present, is ignored).")
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write (.csv or .parquet); - or none: CSV on stdout. Pipes and devices "
            "are written through.",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing -o file.")] = False,
    target: Annotated[
        str | None, typer.Option(help="Label column to drop (default: the training one).")
    ] = None,
    mc_samples: Annotated[
        int | None,
        typer.Option(
            help="MC dropout: average this many stochastic passes and add entropy and "
            "mutual_information columns."
        ),
    ] = None,
    ood_score: Annotated[
        str | None,
        typer.Option(help="Add an ood_<name> column: msp, max_logit, energy or mahalanobis."),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(help="Copy this column of DATA (e.g. an order id) into the output, first."),
    ] = None,
) -> None:
    """Write the predicted label and one probability column per class."""
    from headkit.cli.inputs import estimator_prediction, lean_prediction
    from headkit.runs.predict import predictions_table, write_predictions

    if mc_samples is None and ood_score is None:  # the lean path: no scikit-learn, no torch
        found = lean_prediction(run, data, target, id_column)
    else:
        model = _load_run(run)
        found = estimator_prediction(model, data, target, id_column, mc_samples)
    leading = None if found.ids is None else {id_column: found.ids.to_numpy()}
    result = predictions_table(
        found.classes, found.proba, found.uncertainty, leading, multilabel=found.multilabel
    )
    if ood_score is not None:
        result[f"ood_{ood_score}"] = model.ood_score(found.features, method=ood_score)
    where = write_predictions(result, output, overwrite=overwrite)
    typer.echo(f"wrote {len(result)} predictions to {where}", err=True)


@app.command("report")
@_user_errors
def report_command(
    run: Annotated[Path, typer.Argument(help="Run directory written by `headkit train`.")],
    data: Annotated[
        str | None,
        typer.Option(help="Labelled data (default: the run's built-in data set, test split)."),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Label column (default: the one used in training).")
    ] = None,
    ood: Annotated[
        str | None, typer.Option(help="Out-of-distribution data: adds OOD histograms and ROC.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default RUN/report).")] = None,
) -> None:
    """Write an offline HTML report (PNG pictures beside index.html) for a trained run."""
    from headkit.data import DATASETS
    from headkit.report import write_report
    from headkit.runs import feature_frame

    model = _load_run(run)
    meta = model.model_.metadata
    target = target or meta.get("target")
    source = data
    if source is None and str(meta.get("data", "")).split(":")[0].lower() in DATASETS:
        source = str(meta["data"])
    X = y = X_ood = None
    names: list[str] = []
    if source is not None:
        X, y, names = load_data(source, target, True, model)
        X = feature_frame(X, names)
    else:
        typer.echo("no --data given: the report shows the training curves only", err=True)
    if ood is not None:
        X_ood, ood_names = load_unlabelled(ood, target, model)
        X_ood = feature_frame(X_ood, ood_names)
    index = write_report(run, X, y, X_ood, out_dir=out, data_name=source or "", ood_name=ood or "")
    typer.echo(f"report written to {index}")


@app.command()
@_user_errors
def info(run: Annotated[Path, typer.Argument(help="Run or model directory.")]) -> None:
    """Show a run's network, training settings, classes and metrics."""
    from rich.console import Console
    from rich.table import Table

    from headkit.io import read_config

    config = read_config(run)
    meta = config.get("metadata", {})
    table = Table(title=f"headkit model · {run}", show_header=False)
    for key, value in config["network"].items():
        table.add_row(key, str(value))
    sizes = config["network"].get("hidden_sizes") or []
    if sizes:  # the aspect ratio of Roberts, Yaida & Hanin: distance from infinite width
        from headkit.config import depth_width_ratio

        table.add_row("depth/width ratio Σ 1/n", f"{depth_width_ratio(sizes):.4f}")
    training = meta.get("training", {})
    if training.get("preset"):
        from headkit.estimator.presets import apply_preset

        table.add_row("preset", str(training["preset"]))
        training = apply_preset(training["preset"], training)
    training_keys = ("loss", "epochs", "batch_size", "lr", "weight_decay", "schedule")
    for key in (*training_keys, "solver", "augment", "random_state"):
        if key in training:
            table.add_row(key, str(training[key]))
    if "seed" in meta:
        table.add_row("seed_ (this fit)", str(meta["seed"]))
    if meta.get("threads") is not None:
        table.add_row("threads (this fit)", str(meta["threads"]))
    classes = meta.get("classes", [])
    table.add_row(
        "classes",
        f"{len(classes)}: {', '.join(map(str, classes[:12]))}{' …' if len(classes) > 12 else ''}",
    )
    table.add_row("epochs run", str(meta.get("n_iter")))
    roles = column_roles(Path(run))
    for name, role in roles.items():
        table.add_row(f"column {name}", role)
    metrics_file = Path(run) / "metrics.json"
    if metrics_file.exists():
        for split, values in json.loads(metrics_file.read_text())["splits"].items():
            table.add_row(f"{split} accuracy", f"{values['accuracy']:.4f}")
    Console().print(table)


from headkit.cli import ship  # noqa: E402  (light: typer only)

app.command("export")(_user_errors(ship.export))
app.command("serve")(_user_errors(ship.serve))


def main() -> None:
    """Entry point of the ``headkit`` console script."""
    app(prog_name="headkit")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
