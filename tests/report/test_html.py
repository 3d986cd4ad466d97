"""The HTML report: every picture present and referenced, no JavaScript, numbers that match."""

import itertools
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from headkit import HeadClassifier
from headkit.report import collect, referenced_images, render_report


class PageParser(HTMLParser):
    """Collect what a self-contained, script-free page may and may not contain."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.handlers: list[str] = []
        self.cells: list[list[str]] = []
        self._row: list[str] | None = None
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.handlers += [k for k in a if k.startswith("on")]
        if tag == "img":
            self.images.append(a["src"] or "")
        if tag in ("a", "link") and a.get("href"):
            self.links.append(a["href"] or "")
        if tag in ("script", "iframe", "object", "embed"):
            self.scripts += 1
        if tag == "tr":
            self._row = []
            self.cells.append(self._row)
        if tag in ("td", "th"):
            self._in_cell = True
            assert self._row is not None
            self._row.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell and self._row is not None:
            self._row[-1] += data


def parse(index: Path) -> PageParser:
    parser = PageParser()
    parser.feed(index.read_text(encoding="utf-8"))
    return parser


def assert_real_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.width >= 300 and im.height >= 200, (path, im.size)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 20, f"{path.name} looks blank"


def test_full_report_has_every_picture_and_each_exists(report_run):
    pictures = report_run.pictures
    page = parse(report_run.report)
    assert set(page.images) == pictures
    assert len(page.images) == len(pictures)  # each drawn once
    for name in page.images:
        assert not Path(name).is_absolute() and ".." not in name
        assert_real_png(report_run.report.parent / name)
    assert sorted(referenced_images(report_run.report)) == sorted(page.images)


def test_page_is_self_contained_and_has_no_javascript(report_run):
    text = report_run.report.read_text(encoding="utf-8")
    page = parse(report_run.report)
    assert page.scripts == 0 and page.handlers == []
    assert "javascript:" not in text.lower()
    assert not re.search(r"(src|href)\s*=\s*[\"'](https?:)?//", text), "external resource"
    assert "url(" not in text  # no CSS pulling fonts or images from anywhere
    assert page.links and all(link.startswith("#") for link in page.links)  # contents only


def test_train_report_has_collapse_and_calibration_but_no_ood(report_run):
    page = parse(report_run.train_report)
    pictures = report_run.pictures
    expected = pictures - {"ood_histograms.png", "ood_roc.png"}
    assert set(page.images) == expected
    for name in page.images:
        assert (report_run.train_report.parent / name).is_file()
    text = report_run.train_report.read_text(encoding="utf-8")
    assert "fitted on the validation split during training" in text


def _row(page: PageParser, first: str, after_header: str) -> list[str]:
    """The table row starting with ``first`` in the table whose header contains ``after_header``."""
    start = next(i for i, r in enumerate(page.cells) if after_header in r)
    return next(r for r in page.cells[start:] if r and r[0] == first)


def test_page_numbers_match_an_independent_computation(report_run):
    features = list(report_run.features)
    model = HeadClassifier.load(report_run.run)
    test = pd.read_csv(report_run.test_csv)
    X_in, y = test[features], test["digit"].to_numpy()
    X_out = pd.read_csv(report_run.ood_csv)[features]
    page = parse(report_run.report)
    # OOD table: AUROC of energy and Mahalanobis = sklearn on the model's own scores
    for score in ("energy", "mahalanobis", "msp"):
        s_in, s_out = model.ood_score(X_in, score), model.ood_score(X_out, score)
        auroc = roc_auc_score(np.r_[np.ones(len(s_in)), np.zeros(len(s_out))], np.r_[s_in, s_out])
        assert _row(page, score, "AUPR-out")[1] == f"{auroc:.4f}"
    # metrics table: accuracy by hand
    accuracy = np.mean(model.predict(X_in) == y)
    assert _row(page, "accuracy", "measure")[1] == f"{accuracy:.4f}"
    # calibration table: ECE of the untempered softmax, 15 equal-width bins, written as a loop
    z = model.logits(X_in).astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    conf, hit = p.max(1), (p.argmax(1) == y)
    ece = 0.0
    for b in range(15):
        lo, hi = b / 15, (b + 1) / 15
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(hit[inside].mean() - conf[inside].mean())
    assert float(_row(page, "before (T = 1)", "ECE (15 equal-width bins)")[1]) == pytest.approx(
        ece, abs=6e-5
    )


def test_sections_follow_the_data_given(report_run, tmp_path):
    features, pictures = list(report_run.features), report_run.pictures
    model = HeadClassifier.load(report_run.run)
    history = pd.read_csv(report_run.run / "history.csv")
    test = pd.read_csv(report_run.test_csv)
    # no evaluation data: training curves (and collapse, which lives in the history) only
    only_history = render_report(collect(model, history=history), tmp_path / "a")
    history_pictures = {"training_curves.png", "collapse.png", "diagnostics_history.png"}
    assert set(parse(only_history).images) == history_pictures
    assert "No evaluation data" in only_history.read_text(encoding="utf-8")
    # history without NC columns: no collapse picture
    plain = history.drop(columns=[c for c in history if c.startswith("nc")])
    inputs = collect(model, test[features], test["digit"], history=plain)
    index = render_report(inputs, tmp_path / "b")
    names = set(parse(index).images)
    assert names == pictures - {"collapse.png", "ood_histograms.png", "ood_roc.png"}
    assert {p.name for p in (tmp_path / "b").glob("*.png")} == names  # nothing stray written


def test_uncalibrated_model_fits_temperature_on_half_of_the_rows(report_run):
    features = list(report_run.features)
    data = pd.read_csv(report_run.test_csv)
    model = HeadClassifier(hidden_sizes=(16,), epochs=5, random_state=0, validation_fraction=0.0)
    model.fit(data[features], data["digit"])
    inputs = collect(model, data[features], data["digit"])
    assert "fitted here on a random half" in inputs.calibration_note
    (before, after) = inputs.reliability
    assert before == "before (T = 1)" and after.startswith("after (T = ")
    n_half = len(data) - len(data) // 2
    assert int(inputs.reliability[before].count.sum()) == n_half


def test_accuracy_with_blocks_dropped_matches_drop_blocks(report_run):
    import torch

    features = list(report_run.features)
    model = HeadClassifier.load(report_run.run)
    test = pd.read_csv(report_run.test_csv)
    y = np.searchsorted(model.classes_, test["digit"].to_numpy())
    page = parse(report_run.report)
    start = next(i for i, r in enumerate(page.cells) if r == ["blocks removed", "accuracy"])
    rows = dict(page.cells[start + 1 : start + 3])
    # 64 → 32 → 32: only the second block keeps its width, so it is the one that can go
    assert set(rows) == {"none", "block 2"}
    assert rows["none"] == f"{np.mean(model.predict(test[features]) == test['digit']):.4f}"
    smaller = model.model_.drop_blocks([1]).eval()
    assert len(smaller.trunk.blocks) == 1
    with torch.no_grad():
        inputs = torch.as_tensor(model.network_input(test[features]))  # constant pixels dropped
        pred = smaller(inputs).argmax(1).numpy()
    assert rows["block 2"] == f"{np.mean(pred == y):.4f}"


def test_report_names_the_network_and_its_depth_width_ratio(report_run, tmp_path):
    model = HeadClassifier.load(report_run.run)
    page = render_report(collect(model), tmp_path / "n").read_text(encoding="utf-8")
    sizes = model.model_.config.hidden_sizes
    ratio = sum(1 / w for w in sizes)  # Σ 1/n_l, written out
    assert f"depth/width ratio Σ 1/n = {ratio:.4f}" in page
    assert " → ".join(map(str, sizes)) in page


def test_title_names_the_data_set_not_the_staging_folder(report_run):
    """``train --report`` wrote into a staging folder named ``result`` (issue 25)."""
    for index in (report_run.train_report, report_run.report):
        text = index.read_text(encoding="utf-8")
        assert "<title>headkit report · train</title>" in text  # the run trained on train.csv
        assert "<h1>headkit report · train</h1>" in text and "· result" not in text


def test_contents_link_every_section(report_run):
    text = report_run.report.read_text(encoding="utf-8")
    anchors = re.findall(r'<h2 id="([^"]+)">', text)
    assert len(anchors) == text.count("<h2") >= 6
    assert re.findall(r'<li><a href="#([^"]+)">', text) == anchors
    assert text.index("<nav>") < text.index("<h2")


def _history(val_loss, val_accuracy):
    n = len(val_loss)
    return {"epoch": np.arange(1, n + 1.0), "train_loss": np.linspace(1, 0.01, n),
            "val_loss": np.asarray(val_loss, float), "val_accuracy": np.asarray(val_accuracy, float),
            "lr": np.full(n, 0.01)}  # fmt: skip


def test_a_climbing_validation_loss_with_steady_accuracy_gets_a_sentence():
    from headkit.report.html import overconfidence_note

    climbing = overconfidence_note(_history([0.9, 0.5, 1.2, 6.0], [0.90, 0.96, 0.96, 0.955]))
    assert climbing is not None
    assert "climbed from 0.5 (epoch 2) to 6 (epoch 4)" in climbing and "0.960 → 0.955" in climbing
    assert overconfidence_note(_history([0.9, 0.5, 0.45, 0.4], [0.9, 0.96, 0.96, 0.97])) is None
    assert (
        overconfidence_note(_history([0.9, 0.5, 6.0], [0.9, 0.96, 0.80])) is None
    )  # accuracy fell
    assert overconfidence_note(_history([0.9, 0.5, 0.7], [0.9, 0.96, 0.96])) is None  # 1.4×
    assert overconfidence_note(_history([np.nan] * 3, [np.nan] * 3)) is None  # no validation


def test_the_sentence_is_on_the_page(report_run, tmp_path):
    model = HeadClassifier.load(report_run.run)
    inputs = collect(model, history=_history([0.9, 0.5, 1.2, 6.0], [0.90, 0.96, 0.96, 0.96]))
    text = render_report(inputs, tmp_path / "o").read_text(encoding="utf-8")
    assert '<p class="warn">The validation loss climbed from 0.5' in text


def test_reliability_bars_never_overlap_and_the_legend_covers_none():
    """Accuracy and confidence side by side, one legend outside the axes (issue 25)."""
    from matplotlib.patches import Rectangle

    from headkit.evaluation.reliability import ReliabilityCurve
    from headkit.report.plots import reliability_figure

    edges = np.linspace(0, 1, 16)
    bins = np.array([3, 8, 12, 14])  # an underconfident bin (accuracy > confidence) among them
    curve = ReliabilityCurve(confidence=np.array([0.25, 0.55, 0.83, 0.97]),
                             accuracy=np.array([0.1, 0.7, 0.8, 0.99]), count=np.array([2, 5, 9, 80]),
                             lower=edges[bins], upper=edges[bins + 1])  # fmt: skip
    fig = reliability_figure({"before": curve, "after": curve}, {"before": 0.1, "after": 0.05})
    fig.canvas.draw()
    for ax in fig.axes[:2]:  # the two diagrams (the count strips follow)
        bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0]
        assert len(bars) == 2 * len(curve.count)
        boxes = sorted((b.get_x(), b.get_x() + b.get_width()) for b in bars)
        assert all(a[1] <= b[0] + 1e-12 for a, b in itertools.pairwise(boxes))
        assert ax.get_legend() is None
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert any("accuracy" in t for t in labels) and any("confidence" in t for t in labels)
    import matplotlib.pyplot as plt

    plt.close(fig)
