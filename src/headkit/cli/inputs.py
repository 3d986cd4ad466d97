"""Helpers of the ``headkit`` commands: reading data, ID columns, tables printed, notes.

Nothing heavy is imported at module level, so ``headkit --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

FILE_KINDS = (
    ".csv/.tsv/.txt (delimiter, decimal mark and encoding sniffed), .parquet, .feather, .arrow, "
    ".jsonl, .xlsx, .npy or .npz; .gz/.bz2/.xz/.zst or a .zip holding one table"
)
RunArg = Annotated[Path, typer.Argument(help="Run directory written by `headkit train`.")]
LabelledData = Annotated[
    str, typer.Argument(help="Labelled data file, or a built-in data set name (its test split).")
]
Target = Annotated[
    str | None, typer.Option(help="Label column (default: the one used in training).")
]
NaValues = Annotated[
    str | None,
    typer.Option(
        help="More text that means 'missing', comma-separated (e.g. unknown,n.d.); ?, NA, N/A, "
        "NaN, null, None, - and empty cells always do."
    ),
]
Decimal = Annotated[
    str | None, typer.Option(help="Decimal mark of a text file: . or , (sniffed by default).")
]


def read_options(na_values: str | None, decimal: str | None) -> dict[str, Any]:
    """``load_table`` keywords from the ``--na-values`` and ``--decimal`` flags."""
    tokens = [t.strip() for t in na_values.split(",") if t.strip()] if na_values else []
    return {"na_values": tokens, "decimal": decimal}


@contextlib.contextmanager
def data_notes() -> Iterator[None]:
    """Show each data warning (cells read as gaps, empty rows, encodings) once, as one line."""
    import warnings

    from rich.console import Console
    from rich.markup import escape

    from headkit.data.column_roles import DataWarning

    seen: set[str] = set()
    default = warnings.showwarning

    def show(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        if not issubclass(category, DataWarning):
            return default(message, category, *args, **kwargs)
        if str(message) not in seen:
            seen.add(str(message))
            Console(stderr=True).print(f"[bold yellow]warning:[/] {escape(str(message))}",
                                       highlight=False,
                                       soft_wrap=True)  # fmt: skip

    with warnings.catch_warnings():
        warnings.simplefilter("always", DataWarning)
        warnings.showwarning = show
        yield


def load_data(
    source: str, target: str | None, require_target: bool, model: Any = None, read: Any = None
):
    """Return (X, y or None, feature_names) from a file, or a built-in data set's test split.

    With a ``model``, the columns are matched to its training columns by name (any order);
    ``read`` holds :func:`headkit.data.load_table` keywords (:func:`read_options`).
    """
    from headkit.data import DATASETS, load_dataset, load_table
    from headkit.runs.predict import align_columns

    path = Path(source)
    name = source.split(":", 1)[0].lower()
    if not path.exists() and name in DATASETS:
        data = load_dataset(source)
        X, y, names = data.X_test, data.y_test, data.feature_names
    else:
        table = load_table(path, target, require_target=require_target, **(read or {}))
        X, y, names = table.X, table.y, table.feature_names
    if model is not None:
        X, names = align_columns(X, names, model, source)
    return X, y, names


def metrics_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    """Print one row of summary metrics per split (accuracy, macro F1, log-loss, ...)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("split")
    keys = ["accuracy", "macro_f1", "log_loss", "top3_accuracy", "n_samples"]
    keys = [k for k in keys if all(k in values for values in rows.values())]  # top3: > 3 classes
    for key in keys:
        table.add_column(key, justify="right")
    for split, values in rows.items():
        table.add_row(
            split,
            *(f"{values[k]:.4f}" if isinstance(values[k], float) else str(values[k]) for k in keys),
        )
    Console().print(table)


def pop_id_column(
    features: Any, names: list[str], id_column: str | None, data: str
) -> tuple[Any, list[str], Any]:
    """Split the ID column off the features: (features without it, their names, the IDs or None)."""
    from headkit.exceptions import DataError

    if id_column is None:
        return features, names, None
    if id_column not in names:
        raise DataError(
            f"--id-column {id_column!r} is not a column of {data}; its columns are "
            f"{', '.join(names[:10])}."
        )
    import pandas as pd

    frame = (
        features if isinstance(features, pd.DataFrame) else pd.DataFrame(features, columns=names)
    )
    kept = [n for n in names if n != id_column]
    return frame.drop(columns=[id_column]), kept, frame[id_column]


OOD_METHODS = ("msp", "max_logit", "energy", "mahalanobis")


