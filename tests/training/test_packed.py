import math

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit.config import TrainingConfig
from headkit.estimator.members import merge_networks
from headkit.functional.temperature import best_temperature, best_temperatures
from headkit.nn import HeadNet
from headkit.nn.loss_variants import LabelSmoothingLoss
from headkit.nn.losses import CrossEntropyLoss
from headkit.training import Callback
from headkit.training.packed import PackedTrainer
from headkit.training.packed_net import PackedNet, member_losses, packable
from headkit.training.stopping import calibrated_loss
from tests.small_table import xor_table


def _nets(k=3, dropout=0.0, dtype=torch.float64, sizes=(7, 5)):
    nets = []
    for seed in range(k):
        torch.manual_seed(seed)
        net = HeadNet(n_features=4, n_classes=3, hidden_sizes=sizes, dropout=dropout).to(dtype)
        net.set_standardization(torch.rand(4, dtype=dtype), 0.5 + torch.rand(4, dtype=dtype))
        nets.append(net)
    for net in nets[1:]:  # the packed net takes member 0's standardisation
        net.set_standardization(nets[0].feature_mean, nets[0].feature_scale)
    return nets


def _member_grads(packed, k):
    """Member k's gradients in HeadNet layout (weights (out, in), biases (out,))."""
    cols = slice(k * packed.width, (k + 1) * packed.width)
    grads = [packed.first_weight.grad[:, cols].t(), packed.first_bias.grad[cols]]
    for w, b in zip(packed.weights, packed.biases, strict=True):
        grads += [w.grad[k].t(), b.grad[k, 0]]
    return [*grads, packed.head_weight.grad[k].t(), packed.head_bias.grad[k, 0]]


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weights", [None, (1.0, 3.0, 0.5)])
def test_packed_logits_loss_and_gradients_equal_the_separate_networks(smoothing, weights):
    nets = _nets()
    packed = PackedNet(nets)
    criterion = CrossEntropyLoss(class_weights=weights).double()
    if smoothing:
        criterion = LabelSmoothingLoss(criterion, smoothing)
    assert packable(nets[0], criterion)
    x, y = torch.randn(9, 4, dtype=torch.float64), torch.randint(0, 3, (9,))
    # headkit's smoothed targets are float32 (ε/C rounded); torch's label_smoothing is exact
    tol = {"rtol": 1e-6, "atol": 1e-8} if smoothing else {"rtol": 1e-10, "atol": 1e-12}
    logits = packed(x)
    assert logits.shape == (3, 9, 3)
    members = member_losses(criterion, logits, y)  # each member's mean loss
    loss = members.sum()
    loss.backward()
    total = 0.0
    for k, net in enumerate(nets):
        solo = criterion(net(x), y)
        solo.backward()
        total = total + solo
        torch.testing.assert_close(logits[k], net(x), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(members[k], solo, **tol)
        reference = [p.grad for p in net.parameters() if p.requires_grad]
        for got, want in zip(_member_grads(packed, k), reference, strict=True):
            torch.testing.assert_close(got, want, **tol)
    torch.testing.assert_close(loss, total, **tol)


def test_a_subset_of_members_computes_only_theirs_and_trains_only_theirs():
    packed = PackedNet(_nets()).train()
    x = torch.randn(6, 4, dtype=torch.float64)
    some = torch.tensor([0, 2])
    logits = packed(x, some)
    torch.testing.assert_close(logits, packed(x)[some], rtol=1e-12, atol=1e-12)
    logits.sum().backward()
    assert _member_grads(packed, 1)[0].abs().max() == 0
    assert all(g.abs().max() > 0 for g in _member_grads(packed, 2))


def test_dropout_masks_are_drawn_per_member_independently():
    packed = PackedNet(_nets(k=2, dropout=0.5, dtype=torch.float32)).train()
    torch.manual_seed(0)
    kept = packed._act_drop(torch.ones(2, 4000, 64), 0.5) > 0
    rate = kept.float().mean(dim=(1, 2))
    assert torch.allclose(rate, torch.full((2,), 0.5), atol=0.01)
    both = (kept[0] & kept[1]).float().mean()
    assert abs(float(both) - 0.25) < 0.01  # independent masks: 1/4, shared ones: 1/2


@pytest.mark.parametrize("classes", [2, 10])
def test_batched_best_temperatures_equal_the_one_member_search(classes):
    torch.manual_seed(1)
    y = torch.randint(0, classes, (300,))
    logits = torch.randn(5, 300, classes) + 2.5 * torch.nn.functional.one_hot(y, classes)
    logits *= torch.tensor([1.0, 3.0, 0.3, 8.0, 0.01])[:, None, None]  # interior and at bounds
    temperatures, nlls = best_temperatures(logits, y)
    for k in range(5):
        t, nll = best_temperature(logits[k], y)
        assert math.isclose(float(temperatures[k]), t, rel_tol=1e-5)
        assert math.isclose(float(nlls[k]), nll, rel_tol=1e-6)


def test_a_member_at_its_minimum_stays_there_while_the_others_search(monkeypatch):
    # A member whose Newton step is β itself (its bracket's new end) must count as converged:
    # taken for a step out of the bracket it was bisected away and searched again (37-48
    # passes over the logits per call instead of about 10 on the development tables).
    passes = []
    logsumexp = torch.logsumexp
    monkeypatch.setattr(torch, "logsumexp", lambda *a, **k: passes.append(1) or logsumexp(*a, **k))
    most = 0
    for seed in range(20):
        torch.manual_seed(seed)
        y = torch.randint(0, 3, (300,))
        logits = torch.randn(3, 300, 3) + 2.0 * torch.nn.functional.one_hot(y, 3)
        logits *= torch.tensor([0.7, 1.0, 1.6])[:, None, None]
        passes.clear()
        temperatures, _ = best_temperatures(logits, y)
        most = max(most, len(passes))
        for k in range(3):
            t, _ = best_temperature(logits[k], y)
            assert math.isclose(float(temperatures[k]), t, rel_tol=1e-5)
    assert most <= 15


def _rows(n, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 4, generator=g)
    y = ((X[:, 0] + 0.8 * torch.randn(n, generator=g)) > 0).long() + (X[:, 1] > 1).long()
    return X, y


def test_each_member_keeps_the_weights_of_the_epoch_its_own_rule_chose():
    torch.manual_seed(0)
    nets = [HeadNet(n_features=4, n_classes=3, hidden_sizes=(32, 32), dropout=0.2)]
    nets += [HeadNet(n_features=4, n_classes=3, hidden_sizes=(32, 32), dropout=0.2)]
    nets += [HeadNet(n_features=4, n_classes=3, hidden_sizes=(32, 32), dropout=0.2)]
    config = TrainingConfig(epochs=40, patience=3, lr=3e-2, monitor="val_calibrated_loss")
    X, y = _rows(300, 0)
    X_val, y_val = _rows(60, 1)
    trainer = PackedTrainer(nets, config, CrossEntropyLoss())
    history = trainer.fit(X, y, X_val, y_val)
    stops = [m.epoch for m in trainer.members]
    assert trainer.epoch == max(stops) == len(history)
    assert history[0].extra["members_training"] == 3
    for member, net in zip(trainer.members, nets, strict=True):
        assert len(member.history) == member.epoch  # no record after it stopped
        scores = [r.extra["val_calibrated_loss"] for r in member.history]
        assert member.best_epoch == 1 + int(np.argmin(np.round(scores, 7)))
        kept = member.restored_epoch or member.epoch
        got = calibrated_loss(net.eval(), X_val, y_val)["val_calibrated_loss"]
        assert got == pytest.approx(scores[kept - 1], rel=1e-5)
    merged = merge_networks(nets).eval()
    with torch.no_grad():
        mean = torch.stack([net(X_val) for net in nets]).mean(dim=0)
        torch.testing.assert_close(merged(X_val), mean, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(trainer.model(X_val).mean(dim=0), mean, rtol=1e-5, atol=1e-5)


def test_a_three_member_table_fit_trains_packed_and_saves_and_loads(tmp_path):
    frame, y = xor_table(300)
    model = HeadClassifier(members=3, random_state=0).fit(frame, y)
    assert model.members_ == 3 and model.model_.config.hidden_sizes == (384, 384)
    assert "members_training" in model.history_[0]  # the packed path
    assert "softmax_collapse" in model.history_[0]  # the detector watches member 0
    assert model.score(frame, y) > 0.9
    expected = model.predict_proba(frame)
    loaded = HeadClassifier.load(model.save(tmp_path / "run"))
    np.testing.assert_array_equal(loaded.predict_proba(frame), expected)
    again = HeadClassifier(members=3, random_state=0).fit(frame, y)
    np.testing.assert_array_equal(again.predict_proba(frame), expected)


def test_callbacks_or_a_checkpoint_to_resume_train_the_members_one_after_another(tmp_path):
    frame, y = xor_table(200)
    params = dict(epochs=5, members=2, random_state=0)
    packed = HeadClassifier(**params).fit(frame, y)
    seq = HeadClassifier(**params).fit(frame, y, callbacks=[Callback()])
    assert "members_training" in packed.history_[0]
    assert "members_training" not in seq.history_[0]
    # a fresh checkpoint directory (headkit train's runs) keeps the packed path, writing nothing
    ck = HeadClassifier(checkpoint_dir=tmp_path / "ck", **params).fit(frame, y)
    assert "members_training" in ck.history_[0]
    assert not (tmp_path / "ck").exists()
    np.testing.assert_array_equal(ck.predict_proba(frame), packed.predict_proba(frame))
    # a checkpoint left by a sequential fit (here one with a callback) is resumed sequentially
    HeadClassifier(checkpoint_dir=tmp_path / "seq", **params).fit(frame, y, callbacks=[Callback()])
    resumed = HeadClassifier(checkpoint_dir=tmp_path / "seq", **params).fit(frame, y)
    assert "members_training" not in resumed.history_[0]
    np.testing.assert_array_equal(resumed.predict_proba(frame), seq.predict_proba(frame))
