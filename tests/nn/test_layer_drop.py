"""Layer dropout and the shared early-exit head (B7): whole blocks skipped in training only, the
exit loss, early-exit prediction against the full network."""

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit.exceptions import ConfigError
from headkit.functional.layer_drop import first_confident_exit
from headkit.nn import HeadNet
from headkit.nn.layer_drop import early_exit_predict
from headkit.nn.losses import LOSSES


def _net(spec="layerskip:p_max=0.5,profile=constant", **options):
    torch.manual_seed(0)
    options = {"hidden_sizes": (8, 8, 8, 8), "residual": True, "dropout": 0.0, **options}
    return HeadNet(n_features=5, n_classes=3, layer_drop=spec, **options)


def test_blocks_are_skipped_whole_in_training_and_never_in_eval():
    net = _net()
    calls = [0] * 4
    for i, block in enumerate(net.trunk.blocks):
        block.register_forward_hook(lambda m, a, o, i=i: calls.__setitem__(i, calls[i] + 1))
    assert net.trunk.drop_rates == [0.0, 0.5, 0.5, 0.5]  # block 0 (5 → 8) has no skip
    x = torch.randn(6, 5)
    net.train()
    for _ in range(2000):
        net.features(x)
    assert calls[0] == 2000
    for count in calls[1:]:
        assert abs(count / 2000 - 0.5) < 0.05
    calls[:] = [0] * 4
    net.eval()
    h = net.trunk_input(x)
    expected = h
    for block in net.trunk.blocks:
        expected = block(expected)
    for _ in range(50):
        assert torch.equal(net.features(x), expected)
    assert calls == [51] * 4


def test_a_skipped_block_is_exactly_the_identity():
    net = _net("layerskip:p_max=0.999,profile=constant").train()
    x = torch.randn(6, 5)
    after_first = net.trunk.blocks[0](net.trunk_input(x))
    torch.manual_seed(1)
    assert torch.equal(net.features(x), after_first)  # all three residual blocks skipped


def test_exit_loss_is_the_weighted_sum_of_the_shared_heads_losses():
    net = _net("layerskip:p_max=0,exit_scale=1").train()
    criterion = LOSSES.build("cross_entropy", n_classes=3, output=net.output, network=net)
    x, y = torch.randn(7, 5), torch.randint(0, 3, (7,))
    loss = net.training_loss(x, y, criterion)
    h, expected = net.trunk_input(x), 0.0
    for block, weight in zip(net.trunk.blocks, [0.1, 0.2, 0.3, 0.4], strict=True):
        h = block(h)
        expected = expected + weight * torch.nn.functional.cross_entropy(net.head(h), y)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert net.head.weight.grad is not None  # one head tensor, trained at every exit


def test_threshold_above_one_is_the_full_network_and_low_thresholds_exit_earlier():
    net = _net("layerskip:p_max=0").eval()
    x = torch.randn(200, 5) * 3
    proba, depth = early_exit_predict(net, x, 1.01)
    assert torch.equal(proba, net.probabilities(net(x).double()))
    assert (depth == 4).all()
    depths = [early_exit_predict(net, x, t)[1].float().mean().item() for t in (0.9, 0.6, 0.4, 0.0)]
    assert depths == sorted(depths, reverse=True) and depths[-1] == 1.0 and depths[0] > 1.0


def test_progressive_exit_equals_the_rule_on_all_exits():
    net = _net("layerskip:p_max=0").eval()
    x = torch.randn(100, 5) * 3
    h, per_exit = net.trunk_input(x), []
    with torch.no_grad():
        for block in net.trunk.blocks:
            h = block(h)
            per_exit.append(net.probabilities(net.head(h).double()))
    for threshold in (0.5, 0.7, 0.9):
        chosen, index = first_confident_exit(torch.stack(per_exit), threshold)
        proba, depth = early_exit_predict(net, x, threshold)
        torch.testing.assert_close(proba, chosen)
        assert torch.equal(depth, index + 1)


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="residual"):
        _net(residual=False)
    with pytest.raises(ConfigError, match="profile"):
        _net("layerskip:profile=cubic")
    X = np.random.default_rng(0).standard_normal((60, 4)).astype(np.float32)
    y = np.arange(60) % 2
    clf = HeadClassifier(hidden_sizes=(4,), epochs=1).fit(X, y)
    with pytest.raises(ConfigError, match="layer_drop='layerskip'"):
        clf.predict_early_exit(X)


def test_estimator_early_exit_with_mixup_and_the_full_depth_equality():
    X = np.random.default_rng(0).standard_normal((300, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = HeadClassifier(hidden_sizes=(6, 6, 6), residual=True, layer_drop="layerskip",
                         augment="mixup", epochs=5, random_state=0)  # fmt: skip
    clf.fit(X, y)
    full = clf.predict_early_exit(X, threshold=2.0)
    np.testing.assert_array_equal(full.proba, clf.predict_proba(X))
    assert (full.depth == 3).all() and (full.labels == clf.predict(X)).all()
    assert clf.predict_early_exit(X, threshold=0.5).depth.max() == 1