def load_unlabelled(
    source: str, target: str | None, model: Any = None, read: Any = None
) -> tuple[Any, list[str]]:
    """Features of a file or built-in data set (label column dropped if present), model order."""
    from headkit.data.readers import is_table_file

    keep_target = target if is_table_file(Path(source).name) else None
    X, _, names = load_data(source, keep_target, False, model, read)
    return X, names


def ood_report(
    saved: Any, X_in: Any, in_names: list[str], X_out: Any, out_names: list[str]
) -> dict[str, dict[str, float]]:
    """Return the detection metrics of every OOD score the saved run has, in vs out rows."""
    from headkit.evaluation import ood_metrics

    methods = [m for m in OOD_METHODS if m != "mahalanobis" or saved.detector is not None]
    return {
        m: ood_metrics(saved.ood_score(X_in, m, in_names), saved.ood_score(X_out, m, out_names))
        for m in methods
    }


def ood_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    """Print AUROC, AUPR-in, AUPR-out and FPR@95 per OOD score."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    keys = ["auroc", "aupr", "aupr_out", "fpr95"]
    for column in ["score", *keys]:
        table.add_column(column, justify="left" if column == "score" else "right")
    for name, values in rows.items():
        table.add_row(name, *(f"{values[k]:.4f}" for k in keys))
    Console().print(table)


def column_roles(run: Path) -> dict[str, str]:
    """Each input column's encoding, read from the run's table preprocessing (JSON only)."""
    from headkit.io import PREPROCESSING

    file = run / PREPROCESSING
    if not file.is_file():
        return {}
    from headkit.data.preprocessing import TablePreprocessor

    return TablePreprocessor.from_dict(json.loads(file.read_text())).column_roles()


@dataclass
class Predicted:
    """What ``headkit predict`` computed: classes, probabilities (N, C), ID column, extras."""

    classes: Any
    proba: Any
    ids: Any
    multilabel: bool
    uncertainty: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # more output columns (--ood-score)
    empty: Any = None  # (N,) bool for a table model: rows with every cell empty or unknown


def _empty_rows(preprocessor: Any, X: Any, names: list[str]) -> Any:
    if preprocessor is None:
        return None
    import pandas as pd

    return preprocessor.empty_rows(X if hasattr(X, "columns") else pd.DataFrame(X, columns=names))


def saved_prediction(
    run: Path,
    data: str,
    target: str | None,
    id_column: str | None,
    mc_samples: int | None = None,
    ood_score: str | None = None,
    read: Any = None,
    conformal: float | None = None,
    early_exit: float | None = None,
    conformal_method: str = "aps",
) -> Predicted:
    """Predict with :class:`headkit.inference.saved_model.SavedModel`, the one road from a run.

    The engine follows one rule (NumPy where it covers the network, else torch); MC dropout and
    OOD scores run the torch network, loaded only when asked for.
    """
    from headkit.inference.saved_model import SavedModel

    saved = SavedModel.load(run, engine="auto")
    rows = load_unlabelled(data, target or saved.metadata.get("target"), read=read)
    X, names, ids = pop_id_column(*rows, id_column, data)
    uncertainty, depth = None, None
    if early_exit is not None:
        if mc_samples is not None:
            from headkit.exceptions import ConfigError

            raise ConfigError("--early-exit and --mc-samples cannot be combined; give one.")
        proba, depth = saved.predict_early_exit(X, early_exit, names)
    elif mc_samples is not None and mc_samples > 1:
        uncertainty = saved.predict_uncertainty(X, mc_samples, names)
        proba = uncertainty["proba"].astype("float64")
    else:
        proba = saved.predict_proba(X, names)
    table = None
    if saved.preprocessing is not None:
        from headkit.data.preprocessing import TablePreprocessor

        table = TablePreprocessor.from_dict(saved.preprocessing)
    found = Predicted(saved.classes, proba, ids, saved.multilabel, uncertainty,
                      empty=_empty_rows(table, X, names))  # fmt: skip
    if depth is not None:
        found.extra["exit_depth"] = depth
    if ood_score is not None:
        found.extra[f"ood_{ood_score}"] = saved.ood_score(X, ood_score, names)
    if conformal is not None:
        import numpy as np

        sets = saved.predict_set(X, conformal, conformal_method, names=names)
        labels = np.asarray([str(c) for c in saved.classes])
        found.extra["set"] = ["|".join(labels[row]) for row in sets]
        found.extra["set_size"] = sets.sum(axis=1)
    return found
