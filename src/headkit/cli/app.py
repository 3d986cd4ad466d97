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
    Decimal,
    LabelledData,
    NaValues,
    RunArg,
    Target,
    column_roles,
    data_notes,
    load_data,
    load_unlabelled,
    metrics_table,
    ood_report,
    ood_table,
    read_options,
)
from headkit.cli.settings import with_setting_flags
from headkit.cli.train import train

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
    from rich.markup import escape

    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                               soft_wrap=True)  # fmt: skip
    return typer.Exit(USAGE_ERROR)


def _stdout_closed() -> typer.Exit:
    """End quietly, as Unix tools do when their reader closes the pipe (status 128 + SIGPIPE)."""
    import os

    try:  # later writes and the interpreter's final flush go nowhere instead of failing again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test runner)
        pass
    return typer.Exit(128 + 13)


def _user_errors(command: F) -> F:
    """Turn the errors a user can fix into one red line and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from headkit.exceptions import HeadkitError

        try:
            with data_notes():  # cells read as gaps, empty rows, encodings: one line each
                return command(*args, **kwargs)
        except BrokenPipeError:  # `headkit predict ... | head`: the reader has gone
            raise _stdout_closed() from None
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
app.command("train")(_user_errors(with_setting_flags(train)))


# ------------------------------------------------------------------------- evaluate / predict
def _load_run(run: Path, device: str = "cpu"):
    from headkit.estimator.classifier import HeadClassifier

    return HeadClassifier.load(run, device=device)


@app.command()
@_user_errors
def evaluate(
    run: RunArg,
    data: LabelledData,
    target: Target = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    ood: Annotated[
        str | None,
        typer.Option(help="Out-of-distribution data (file or built-in name): AUROC/AUPR/FPR95."),
    ] = None,
    na_values: NaValues = None,
    decimal: Decimal = None,
) -> None:
    """Score a trained model on labelled data; labels it never saw are reported, not fatal."""
    import numpy as np

    from headkit.evaluation import summary_metrics
    from headkit.inference.saved_model import SavedModel

    saved = SavedModel.load(run, engine="auto")
    target = target or saved.metadata.get("target")
    read = read_options(na_values, decimal)
    X, y, names = load_data(data, target, True, read=read)
    y, classes = np.asarray(y), saved.classes
    if classes.dtype.kind in "iub" and y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
        y = y.astype(classes.dtype)
    known = np.isin(y, classes)
    report: dict[str, Any] = {}
    if known.any():
        report = summary_metrics(y[known], saved.predict_proba(X[known], names), classes)
    if not known.all():
        from headkit._validation import shown_names

        unseen = sorted({str(v) for v in y[~known]})
        report["unseen_label_rows"] = int((~known).sum())
        report["unseen_labels"] = unseen[:20]
        report["accuracy_all_rows"] = float(report.get("accuracy", 0.0) * known.mean())
        typer.echo(
            f"warning: {int((~known).sum())} rows have labels the model never saw ({shown_names(unseen)}); "
            "they are left out of the metrics and count as errors in accuracy_all_rows.",
            err=True,
        )
    if ood is not None:
        X_ood, ood_names = load_unlabelled(ood, target, read=read)
        report["ood"] = ood_report(saved, X, names, X_ood, ood_names)
    if as_json or "accuracy" not in report:
        typer.echo(json.dumps(report, indent=2))
    else:
        metrics_table(f"headkit evaluate · {data}", {"data": report})
        if ood is not None:
            ood_table(f"out-of-distribution · {data} (in) vs {ood} (out)", report["ood"])


@app.command()
@_user_errors
def predict(
    run: RunArg,
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
    conformal: Annotated[
        float | None,
        typer.Option(
            help="Add a prediction set holding the label with probability 1 - ALPHA (split "
            "conformal on the run's held-out rows): columns set and set_size."
        ),
    ] = None,
    conformal_method: Annotated[
        str,
        typer.Option(
            help="Score of --conformal: aps (randomised, may give an empty set), raps, or "
            "aps-det (never empty, over-covers)."
        ),
    ] = "aps",
    early_exit: Annotated[
        float | None,
        typer.Option(
            help="Layer dropout runs (layer_drop=layerskip): each row leaves at the first exit "
            "at least this confident; adds an exit_depth column (Dense blocks run)."
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(help="Copy this column of DATA (e.g. an order id) into the output, first."),
    ] = None,
    na_values: NaValues = None,
    decimal: Decimal = None,
) -> None:
    """Write the predicted label and one probability column per class.

    A table model adds a 0/1 ``empty_row`` column: 1 where every cell was empty or unknown.
    """
    from headkit.cli.inputs import saved_prediction
    from headkit.runs.predict import predictions_table, write_predictions

    if mc_samples is not None:
        from headkit.estimator.params import check_mc_samples

        check_mc_samples(mc_samples)
    read = read_options(na_values, decimal)
    extras = {"conformal": conformal, "conformal_method": conformal_method}
    extras["early_exit"] = early_exit
    found = saved_prediction(run, data, target, id_column, mc_samples, ood_score, read, **extras)
    leading = None if found.ids is None else {id_column: found.ids.to_numpy()}
    result = predictions_table(found.classes, found.proba, found.uncertainty, leading,
                               multilabel=found.multilabel, empty=found.empty)  # fmt: skip
    for name, values in found.extra.items():
        result[name] = values
    where = write_predictions(result, output, overwrite=overwrite)
    typer.echo(f"wrote {len(result)} predictions to {where}", err=True)


@app.command("report")
@_user_errors
def report_command(
    run: RunArg,
    data: Annotated[
        str | None,
        typer.Option(help="Labelled data (default: the run's built-in data set, test split)."),
    ] = None,
    target: Target = None,
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
    from headkit.estimator.presets import apply_preset

    training = meta.get("training", {})
    preset = meta.get("preset") or training.get("preset")  # the fit's, automatic ones included
    if preset:
        table.add_row("preset", str(preset))
    training = {k: v for k, v in apply_preset(preset, training).items() if k in training}
    training.update(meta.get("resolved") or {})  # what "auto" calibrate/monitor/patience became
    training_keys = ("loss", "epochs", "batch_size", "lr", "weight_decay", "schedule")
    for key in (
        *training_keys,
        "calibrate",
        "monitor",
        "patience",
        "members",
        "precision",
        "solver",
        "augment",
        "random_state",
    ):
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
    from headkit.io import METRICS

    metrics_file = Path(run) / METRICS
    if metrics_file.exists():
        for split, values in json.loads(metrics_file.read_text())["splits"].items():
            table.add_row(f"{split} accuracy", f"{values['accuracy']:.4f}")
    Console().print(table)


from headkit.cli import explain, listing, ship  # noqa: E402  (light: typer only)

app.command("export")(_user_errors(ship.export))
app.command("serve")(_user_errors(ship.serve))
app.command("list")(_user_errors(listing.list_command))
app.command("explain")(_user_errors(explain.explain))


def main() -> None:
    """Entry point of the ``headkit`` console script."""
    app(prog_name="headkit")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
