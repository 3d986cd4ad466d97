"""Input-feature ranking (catalogue J13)."""

import numpy as np
import pandas as pd
import pytest
import torch
from tests.plain import PLAIN

from headkit import HeadClassifier
from headkit.evaluation.importance import (
    feature_ranking,
    normalised_mutual_information,
    permutation_importance,
)


def test_random_high_cardinality_column_has_raw_mi_but_no_normalised_score():
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 3, n)
    X = pd.DataFrame(
        {
            "signal": y + rng.normal(0, 0.3, n),
            "id_like": rng.permutation(n).astype(str),  # 600 categories, unrelated to y
            "noise": rng.normal(size=n),
        }
    )
    out = normalised_mutual_information(X, y, n_permutations=20)
    mi = dict(zip(out["features"], out["mi"], strict=True))
    score = dict(zip(out["features"], out["score"], strict=True))
    assert mi["id_like"] > 0.5  # memorises y on a finite sample
    assert abs(score["id_like"]) < 0.02 and abs(score["noise"]) < 0.05
    assert score["signal"] > 0.5


def test_permutation_importance_of_an_unused_input_is_exactly_zero(blobs_data):
    X, y, X_test, y_test = blobs_data
    model = HeadClassifier(**PLAIN, hidden_sizes=(16,), epochs=10, random_state=0).fit(X, y)
    with torch.no_grad():
        model.model_.trunk.blocks[0].linear.weight[:, 2] = 0.0  # the network ignores input 2
    out = permutation_importance(model, X_test, y_test, n_repeats=4)
    assert out["mean"][2] == 0.0 and out["std"][2] == 0.0
    assert out["mean"].max() > 0.05 and out["repeats"].shape == (5, 4)


def test_table_columns_are_ranked_under_their_own_names():
    rng = np.random.default_rng(1)
    n = 400
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(
        {
            "colour": np.where(y == 1, "red", "blue"),
            "size": rng.normal(size=n),
            "shop": rng.choice(["a", "b", "c"], n),
        }
    )
    model = HeadClassifier(**PLAIN, hidden_sizes=(8,), epochs=10, random_state=0).fit(X, y)
    ranking = feature_ranking(model, X, y, n_repeats=3)
    assert ranking.loc[0, "feature"] == "colour"
    assert set(ranking["feature"]) == {"colour", "size", "shop"}
    assert ranking.loc[0, "permutation_importance"] > 0.3
    assert ranking.set_index("feature").loc["colour", "normalised_mi"] == pytest.approx(
        np.log(2), abs=0.05
    )
