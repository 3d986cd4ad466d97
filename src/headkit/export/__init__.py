"""Export a trained run to another runtime.

:data:`FORMATS` is the one table of export targets: each entry names the module and function
that write it, the file suffix, the optional extra it needs and a one-line summary. ONNX
(:mod:`headkit.export.onnx`, with :mod:`headkit.export.table` for tables) is the first entry; a
new target is one module and one entry here, and ``headkit export --format`` lists it.
Nothing heavy is imported until :func:`export_run` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from headkit.exceptions import ConfigError

__all__ = ["FORMATS", "ExportFormat", "export_run"]


@dataclass(frozen=True)
class ExportFormat:
    """One export target.

    Attributes
    ----------
    module, function : str
        Where the exporter lives: ``function(run, out, **options) -> Path``.
    suffix : str
        The usual file suffix (``".onnx"``).
    extra : str
        The ``pip install 'headkit[extra]'`` it needs.
    summary : str
        One line for ``--help`` and the docs.
    """

    module: str
    function: str
    suffix: str
    extra: str
    summary: str


FORMATS: dict[str, ExportFormat] = {
    "onnx": ExportFormat(
        module="headkit.export.onnx",
        function="export_onnx",
        suffix=".onnx",
        extra="onnx",
        summary="ONNX graph: raw features (or table columns) in, probabilities and label out.",
    ),
}


def export_run(
    run: str | Path | Any, out: str | Path, format: str = "onnx", **options: Any
) -> Path:
    """Export a run directory (or a loaded :class:`headkit.inference.SavedModel`) to ``out``.

    Parameters
    ----------
    run : str, Path or SavedModel
        What ``headkit train`` or ``HeadClassifier.save`` wrote.
    out : str or Path
        The file to write (replaced atomically).
    format : str
        A key of :data:`FORMATS`.
    **options
        Passed to the format's exporter (``opset`` for ONNX).

    Raises
    ------
    ConfigError
        An unknown format.
    """
    target = FORMATS.get(format.lower())
    if target is None:
        raise ConfigError(f"Unknown export format {format!r}; choose one of {', '.join(FORMATS)}.")
    exporter = getattr(import_module(target.module), target.function)
    return exporter(run, out, **options)
