"""``headkit train``: its flags (grouped in help panels), a resume, and what it prints.

Registered on the app by :mod:`headkit.cli.app`, which adds one flag per fit setting
(:func:`headkit.cli.settings.with_setting_flags`, panels Network and Training).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from headkit.cli.inputs import FILE_KINDS, metrics_table, read_options

DATA, OUTPUT = "Data", "Output"  # help panels; the fit settings add Network and Training


def train(
    ctx: typer.Context,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="Built-in data: mnist1d (default), digits or blobs[:n_classes=N].",
            rich_help_panel=DATA,
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help=f"Training file: {FILE_KINDS}.", rich_help_panel=DATA),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="Label column of --data (an index for .npy).", rich_help_panel=DATA),
    ] = None,
    test_fraction: Annotated[
        float,
        typer.Option(
            help="Share of --data held out for the final test metrics.", rich_help_panel=DATA
        ),
    ] = 0.2,
    force_classification: Annotated[
        bool,
        typer.Option(
            "--force-classification",
            help="Train on a numeric target with many distinct values, one class each.",
            rich_help_panel=DATA,
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Run directory to write (default runs/NAME-TIME).", rich_help_panel=OUTPUT
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an existing --out.", rich_help_panel=OUTPUT),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No progress bar, logs or notices.", rich_help_panel=OUTPUT
        ),
    ] = False,
    report: Annotated[
        bool,
        typer.Option(
            "--report", help="Also write the HTML report (RUN/report).", rich_help_panel=OUTPUT
        ),
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Finish the interrupted run RUN from its last checkpoint; only --quiet and "
            "--report may be given with it.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    na_values: Annotated[
        str | None,
        typer.Option(
            help="More text that means 'missing', comma-separated (e.g. unknown,n.d.); ?, NA, "
            "N/A, NaN, null, None, - and empty cells always do.",
            rich_help_panel=DATA,
        ),
    ] = None,
    decimal: Annotated[
        str | None,
        typer.Option(
            help="Decimal mark of a text file: . or , (sniffed by default).", rich_help_panel=DATA
        ),
    ] = None,
    **setting_values: Any,
) -> None:
    """Train a classifier and write a run directory (model, config, metrics.json, history.csv).

    Every fit setting of HeadClassifier is a flag with the same name and default. The run is checkpointed every epoch; Ctrl-C stops with status 130 and --resume RUN finishes it with the weights an uninterrupted run would have (docs/failures.md). Under torchrun the processes train one model data-parallel.
    """  # noqa: E501 (one line per paragraph: the help is wrapped to the terminal)
    from headkit.cli.settings import estimator_params
    from headkit.estimator.presets import AUTO, PRESETTABLE
    from headkit.runs import TrainRequest

    given = _given_flags(ctx)
    params = estimator_params(setting_values)
    params.update({name: AUTO for name in PRESETTABLE if name not in given})  # preset or default
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
        **read_options(na_values, decimal),
    )
    changes = None
    if resume is not None:
        given -= {"resume", "quiet"}
        changes = {k: v for k, v in {**request.to_dict(), **params}.items() if k in given}
        if "data" in changes and data is not None:
            changes["data"] = str(data.resolve())
    _run_and_show(request, resume, quiet, changes)


def _given_flags(context: typer.Context) -> set[str]:
    """Names of the command's parameters given on the command line (not defaults).

    Compared by name: typer carries its own copy of click, whose ParameterSource enum is not
    ``click.core.ParameterSource``.
    """
    sources = {name: context.get_parameter_source(name) for name in context.params}
    return {
        name
        for name, source in sources.items()
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")
    }


def _run_and_show(
    request: Any, resume: Path | None, quiet: bool, changes: dict[str, Any] | None = None
) -> None:
    """Run (or resume) a training request; print its metrics, or the interruption line."""
    from headkit.runs import RunInterrupted, interrupts, resume_point, resume_run, train_run

    with interrupts() as caught:
        try:
            if resume is not None:
                point = resume_point(resume)
                if point is not None and not quiet:
                    typer.echo(f"resuming {resume} from epoch {point[0]} of {point[1]}", err=True)
                result = resume_run(resume, verbose=0 if quiet else 1, changes=changes)
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
        if "input_gates" in metrics:
            from headkit.estimator.structure import kept_summary

            typer.echo(kept_summary(metrics["input_gates"]))
        if metrics.get("privacy"):
            dp = metrics["privacy"]
            typer.echo(
                f"privacy: ε = {dp['epsilon']:.3g} at δ = {dp['delta']:g} ({dp['steps']} DP-SGD "
                f"steps, noise σ = {dp['noise']:g}, clip C = {dp['clip']:g})"
            )
        typer.echo(f"run written to {result.out}  ({metrics['seconds']:.1f}s)")
        for line in result.notices:
            typer.echo(f"warning: {line}", err=True)
    if result.report_index is not None:
        typer.echo(f"report written to {result.report_index}")
