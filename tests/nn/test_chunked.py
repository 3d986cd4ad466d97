import torch
from torch.nn import functional as F

from headkit.nn import HEADS, HeadNet, LinearCrossEntropyHead


def test_training_loss_equals_criterion_on_logits():
    torch.manual_seed(0)
    head = LinearCrossEntropyHead(6, 40, label_smoothing=0.1, softcap=4.0)
    x, y = torch.randn(12, 6), torch.randint(0, 40, (12,))
    ref = F.cross_entropy(head(x), y, label_smoothing=0.1)
    torch.testing.assert_close(head.training_loss(x, y), ref)


def test_multisample_features_and_eval_chunks():
    torch.manual_seed(0)
    head = HEADS.build("chunked_linear:memory_budget_mb=0.0001", in_features=6, n_classes=40)
    x, y = torch.randn(3, 12, 6), torch.randint(0, 40, (12,))
    ref = F.cross_entropy(head(x).reshape(-1, 40), y.repeat(3))
    torch.testing.assert_close(head.training_loss(x, y), ref)
    with torch.no_grad():
        torch.testing.assert_close(head(x[0]), x[0] @ head.weight.T + head.bias)
    assert "n_classes=40" in repr(head)


def test_headnet_uses_fused_loss_and_trains():
    torch.manual_seed(0)
    net = HeadNet(
        n_features=5, n_classes=30, hidden_sizes=(16,), dropout=0.0, head="chunked_linear"
    )
    x, y = torch.randn(64, 5), torch.randint(0, 30, (64,))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = net.training_loss(x, y, criterion=None).item()
    for _ in range(100):
        opt.zero_grad()
        net.training_loss(x, y, criterion=None).backward()
        opt.step()
    assert net.training_loss(x, y, criterion=None).item() < 0.5 * first
