"""The HTML report: one self-contained page plus PNG pictures beside it, no JavaScript.

``write_report(run_dir, X, y, X_ood=...)`` loads a run written by ``headkit train``, computes
the measures (:mod:`headkit.report.collect`), draws the pictures (:mod:`headkit.report.plots`)
and writes ``RUN_DIR/report/index.html`` with the PNGs next to it, referenced by relative
paths, so the folder opens offline and can be copied or zipped as a whole.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from headkit.report import diagnostics_section, nested_section, plots
from headkit.report.collect import ReportInputs, collect

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: .5em 0 1.5em; } img { max-width: 100%; border: 1px solid #eee; }
figcaption, .note { color: #555; font-size: .92em; }
.warn { background: #fff4e5; border-left: 4px solid #e8a33d; padding: .4em .8em; }
nav { background: #f7f7f7; border: 1px solid #ddd; padding: .3em 1em; display: inline-block; }
nav ol { margin: .3em 0; padding-left: 1.4em; }
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "–" if not np.isfinite(value) else f"{value:.4f}"
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(name: str, caption: str) -> str:
    return (
        f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


CAPTIONS = {
    "training_curves.png": "Loss, validation accuracy and learning rate per epoch.",
    "confusion_matrix.png": "Confusion matrix: colour = share of the true class, numbers = counts.",
    "reliability.png": (
        "Reliability diagrams before and after temperature scaling, 15 equal-width confidence "
        "bins. In each bin the filled blue bar is the accuracy of its rows and the orange "
        "outline beside it their mean confidence: outline above the blue bar = overconfident, "
        "below = underconfident, both on the dashed diagonal = calibrated. The grey strip "
        "counts the rows per bin."
    ),
    "confidence.png": "Top-class probability of correct and wrong predictions.",
    "ood_histograms.png": "Score distributions of in-distribution and OOD rows.",
    "ood_roc.png": "ROC curves; the dashed line marks 95 % true-positive rate.",
    "collapse.png": (
        "NC1–NC4 on the training split per epoch: NC1–NC3 fall and NC4 rises towards 1 as "
        "features collapse."
    ),
    "cka.png": "Linear CKA between the standardised input, every Dense block and the logits.",
    "redundancy.png": (
        "Block redundancy 1 − cos(input, output): the lowest blocks are the first to try "
        "with HeadNet.drop_blocks."
    ),
}
NOTES = {
    "misclassification": (
        "Correct predictions are the positive class; every score is higher for more "
        "confident inputs."
    ),
    "dropped": (
        "Accuracy on the evaluation rows after removing blocks with HeadNet.drop_blocks, "
        "most redundant first, i.e. lowest 1 − cos (only blocks whose input and output widths agree)."
    ),
    "block_scores": (
        "Block importance by three criteria (headkit.evaluation.block_importance): cosine = "
        "1 − mean cos(in, out), angular = mean angle/π in [0, 1], l2 = relative change of the "
        "activation norm (small = a void block). Low = the block barely changes its input; "
        "– where a block changes the width."
    ),
    "ood": (
        "In-distribution rows are the positive class; FPR@95%TPR is the share of OOD rows "
        "accepted when 95 % of in-distribution rows are."
    ),
}
SUMMARY_KEYS = ("accuracy", "top_k_accuracy", "macro_f1", "micro_f1", "nll", "brier", "ece", "mce")


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def render_report(inputs: ReportInputs, out_dir: str | Path) -> Path:
    """Draw every picture ``inputs`` has data for and write ``out_dir/index.html``; return it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections: list[str] = []
    for section in (
        _training,
        _metrics,
        _calibration,
        _detection,
        _collapse,
        _layers,
        _features,
        _nested,
        _diagnostics,
    ):
        sections += section(inputs, out)
    contents, sections = table_of_contents(sections)
    parts = [f"<h1>{html.escape(inputs.title)}</h1>", *(_note(n) for n in inputs.notes)]
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(inputs.title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join([*parts, contents, *sections])
        + "\n</body></html>\n"
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def table_of_contents(parts: list[str]) -> tuple[str, list[str]]:
    """Give every ``<h2>`` in ``parts`` an id; return a linked contents list and the new parts."""
    import re

    entries, out = [], []
    for part in parts:
        found = re.fullmatch(r"<h2>(.*)</h2>", part, flags=re.S)
        if found is None:
            out.append(part)
            continue
        anchor = f"section-{len(entries) + 1}"
        entries.append(f'<li><a href="#{anchor}">{found.group(1)}</a></li>')
        out.append(f'<h2 id="{anchor}">{found.group(1)}</h2>')
    if not entries:
        return "", out
    return f"<nav><b>Contents</b><ol>{''.join(entries)}</ol></nav>", out


def _figure_of(name: str) -> str:
    return _figure(name, CAPTIONS[name])


def _training(inputs: ReportInputs, out: Path) -> list[str]:
    if inputs.history is None:
        return []
    plots.training_curves(inputs.history, out / "training_curves.png")
    parts = ["<h2>Training</h2>", _figure_of("training_curves.png")]
    warning = overconfidence_note(inputs.history)
    return parts if warning is None else [*parts, f'<p class="warn">{html.escape(warning)}</p>']


def overconfidence_note(history: dict[str, np.ndarray], rise: float = 1.5) -> str | None:
    """A sentence when the validation loss climbs while validation accuracy holds; else None.

    "Climbs" is the last validation loss at ``rise`` × its lowest or above (and 0.05 higher);
    "holds" is the last validation accuracy within 0.01 of its value at that lowest epoch. The
    Softmax Collapse detector uses the same rise.
    """
    loss = np.asarray(history.get("val_loss", []), float)
    acc = np.asarray(history.get("val_accuracy", []), float)
    epoch = np.asarray(history["epoch"], float)
    seen = np.flatnonzero(np.isfinite(loss) & np.isfinite(acc)) if len(acc) == len(loss) else []
    if len(seen) < 2:
        return None
    best, last = seen[np.argmin(loss[seen])], seen[-1]
    if loss[last] < rise * loss[best] or loss[last] - loss[best] <= 0.05:
        return None
    if acc[last] < acc[best] - 0.01:
        return None
    return (
        f"The validation loss climbed from {loss[best]:.3g} (epoch {epoch[best]:.0f}) to "
        f"{loss[last]:.3g} (epoch {epoch[last]:.0f}) while validation accuracy held "
        f"({acc[best]:.3f} → {acc[last]:.3f}): the network grew overconfident, and its wrong "
        "answers ever more certain. Early stopping on the loss (patience with "
        f"monitor='val_loss') would keep the epoch-{epoch[best]:.0f} weights; temperature "
        "scaling (calibrate), more weight decay or label smoothing soften the probabilities "
        "(see Calibration)."
    )


def _metrics(inputs: ReportInputs, out: Path) -> list[str]:
    m = inputs.metrics
    if m is None:
        return []
    where = html.escape(inputs.data_name or "the evaluation data")
    label = {"top_k_accuracy": f"top-{m['top_k']} accuracy", "nll": "NLL", "ece": "ECE",
             "mce": "MCE", "macro_f1": "macro F1", "micro_f1": "micro F1"}  # fmt: skip
    rows = [(label.get(k, k), m[k]) for k in SUMMARY_KEYS] + [("rows", m["n_samples"])]
    per = [
        (c, v["precision"], v["recall"], v["f1"], v["support"]) for c, v in m["per_class"].items()
    ]
    plots.confusion_matrix(inputs.confusion, inputs.class_names, out / "confusion_matrix.png")
    return [
        f"<h2>Metrics on {where}</h2>",
        _table(["measure", "value"], rows),
        _table(["class", "precision", "recall", "F1", "support"], per),
        _figure_of("confusion_matrix.png"),
    ]


def _calibration(inputs: ReportInputs, out: Path) -> list[str]:
    if not inputs.reliability:
        return []
    plots.reliability_diagrams(inputs.reliability, inputs.eces, out / "reliability.png")
    plots.confidence_histogram(inputs.confidence, inputs.correct, out / "confidence.png")
    return [
        "<h2>Calibration</h2>",
        _note(inputs.calibration_note),
        _table(["", "ECE (15 equal-width bins)"], inputs.eces.items()),
        _figure_of("reliability.png"),
        _figure_of("confidence.png"),
    ]


def _detection(inputs: ReportInputs, out: Path) -> list[str]:
    parts = []
    if inputs.misclassification:
        parts += ["<h2>Misclassification detection</h2>", _note(NOTES["misclassification"])]
        rows = [(k, v["auroc"], v["aupr"], v["fpr95"]) for k, v in inputs.misclassification.items()]
        parts.append(_table(["score", "AUROC", "AUPR", "FPR@95%TPR"], rows))
    if inputs.ood:
        parts.append(f"<h2>Out-of-distribution: {html.escape(inputs.ood_name or 'OOD data')}</h2>")
        parts.append(_note(NOTES["ood"]))
        rows = [
            (k, v["auroc"], v["aupr"], v["aupr_out"], v["fpr95"]) for k, v in inputs.ood.items()
        ]
        parts.append(_table(["score", "AUROC", "AUPR-in", "AUPR-out", "FPR@95%TPR"], rows))
        plots.ood_histograms(inputs.ood_in, inputs.ood_out, out / "ood_histograms.png")
        aurocs = {k: v["auroc"] for k, v in inputs.ood.items()}
        plots.roc_curves(inputs.ood_in, inputs.ood_out, aurocs, out / "ood_roc.png")
        parts += [_figure_of("ood_histograms.png"), _figure_of("ood_roc.png")]
    return parts


def _collapse(inputs: ReportInputs, out: Path) -> list[str]:
    h = inputs.history
    if h is None or not any(c in h for c in plots.NC_COLUMNS):
        return []
    plots.collapse_curves(h, out / "collapse.png")
    return ["<h2>Neural collapse</h2>", _figure_of("collapse.png")]


def _layers(inputs: ReportInputs, out: Path) -> list[str]:
    if inputs.cka is None:
        return []
    plots.cka_heatmap(inputs.cka, inputs.layer_names, out / "cka.png")
    parts = ["<h2>Layers</h2>", _figure_of("cka.png")]
    if inputs.block_names and inputs.redundancy is not None:
        plots.redundancy_bars(inputs.redundancy, inputs.block_names, out / "redundancy.png")
        parts.append(_figure_of("redundancy.png"))
    if inputs.block_names and inputs.block_scores:
        names = list(inputs.block_scores)
        rows = [
            (block, *(inputs.block_scores[k][i] for k in names))
            for i, block in enumerate(inputs.block_names)
        ]
        parts += [_note(NOTES["block_scores"]), _table(["block", *names], rows)]
    if len(inputs.dropped) > 1:
        parts += [_note(NOTES["dropped"]), _table(["blocks removed", "accuracy"], inputs.dropped)]
    return parts


def _features(inputs: ReportInputs, out: Path) -> list[str]:
    ranking = inputs.feature_ranking
    if ranking is None or not len(ranking):
        return []
    rows = [
        [r.feature, r.permutation_importance, r.permutation_std, r.normalised_mi]
        for r in ranking.head(25).itertuples(index=False)
    ]
    note = (
        "Permutation importance: the drop in accuracy when one input column is shuffled (mean "
        "± std over 3 shuffles; 0 for an input the model ignores). Normalised MI: mutual "
        "information with the label minus its value for shuffled copies of the column (≈ 0 for "
        "a random many-valued column). Top 25 columns; `headkit explain RUN DATA` lists all."
    )
    header = ["column", "permutation importance", "± std", "normalised MI"]
    return ["<h2>Input columns</h2>", _note(note), _table(header, rows)]


def _nested(inputs: ReportInputs, out: Path) -> list[str]:
    return nested_section.render_section(inputs.nested_curve, inputs.nested_width, out, _fmt)


def _diagnostics(inputs: ReportInputs, out: Path) -> list[str]:
    return diagnostics_section.render_section(inputs.diagnostics, inputs.history, out, _fmt)


def write_report(
    run_dir: str | Path,
    X: Any = None,
    y: Any = None,
    X_ood: Any = None,
    *,
    out_dir: str | Path | None = None,
    data_name: str = "",
    ood_name: str = "",
) -> Path:
    """Write the HTML report of a run directory and return the path of ``index.html``.

    Parameters
    ----------
    run_dir : path
        A directory written by ``headkit train`` (or :meth:`HeadClassifier.save`).
    X, y : array-like, optional
        Labelled evaluation data; without them only the training (and collapse) curves appear.
    X_ood : array-like, optional
        Out-of-distribution rows for the OOD section.
    out_dir : path, optional
        Where to write (default ``run_dir/report``).
    """
    import pandas as pd

    from headkit.estimator.classifier import HeadClassifier

    run = Path(run_dir)
    estimator = HeadClassifier.load(run)
    from headkit.io import HISTORY

    history_file = run / HISTORY
    history = pd.read_csv(history_file) if history_file.is_file() else None
    title = f"headkit report · {data_set_name(estimator.model_.metadata.get('data')) or run.name}"
    inputs = collect(estimator, X, y, X_ood, history=history, data_name=data_name,
                     ood_name=ood_name, title=title)  # fmt: skip
    return render_report(inputs, out_dir if out_dir is not None else run / "report")


def data_set_name(data: Any) -> str:
    """The name of the data a run was trained on: a file's stem, or the built-in set's spec."""
    from headkit.data.loading import ARRAY_SUFFIXES
    from headkit.data.readers import is_table_file

    text = str(data or "")
    name = Path(text).name
    if not (is_table_file(name) or Path(name).suffix.lower() in ARRAY_SUFFIXES):
        return text
    stem = Path(name).stem
    return Path(stem).stem if is_table_file(stem) else stem  # data.csv.gz → data


def referenced_images(index: str | Path) -> list[str]:
    """Return the ``src`` of every ``<img>`` in a report page (for checks)."""
    import re

    return re.findall(r'<img src="([^"]+)"', Path(index).read_text(encoding="utf-8"))
