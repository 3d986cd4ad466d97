import pytest
import torch
from torch import nn

from headkit.nn import HeadNet, mc_predict


def make_net(dropout, **options):
    torch.manual_seed(0)
    return HeadNet(n_features=5, n_classes=3, hidden_sizes=(32, 16), dropout=dropout, **options)


def inputs(n=40):
    return torch.randn(n, 5, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("spec", ["standard:p=0.5", "multisample:k=4", "gaussian", "dropconnect"])
def test_one_sample_in_eval_mode_is_the_deterministic_prediction(spec):
    net = make_net(spec).eval()
    x = inputs()
    result = mc_predict(net, x, samples=1)
    torch.testing.assert_close(result.proba, net.predict_proba(x), rtol=0, atol=0)
    assert torch.all(result.mutual_information == 0)
    assert not net.training


def test_batchnorm_stays_in_eval_while_dropout_samples():
    x = inputs()
    quiet = make_net("none", norm="batch")
    quiet.train()
    with torch.no_grad():
        quiet(x * 3 + 1)  # move the running statistics away from their init
    quiet.eval()
    many = mc_predict(quiet, x, samples=5)
    torch.testing.assert_close(many.proba, quiet.predict_proba(x))
    assert torch.all(many.mutual_information < 1e-6)

    noisy = make_net("standard:p=0.5", norm="batch")
    noisy.load_state_dict(quiet.state_dict())
    noisy.train()  # modes are restored afterwards
    torch.manual_seed(0)
    result = mc_predict(noisy, x, samples=20)
    assert noisy.training and all(m.training for m in noisy.modules())
    assert result.mutual_information.max() > 1e-4
    torch.testing.assert_close(result.proba.sum(1), torch.ones(40))


def naive_mc(net, x, samples):
    net.eval()
    for m in net.modules():
        if type(m).__name__ in {"Dropout", "MultiSampleDropout"}:
            m.train()
    passes = []
    with torch.no_grad():
        for _ in range(samples):
            out = net.predict_proba(x)
            passes.extend(out if out.dim() == 3 else [out])
    net.eval()
    p = torch.stack(passes)
    mean = p.mean(0)
    h = -(mean * mean.log()).sum(1)
    eh = -(p * p.log()).sum(2).mean(0)
    return mean, h, eh, h - eh


@pytest.mark.parametrize("spec", ["standard:p=0.5", "multisample:k=3,p=0.5"])
def test_mc_matches_a_naive_loop_and_decomposes_entropy(spec):
    net = make_net(spec)
    x = inputs()
    torch.manual_seed(4)
    result = mc_predict(net, x, samples=6)
    torch.manual_seed(4)
    mean, h, eh, mi = naive_mc(net, x, 6)
    torch.testing.assert_close(result.proba, mean)
    torch.testing.assert_close(result.entropy, h)
    torch.testing.assert_close(result.expected_entropy, eh)
    torch.testing.assert_close(result.mutual_information, mi.clamp_min(0), atol=1e-6, rtol=0)
    assert torch.all(result.entropy >= result.expected_entropy - 1e-6)


def test_more_samples_move_the_prediction_and_plain_modules_work():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))
    x = inputs()
    one = mc_predict(model, x, 1).proba
    torch.testing.assert_close(one, torch.softmax(model.eval()(x), -1))
    assert not torch.allclose(mc_predict(model, x, 10).proba, one)
    nested = make_net("nested:p=0")  # nested dropout itself is not an MC module
    torch.testing.assert_close(mc_predict(nested, x, 4).proba, mc_predict(nested, x, 1).proba)
    with pytest.raises(ValueError, match="samples"):
        mc_predict(model, x, 0)
