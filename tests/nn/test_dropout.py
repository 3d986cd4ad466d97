import pytest
import torch

from headkit import functional as F
from headkit.exceptions import ConfigError
from headkit.nn import (
    DROPOUTS,
    DropConnectLinear,
    Dropout,
    GaussianDropout,
    HeadNet,
    MultiSampleDropout,
    NestedDropout,
    build_dropout,
)
from headkit.nn.losses import CrossEntropyLoss

# Every registered kind (a new one is tested without editing a list) and the bare-rate forms.
SPECS = [*DROPOUTS.names(), 0.2, "0.3"]


def make_net(dropout, hidden=(16, 12), seed=0, **options):
    torch.manual_seed(seed)
    return HeadNet(n_features=6, n_classes=4, hidden_sizes=hidden, dropout=dropout, **options)


def data(n=20, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=gen), torch.randint(0, 4, (n,), generator=gen)


def modules_of(net, kind):
    return [m for m in net.modules() if isinstance(m, kind)]


# --- specs and plans --------------------------------------------------------------------------


def test_every_kind_is_registered_with_a_summary():
    for name in ["standard", "none", "multisample", "gaussian", "dropconnect", "nested"]:
        assert name in DROPOUTS and DROPOUTS.summary(name)


def test_spec_strings_build_the_right_modules():
    net = make_net("multisample:k=8,p=0.5")
    (final,) = modules_of(net, MultiSampleDropout)
    assert (final.k, final.p) == (8, 0.5)
    assert net.trunk.blocks[-1].dropout is final
    assert type(net.trunk.blocks[0].dropout) is Dropout and net.trunk.blocks[0].dropout.p == 0.5

    net = make_net("gaussian:p=0.1")
    assert [m.p for m in modules_of(net, GaussianDropout)] == [0.1, 0.1]

    net = make_net("dropconnect:p=0.3,per_sample=true,inference=moment")
    linears = modules_of(net, DropConnectLinear)
    assert len(linears) == 2 and not modules_of(net, Dropout)
    assert all((m.p, m.per_sample, m.inference) == (0.3, True, "moment") for m in linears)
    assert "per_sample=True" in repr(linears[0])

    net = make_net("nested:distribution=gaussian,scale=0.25")
    (nested,) = modules_of(net, NestedDropout)
    assert net.trunk.blocks[-1].dropout is nested
    assert (nested.distribution, nested.scale) == ("gaussian", 0.25)

    assert not modules_of(make_net("none"), Dropout)
    assert [m.p for m in modules_of(make_net(0.35), Dropout)] == [0.35, 0.35]
    assert build_dropout("0.3").p == 0.3
    assert build_dropout("multisample:6").k == 6


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("multisample:k=0", "k >= 1"),
        ("multisample:p=1.5", r"\[0, 1\)"),
        ("multisample:k=two", "type int"),
        ("gaussian:p=-0.1", r"\[0, 1\)"),
        ("dropconnect:inference=sample", "inference"),
        ("dropconnect:per_sample=maybe", "type bool"),
        ("nested:distribution=poisson", "distribution"),
        ("nested:scale=0", "scale"),
        ("nested:width=3", "no option .width."),
        ("multisampel", "Did you mean 'multisample'"),
        (1.5, r"\[0, 1\)"),
    ],
)
def test_bad_options_raise_config_error(spec, message):
    with pytest.raises(ConfigError, match=message):
        build_dropout(spec)


# --- multi-sample dropout ---------------------------------------------------------------------


def test_multisample_loss_is_mean_of_k_dropout_losses_under_the_same_masks():
    k, p = 3, 0.4
    net = make_net(f"multisample:k={k},p={p}")
    x, y = data()
    criterion = CrossEntropyLoss()
    torch.manual_seed(7)
    loss = net.training_loss(x, y, criterion)
    loss.backward()
    grads = [q.grad.clone() for q in net.parameters()]

    # Reference: replay the same random draws by hand, then k separate ordinary dropout passes.
    ref = make_net(f"multisample:k={k},p={p}")
    blocks = ref.trunk.blocks
    torch.manual_seed(7)
    h0 = blocks[0].activation(blocks[0].linear(x))
    h0 = F.dropout(h0, p, mask=F.dropout_mask(h0.shape, p))
    h1 = blocks[1].activation(blocks[1].linear(h0))
    masks = F.dropout_mask((k, *h1.shape), p)
    losses = [
        torch.nn.functional.cross_entropy(ref.head(F.dropout(h1, p, mask=masks[j])), y)
        for j in range(k)
    ]
    expected = torch.stack(losses).mean()
    expected.backward()
    torch.testing.assert_close(loss, expected)
    for got, want in zip(grads, [q.grad for q in ref.parameters()], strict=True):
        torch.testing.assert_close(got, want)


def test_multisample_k1_is_standard_dropout():
    x, y = data()
    criterion = CrossEntropyLoss()
    losses = []
    for spec in ["multisample:k=1,p=0.3", 0.3]:
        net = make_net(spec)
        torch.manual_seed(5)
        losses.append(net.training_loss(x, y, criterion))
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=0)


