"""The ``headkit export`` and ``headkit serve`` commands: ship a trained run.

Registered on the ``headkit`` app by :mod:`headkit.cli`; like every command they import their
heavy parts (torch, onnx, uvicorn) only when run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export(
    run: Annotated[Path, typer.Argument(help="Run directory written by `headkit train`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (model.onnx).")],
    format: Annotated[
        str, typer.Option("--format", help="Export format (see `headkit.export.FORMATS`): onnx.")
    ] = "onnx",
    opset: Annotated[
        int | None, typer.Option(help="ONNX opset version (default: the exporter's).")
    ] = None,
) -> None:
    """Export a run as an ONNX model: features in, probabilities and label out (needs the onnx extra)."""
    from headkit.export import export_run

    path = export_run(run, output, format=format, opset=opset)
    typer.echo(f"wrote {path} (outputs: probabilities, label)", err=True)


def serve(
    run: Annotated[Path, typer.Argument(help="Run directory written by `headkit train`.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8000,
    max_body_mb: Annotated[
        float, typer.Option(help="Largest request body in MiB; larger bodies get 413.")
    ] = 16.0,
    max_batch_rows: Annotated[
        int, typer.Option(help="Most rows per model call when requests are batched.")
    ] = 4096,
    threads: Annotated[int, typer.Option(help="torch threads for the model calls.")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log one line per request.")] = False,
) -> None:
    """Serve a run over HTTP: POST /predict, GET /health, GET /metadata (needs the serve extra)."""
    from headkit.serving.server import run_server

    run_server(
        run,
        host=host,
        port=port,
        max_body_bytes=max(1, int(max_body_mb * 2**20)),
        max_batch_rows=max_batch_rows,
        threads=threads,
        access_log=access_log,
    )
