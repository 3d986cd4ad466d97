"""The ``headkit export`` and ``headkit serve`` commands: ship a trained run.

Registered on the ``headkit`` app by :mod:`headkit.cli`; like every command they import their
heavy parts (torch, onnx, uvicorn) only when run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from headkit.cli.inputs import RunArg


def export(
    run: RunArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (model.onnx).")],
    format: Annotated[
        str, typer.Option("--format", help="Export format (see `headkit.export.FORMATS`): onnx.")
    ] = "onnx",
    opset: Annotated[
        int | None, typer.Option(help="ONNX opset version (default: the exporter's).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing -o file.")
    ] = False,
) -> None:
    """Export a run as an ONNX model: features in, probabilities and label out (needs the onnx extra)."""
    from headkit.exceptions import ConfigError
    from headkit.export import export_run

    if output.exists() and not overwrite:  # the rule of `predict -o`
        raise ConfigError(
            f"{output} already exists; pass --overwrite to replace it or choose another -o."
        )
    path = export_run(run, output, format=format, opset=opset)
    typer.echo(f"wrote {path} (outputs: probabilities, label)", err=True)


def serve(
    run: RunArg,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8000,
    engine: Annotated[
        str,
        typer.Option(
            help="Forward pass: auto (as predict: NumPy for a plain network, else torch; a plain "
            "network's calls of over 128 rows on torch), numpy, torch, or onnx (onnxruntime; "
            "needs the onnx extra)."
        ),
    ] = "auto",
    workers: Annotated[
        int, typer.Option(help="Server processes sharing the port (each loads the model).")
    ] = 1,
    threads: Annotated[int, typer.Option(help="BLAS/torch threads per process.")] = 1,
    max_body_mb: Annotated[
        float, typer.Option(help="Largest request body in MiB; larger bodies get 413.")
    ] = 16.0,
    max_batch_rows: Annotated[
        int, typer.Option(help="Most rows per model call when requests are batched.")
    ] = 4096,
    max_queue_rows: Annotated[
        int, typer.Option(help="Most rows waiting for the model; past it, 503 + Retry-After.")
    ] = 65536,
    timeout: Annotated[
        float, typer.Option(help="Seconds a request may wait for its answer; past it, 504.")
    ] = 10.0,
    access_log: Annotated[
        bool, typer.Option(help="Write one JSON line per request to stderr.")
    ] = False,
) -> None:
    """Serve a run over HTTP: POST /predict, GET /health /ready /metadata /metrics /openapi.json."""
    from headkit.serving.options import ServeOptions
    from headkit.serving.server import run_server

    options = ServeOptions(
        host=host,
        port=port,
        engine=engine,
        workers=workers,
        threads=threads,
        max_body_bytes=max(1, int(max_body_mb * 2**20)),
        max_batch_rows=max_batch_rows,
        max_queue_rows=max_queue_rows,
        timeout_s=timeout,
        access_log=access_log,
    )
    run_server(run, options)
