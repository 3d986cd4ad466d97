import torch

from headkit import HeadClassifier
from headkit.nn import LOSSES, HeadNet


def _net():
    torch.manual_seed(0)
    return HeadNet(n_features=5, n_classes=3, hidden_sizes=(8, 8, 8), dropout=0.0)


def test_alpha_zero_is_plain_training_loss():
    net = _net()
    x, y = torch.randn(10, 5), torch.randint(0, 3, (10,))
    plain = LOSSES.build("cross_entropy", n_classes=3, output=net.output)
    deep = LOSSES.build("deep_supervision:alpha=0", n_classes=3, output=net.output, network=net)
    torch.testing.assert_close(net.training_loss(x, y, deep), net.training_loss(x, y, plain))


def test_total_is_output_loss_plus_weighted_companions():
    net = _net()
    x, y = torch.randn(10, 5), torch.randint(0, 3, (10,))
    deep = LOSSES.build(
        "deep_supervision:alpha=0.5,decay=false", n_classes=3, output=net.output, network=net
    )
    total = net.training_loss(x, y, deep)
    hidden = net.layer_outputs(x)  # eval-free: no dropout in this net
    naive = torch.nn.functional.cross_entropy(net(x), y)
    for m in range(2):
        naive = naive + 0.5 * torch.nn.functional.cross_entropy(deep.companions[m](hidden[m]), y)
    torch.testing.assert_close(total, naive)


def test_companion_gradient_reaches_only_layers_up_to_its_block():
    net = _net()
    x, y = torch.randn(10, 5), torch.randint(0, 3, (10,))
    deep = LOSSES.build("deep_supervision", n_classes=3, output=net.output, network=net)
    net(x)
    first = deep.companion_losses(y)[0]  # companion of block 0
    first.backward()
    blocks = net.trunk.blocks
    assert blocks[0].linear.weight.grad.abs().sum() > 0
    assert blocks[1].linear.weight.grad is None and blocks[2].linear.weight.grad is None
    assert net.head.weight.grad is None


def test_alpha_decays_linearly_and_eval_records_nothing():
    net = _net()
    deep = LOSSES.build("deep_supervision:alpha=0.4", n_classes=3, output=net.output, network=net)
    deep.set_progress(0.75)
    assert abs(deep.weight - 0.1) < 1e-12
    net.eval()
    net(torch.randn(4, 5))
    assert deep.companion_losses(torch.zeros(4, dtype=torch.long)) == []


def test_saved_model_has_no_companion_heads(blobs_data, tmp_path):
    X, y, X_test, _ = blobs_data
    model = HeadClassifier(
        hidden_sizes=(16, 16, 16), loss="deep_supervision", epochs=3, random_state=0
    ).fit(X, y)
    assert len(model._trainer.criterion.companions) == 2
    plain_keys = set(HeadNet(model.model_.config).state_dict())
    assert set(model.model_.state_dict()) == plain_keys
    model.save(tmp_path / "m")
    loaded = HeadClassifier.load(tmp_path / "m")
    torch.testing.assert_close(
        torch.as_tensor(loaded.predict_proba(X_test)), torch.as_tensor(model.predict_proba(X_test))
    )
