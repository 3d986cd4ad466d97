import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from headkit.evaluation import (
    accuracy,
    brier_score,
    classification_report,
    confusion_matrix,
    f1,
    negative_log_likelihood,
    precision_recall,
    top_k_accuracy,
)
from headkit.exceptions import DataError


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 5))
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = rng.integers(0, 5, 200)
    return y, proba


def test_accuracy_counts_by_hand(case):
    y, p = case
    hand = sum(int(np.argmax(p[i]) == y[i]) for i in range(len(y))) / len(y)
    assert accuracy(y, p) == pytest.approx(hand)
    assert accuracy(torch.as_tensor(y), torch.as_tensor(p)) == pytest.approx(hand)
    assert accuracy(y, p.argmax(1)) == pytest.approx(hand)


def test_top_k_by_hand(case):
    y, p = case
    for k in (1, 2, 3):
        hand = np.mean([y[i] in np.argsort(-p[i])[:k] for i in range(len(y))])
        assert top_k_accuracy(y, p, k=k) == pytest.approx(hand)
    assert top_k_accuracy(y, p, k=5) == 1.0


def test_f1_and_precision_recall_match_sklearn(case):
    y, p = case
    pred = p.argmax(1)
    assert f1(y, p, "macro") == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert f1(y, p, "micro") == pytest.approx(accuracy(y, p))  # micro-F1 = accuracy
    pr = precision_recall(y, p)
    for c in range(5):
        tp = np.sum((pred == c) & (y == c))
        assert pr["precision"][c] == pytest.approx(tp / max(np.sum(pred == c), 1))
        assert pr["recall"][c] == pytest.approx(tp / np.sum(y == c))


def test_confusion_matrix_by_loop(case):
    y, p = case
    cm = confusion_matrix(y, p)
    hand = np.zeros((5, 5), int)
    for t, q in zip(y, p.argmax(1), strict=True):
        hand[t, q] += 1
    np.testing.assert_array_equal(cm, hand)
    # absent classes still get a row when scores say how many there are
    assert confusion_matrix([0, 0], np.array([[1.0, 0, 0], [0, 1.0, 0]])).shape == (3, 3)


def test_nll_and_brier_match_sklearn(case):
    y, p = case
    assert negative_log_likelihood(y, p) == pytest.approx(
        skm.log_loss(y, p, labels=range(5)), rel=1e-9
    )
    hand = np.mean([np.sum((p[i] - np.eye(5)[y[i]]) ** 2) for i in range(len(y))])
    assert brier_score(y, p) == pytest.approx(hand)
    assert brier_score([0], np.array([[1.0, 0.0]])) == 0.0
    assert brier_score([0], np.array([[0.0, 1.0]])) == 2.0


def test_classification_report_keys_and_names(case):
    y, p = case
    rep = classification_report(y, p, class_names=list("abcde"))
    assert set(rep["per_class"]) == set("abcde")
    assert rep["accuracy"] == pytest.approx(accuracy(y, p))
    assert rep["per_class"]["c"]["support"] == int(np.sum(y == 2))
    assert rep["top_k"] == 5 and rep["top_k_accuracy"] == 1.0


def test_bad_inputs_raise():
    with pytest.raises(DataError, match="rows"):
        accuracy([0, 1, 2], np.ones((2, 3)))
    with pytest.raises(DataError, match="columns"):
        brier_score([5], np.ones((1, 3)) / 3)
    with pytest.raises(DataError, match="NaN"):
        negative_log_likelihood([0], np.array([[np.nan, 1.0]]))
