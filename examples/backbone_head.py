"""Put a headkit HeadNet on top of your own backbone and train it with plain PyTorch."""

import torch
from torch import nn

import headkit
from headkit.nn import HeadNet

torch.manual_seed(0)
backbone = nn.Sequential(
    nn.Conv1d(1, 8, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(16), nn.Flatten()
)
head = HeadNet(n_features=8 * 16, n_classes=4, hidden_sizes=(64,), dropout=0.1)
model = nn.Sequential(backbone, head)
x, y = torch.randn(256, 1, 40), torch.randint(0, 4, (256,))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
for _ in range(50):
    loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"final training loss {loss.item():.3f}")
headkit.save(head, "runs/backbone_head")
print(headkit.load("runs/backbone_head"))
