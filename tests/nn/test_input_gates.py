"""Input-feature gates in the network (A17): closed gates have zero influence; the penalty reaches
the training loss; on data where only k of d features carry signal the gates keep those."""

import numpy as np
import pytest
import torch

from headkit import HeadClassifier, protocols
from headkit.nn import INPUT_GATES, HeadNet, OptFSGates, StochasticGates
from tests.plain import PLAIN


@pytest.mark.parametrize("spec", ["optfs", "stg"])
def test_a_closed_gate_leaves_the_logits_unchanged(spec):
    torch.manual_seed(0)
    net = HeadNet(n_features=6, n_classes=3, hidden_sizes=(8,), input_gates=spec).eval()
    with torch.no_grad():
        params = net.input_gates.scores if spec == "optfs" else net.input_gates.mu
        params.copy_(torch.tensor([1.0, -1.0, 0.7, -0.6, 0.2, -2.0]))
    x = torch.randn(10, 6)
    moved = x.clone()
    moved[:, [1, 3, 5]] += torch.randn(10, 3) * 100  # the closed features
    assert torch.equal(net(x), net(moved))
    opened = x.clone()
    opened[:, 0] += 1.0
    assert not torch.allclose(net(x), net(opened))
    assert (net.input_gates.kept()[[1, 3, 5]] == 0).all()


def test_penalty_is_the_auxiliary_loss_of_a_training_forward_only():
    torch.manual_seed(0)
    net = HeadNet(n_features=4, n_classes=2, hidden_sizes=(4,), input_gates="optfs:lam=0.3")
    found = protocols.modules_with([net], protocols.AuxiliaryLoss)
    assert found == [net.input_gates]
    net.train()(torch.randn(5, 4))
    expected = 0.3 * torch.sigmoid(net.input_gates.scores).mean()
    torch.testing.assert_close(protocols.auxiliary_loss(found), expected)
    assert protocols.auxiliary_loss(found) == 0.0  # consumed
    net.eval()(torch.randn(5, 4))
    assert protocols.auxiliary_loss(found) == 0.0
    assert HeadNet(n_features=4, n_classes=2).input_gates.__class__.__name__ == "Identity"


def test_optfs_beta_follows_training_progress():
    gates = INPUT_GATES.build("optfs:beta_max=100", n_features=3)
    assert isinstance(gates, OptFSGates) and isinstance(gates, protocols.ProgressAware)
    gates.set_progress(0.5)
    assert gates.beta == pytest.approx(10.0)
    assert isinstance(INPUT_GATES.build("stg", n_features=3), StochasticGates)


def _signal_data(n=1200, d=20, k=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] - X[:, 2] + 0.5 * X[:, 3] > 0).astype(int) + 2 * (X[:, 0] * X[:, 3] > 0)
    return X, y, k


@pytest.mark.parametrize("spec", ["optfs", "stg"])
def test_gates_keep_the_signal_features_and_close_the_noise(spec):
    X, y, k = _signal_data()
    clf = HeadClassifier(**PLAIN, hidden_sizes=(32,), epochs=30, input_gates=spec, random_state=0)
    clf.fit(X, y)
    gates = np.array(list(clf.input_gates_.values()))
    assert (gates[:k] > 0.5).all(), gates
    assert (gates[k:] == 0).mean() >= 0.75, gates  # most of the 16 noise features closed
    plain = HeadClassifier(**PLAIN, hidden_sizes=(32,), epochs=30, random_state=0).fit(X, y)
    assert plain.input_gates_ is None
    assert clf.score(X, y) > plain.score(X, y) - 0.03


def test_table_gates_are_reported_per_original_column():
    pd = pytest.importorskip("pandas")
    X, y, _ = _signal_data(n=600, d=4)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["colour"] = rng.choice(["red", "green", "blue"], size=len(frame))  # noise, one-hot
    clf = HeadClassifier(hidden_sizes=(16,), epochs=20, input_gates="optfs:lam=0.3")
    clf.fit(frame, y)
    assert clf.preprocessor_ is not None
    assert list(clf.input_gates_) == ["a", "b", "c", "d", "colour"]
    assert clf.model_.config.n_features > 5  # the one-hot columns are grouped back
    assert clf.input_gates_["a"] == 1.0 and clf.input_gates_["colour"] == 0.0


def test_the_report_names_the_kept_columns():
    from headkit.report.collect import collect

    X, y, _ = _signal_data(n=300, d=6)
    clf = HeadClassifier(hidden_sizes=(8,), epochs=3, input_gates="optfs").fit(X, y)
    kept = sum(g > 0 for g in clf.input_gates_.values())
    assert any(f"input gates keep {kept} of 6 columns" in note for note in collect(clf).notes)
