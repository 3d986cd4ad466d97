"""Helpers of the ``headkit`` commands: reading data, ID columns, tables printed.

Nothing heavy is imported at module level, so ``headkit --help`` stays fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def load_data(source: str, target: str | None, require_target: bool, model: Any = None):
    """Return (X, y or None, feature_names) from a file, or a built-in data set's test split.

    With a ``model``, the columns are matched to its training columns by name (any order).
    """
    from headkit.data import DATASETS, load_dataset, load_table
    from headkit.runs.predict import align_columns

    path = Path(source)
    name = source.split(":", 1)[0].lower()
    if not path.exists() and name in DATASETS:
        data = load_dataset(source)
        X, y, names = data.X_test, data.y_test, data.feature_names
    else:
        table = load_table(path, target, require_target=require_target)
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


def load_unlabelled(source: str, target: str | None, model: Any = None) -> tuple[Any, list[str]]:
    """Features of a file or built-in data set (label column dropped), in the model's order."""
    path = Path(source)
    keep_target = None
    suffix = path.suffix.lower()
    if target is not None and suffix in (".csv", ".tsv", ".parquet", ".pq") and path.is_file():
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            columns = pq.read_schema(path).names  # the header only, not the data
        else:
            import pandas as pd

            columns = pd.read_csv(path, nrows=0, sep="\t" if suffix == ".tsv" else ",").columns
        keep_target = target if target in columns else None
    X, _, names = load_data(source, keep_target, False, model)
    return X, names


def ood_report(model: Any, X_in: Any, X_out: Any) -> dict[str, dict[str, float]]:
    """Return the detection metrics of every OOD score the model has, in vs out rows."""
    from headkit.evaluation import ood_metrics

    methods = [m for m in OOD_METHODS if m != "mahalanobis" or model.ood_detector_ is not None]
    return {
        m: ood_metrics(model.ood_score(X_in, method=m), model.ood_score(X_out, method=m))
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
    file = run / "preprocessing.json"
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
    features: Any = None  # the estimator path's rows (for --ood-score)


def lean_prediction(run: Path, data: str, target: str | None, id_column: str | None) -> Predicted:
    """Predict with :class:`headkit.inference.saved_model.SavedModel` (no torch when the network is plain)."""
    from headkit.inference.saved_model import SavedModel

    saved = SavedModel.load(run, engine="auto")
    rows = load_unlabelled(data, target or saved.metadata.get("target"))
    X, names, ids = pop_id_column(*rows, id_column, data)
    return Predicted(saved.classes, saved.predict_proba(X, names), ids, saved.multilabel)


def estimator_prediction(
    model: Any, data: str, target: str | None, id_column: str | None, mc_samples: int | None
) -> Predicted:
    """Predict with a loaded estimator (MC dropout with ``mc_samples``)."""
    from headkit.runs import feature_frame
    from headkit.runs.predict import align_columns

    rows = load_unlabelled(data, target or model.model_.metadata.get("target"))
    X, names, ids = pop_id_column(*rows, id_column, data)
    X, names = align_columns(X, names, model, data)
    features = feature_frame(X, names)
    multilabel = bool(getattr(model, "multilabel_", False))
    if mc_samples is None:
        return Predicted(model.classes_, model.predict_proba(features), ids, multilabel,
                         features=features)  # fmt: skip
    uncertainty = model.predict_uncertainty(features, mc_samples=mc_samples)
    return Predicted(model.classes_, uncertainty["proba"], ids, multilabel, uncertainty, features)