def test_multisample_trunk_runs_once_and_head_sees_k_samples():
    net = make_net("multisample:k=5")
    calls = []
    net.trunk.blocks[0].linear.register_forward_hook(lambda *a: calls.append(1))
    shapes = []
    net.head.register_forward_hook(lambda m, i, o: shapes.append(o.shape))
    x, y = data()
    net.training_loss(x, y, CrossEntropyLoss())
    assert len(calls) == 1 and shapes == [torch.Size([5, 20, 4])]


def test_multisample_eval_output_does_not_depend_on_k():
    x, _ = data()
    a, b = make_net("multisample:k=1"), make_net("multisample:k=8")
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    assert b(x).shape == (20, 4)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


# --- eval mode, determinism, dtypes -----------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
def test_eval_is_deterministic_and_equals_the_dense_network(spec):
    x, _ = data()
    net = make_net(spec).eval()
    dense = make_net("none").eval()
    dense.load_state_dict(net.state_dict())
    torch.testing.assert_close(net(x), net(x), rtol=0, atol=0)
    torch.testing.assert_close(net(x), dense(x), rtol=0, atol=0)


@pytest.mark.parametrize("spec", SPECS)
def test_training_is_seed_deterministic_and_stochastic(spec):
    x, y = data()
    net = make_net(spec)
    losses = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        losses.append(net.training_loss(x, y, CrossEntropyLoss()))
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=0)
    if spec != "none":
        assert losses[0] != losses[2]


@pytest.mark.parametrize("spec", SPECS)
def test_bfloat16_forward_and_backward(spec):
    x, y = data()
    net = make_net(spec).to(torch.bfloat16)
    torch.manual_seed(0)
    loss = net.training_loss(x.bfloat16(), y, CrossEntropyLoss())
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(q.grad).all() for q in net.parameters())


def test_dropconnect_moment_inference_is_stochastic_in_eval():
    x, _ = data()
    net = make_net("dropconnect:inference=moment").eval()
    torch.manual_seed(0)
    a = net(x)
    assert not torch.equal(a, net(x))


def test_gaussian_and_multisample_modules_statistics():
    torch.manual_seed(0)
    y = GaussianDropout(0.5)(torch.ones(100_000))
    assert y.var().item() == pytest.approx(1.0, rel=0.03)
    assert MultiSampleDropout(3, 0.5)(torch.ones(4, 2)).shape == (3, 4, 2)
    assert "k=3, p=0.5" in repr(MultiSampleDropout(3, 0.5))


# --- nested dropout and truncation ------------------------------------------------------------


def test_nested_module_keeps_a_prefix_in_training_only():
    torch.manual_seed(0)
    module = NestedDropout("geometric", 0.3)
    x = torch.rand(50, 10) + 1
    y = module(x)
    kept = (y != 0).sum(1)
    for row in range(50):
        assert torch.all(y[row, kept[row] :] == 0) and torch.equal(
            y[row, : kept[row]], x[row, : kept[row]]
        )
    module.eval()
    assert module(x) is x
    module.keep = 4
    assert torch.all(module(x)[:, 4:] == 0)


@pytest.mark.parametrize("norm", [None, "batch"])
def test_truncate_equals_zeroing_the_units_after_k(norm):
    x, y = data(64)
    net = make_net("nested", norm=norm)
    if norm == "batch":  # non-trivial running statistics
        net.train()
        for _ in range(3):
            net.training_loss(x, y, CrossEntropyLoss())
    net.eval()
    feats = net.features(x)
    for k in (1, 5, 12):
        small = net.truncate(k)
        assert small.config.hidden_sizes == (16, k)
        assert small.head.in_features == k and not small.training
        zeroed = feats.clone()
        zeroed[:, k:] = 0
        torch.testing.assert_close(small(x), net.head(zeroed))
        torch.testing.assert_close(small.features(x), feats[:, :k])
    torch.testing.assert_close(net.truncate(12)(x), net(x))


def test_truncate_keeps_the_other_layers_and_the_temperature():
    net = make_net("nested", hidden=(12, 12))
    net.temperature.fill_(2.0)
    small = net.truncate(3)
    torch.testing.assert_close(
        small.trunk.blocks[0].linear.weight, net.trunk.blocks[0].linear.weight
    )
    assert small.temperature.item() == 2.0 and small.training
    low = net.to(torch.bfloat16).truncate(5)
    assert low.head.weight.dtype == torch.bfloat16
    torch.testing.assert_close(low.head.weight, net.head.weight[:, :5], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("options", "k", "message"),
    [
        ({}, 0, r"in \[1, 12\]"),
        ({}, 13, r"in \[1, 12\]"),
        ({}, 2.0, "int k"),
        ({"hidden": ()}, 1, "hidden layer"),
        ({"norm": "layer"}, 2, "layer-normalised"),
        ({"hidden": (12, 12), "residual": True}, 2, "residual"),
    ],
)
def test_truncate_refuses_what_it_cannot_do(options, k, message):
    net = make_net("nested", **options)
    with pytest.raises(ConfigError, match=message):
        net.truncate(k)
