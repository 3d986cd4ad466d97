"""Every registered head, output map and dropout kind, by the registry's own names: a new entry is tested here
without editing a list. The skip sets say why a name cannot run this generic check."""

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit.nn import DROPOUTS, HEADS, OUTPUTS

# Heads that need more than (in_features, n_classes) before a forward pass.
HEAD_SKIPS = {
    "knn": "class memories are filled from the training rows by the trainer",
    "ncm": "class means are filled from the training rows by the trainer",
}
# Output maps whose rows are not a distribution: per-class probabilities, or mass kept back for
# "none of these" (softmax₁).
PER_CLASS = {"sigmoid", "softmax1"}


@pytest.mark.parametrize("name", [n for n in HEADS.names() if n not in HEAD_SKIPS])
def test_every_head_maps_features_to_logits(name):
    torch.manual_seed(0)
    head = HEADS.build(name, in_features=8, n_classes=5).eval()
    x = torch.randn(4, 8)
    with torch.no_grad():
        logits = head(x)
    assert logits.shape == (4, 5) and torch.isfinite(logits).all()
    for option, default in HEADS.defaults(name, ("in_features", "n_classes")).items():
        value = getattr(head, option, None)
        if isinstance(default, int | float) and isinstance(value, int | float):
            assert value == pytest.approx(default), option  # the option the head was built with


@pytest.mark.parametrize("name", OUTPUTS.names())
def test_every_output_map_gives_probabilities_and_their_logs(name):
    torch.manual_seed(0)
    output = OUTPUTS.build(name, n_classes=5).eval()
    logits = torch.randn(6, 5, dtype=torch.float64) * 3
    with torch.no_grad():
        p = output(logits.float()).double()
        log_p = output.log_prob(logits.float()).double()
    assert ((p >= 0) & (p <= 1)).all()
    if name not in PER_CLASS:
        torch.testing.assert_close(p.sum(-1), torch.ones(6, dtype=torch.float64), atol=1e-5, rtol=0)
    finite = torch.isfinite(log_p)
    assert (p[~finite] == 0).all()  # -inf only at exact zeros (sparse maps)
    torch.testing.assert_close(log_p[finite].exp(), p[finite], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", DROPOUTS.names())
def test_every_dropout_kind_trains_saves_and_predicts_deterministically(name, blobs_data, tmp_path):
    X, y, X_test, _ = blobs_data
    model = HeadClassifier(hidden_sizes=(16, 16), dropout=name, epochs=2, random_state=0)
    model.fit(X, y)
    proba = model.predict_proba(X_test)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(model.predict_proba(X_test), proba)  # eval mode: no masks
    model.save(tmp_path / "m")
    loaded = HeadClassifier.load(tmp_path / "m")
    assert loaded.get_params()["dropout"] == name
    np.testing.assert_array_equal(loaded.predict_proba(X_test), proba)
