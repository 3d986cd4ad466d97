"""The ``headkit explain RUN DATA`` command: rank the raw input columns (catalogue J13).

Registered on the ``headkit`` app by :mod:`headkit.cli.app`; imports its heavy parts only when run.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from headkit.cli.inputs import LabelledData, RunArg, Target


def explain(
    run: RunArg,
    data: LabelledData,
    target: Target = None,
    repeats: Annotated[int, typer.Option(help="Shuffles per column.", min=1)] = 5,
    scoring: Annotated[
        str | None,
        typer.Option(help="A scikit-learn scorer name (default: accuracy), e.g. neg_log_loss."),
    ] = None,
    top: Annotated[int | None, typer.Option(help="Show only the first N columns.", min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the ranking as JSON.")] = False,
) -> None:
    """Rank the input columns: permutation importance (mean ± std over repeats) and normalised MI."""
    import numpy as np

    from headkit.cli.inputs import load_data
    from headkit.estimator.classifier import HeadClassifier
    from headkit.evaluation.importance import feature_ranking
    from headkit.runs import feature_frame

    if scoring is not None:
        from sklearn.metrics import get_scorer, get_scorer_names

        from headkit.exceptions import ConfigError

        if scoring not in get_scorer_names():
            raise ConfigError(
                f"Unknown scoring {scoring!r}; use a scikit-learn scorer name such as accuracy, "
                "balanced_accuracy or neg_log_loss."
            )
        get_scorer(scoring)
    model = HeadClassifier.load(run)
    target = target or model.model_.metadata.get("target")
    X, y, names = load_data(data, target, True, model)
    y = np.asarray(y)
    if model.classes_.dtype.kind in "iub" and y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
        y = y.astype(model.classes_.dtype)
    ranking = feature_ranking(model, feature_frame(X, names), y, n_repeats=repeats, scoring=scoring)
    if top is not None:
        ranking = ranking.head(top)
    if as_json:
        typer.echo(json.dumps(ranking.to_dict(orient="records"), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"headkit explain · {data}")
    for column in ("feature", "permutation importance", "± std", "normalised MI", "raw MI"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for row in ranking.itertuples(index=False):
        table.add_row(str(row.feature), f"{row.permutation_importance:.4f}",
                      f"{row.permutation_std:.4f}", f"{row.normalised_mi:.4f}",
                      f"{row.raw_mi:.4f}")  # fmt: skip
    Console().print(table)
