"""Partial FC on one machine: accuracy of sampled vs full softmax, and a 10M-class head.

    PYTHONPATH=src python benchmarks/partial_fc.py --accuracy   # C=100k: r=0.1 vs r=1.0
    PYTHONPATH=src python benchmarks/partial_fc.py --headline   # C=10,000,000 x 128-d
    PYTHONPATH=src python benchmarks/partial_fc.py --quick      # both, small

The problem is a pure linear-head one (features are given): class centres are random unit
vectors and a sample is ``centre[y] + sigma·noise``. The head is :class:`headkit.nn.PartialFC`
with plain logits ``x Wᵀ`` and its own row-sparse SGD (no momentum, so the optimiser holds no
state: every step touches only the sampled rows). Accuracy is top-1 over *all* C classes
(full logits computed in chunks).

For the 10M-class run the centres are not stored (that would be another 5 GB): the centre of
class y is ``normalize(A[y mod 4096] + B[y div 4096])`` with random A, B. The training data are a
fixed pool of samples (classes drawn uniformly from all 10M), visited for several epochs with
fresh noise, so the loss falls as the touched centres learn; peak memory is the process's
``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from torch.nn import functional as F

from headkit.nn import PartialFC


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


@torch.no_grad()
def top1(head: PartialFC, x: torch.Tensor, y: torch.Tensor, rows: int = 512) -> float:
    head.eval()
    hits = 0
    for i in range(0, len(x), rows):
        hits += int((head(x[i : i + rows]).argmax(1) == y[i : i + rows]).sum())
    head.train()
    return 100.0 * hits / len(x)


def train(head, dim, y, epochs, batch, lr, noise, centre_fn, log_every=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = head.configure_optimizer(lr=lr, weight_decay=0.0)
    losses, step, t0 = [], 0, time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), batch):
            idx = order[i : i + batch]
            yb = y[idx]
            xb = centre_fn(yb) + noise * torch.randn(len(idx), dim, generator=g)
            opt.zero_grad(set_to_none=True)
            loss = head.training_loss(xb, yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
            if log_every and step % log_every == 0:
                rate = step / (time.perf_counter() - t0)
                print(
                    f"  epoch {epoch + 1} step {step:4d}  loss {sum(losses[-log_every:]) / log_every:.4f}"
                    f"  {rate:.2f} steps/s  peak RSS {_peak_gb():.2f} GiB",
                    flush=True,
                )
    return losses, step / (time.perf_counter() - t0)


def accuracy(
    n_classes: int, dim: int, per_class: int, epochs: int, batch: int, noise_norm: float = 0.6
) -> None:
    torch.manual_seed(0)
    centres = F.normalize(torch.randn(n_classes, dim), dim=1)
    y_train = torch.arange(n_classes).repeat(per_class)
    y_test = torch.arange(n_classes)
    noise = noise_norm / dim**0.5  # noise norm against unit centres
    x_test = centres[y_test] + noise * torch.randn(n_classes, dim)
    print(
        f"C={n_classes:,}, D={dim}, {per_class} samples/class/epoch (fresh noise), "
        f"{epochs} epochs, batch {batch}, noise norm {noise_norm}, SGD lr {batch}·1.0, test 1 sample/class"
    )
    print("| sample rate r | top-1 test accuracy % | final-epoch train loss | steps/s | time s |")
    print("|---|---|---|---|---|")
    for rate in (1.0, 0.1):
        torch.manual_seed(1)
        head = PartialFC(dim, n_classes, sample_rate=rate)
        t0 = time.perf_counter()
        losses, sps = train(
            head, dim, y_train, epochs, batch, float(batch), noise, lambda yb: centres[yb]
        )
        spent = time.perf_counter() - t0
        per_epoch = len(losses) // epochs
        acc = top1(head, x_test, y_test)
        print(
            f"| {rate} | {acc:.2f} | {sum(losses[-per_epoch:]) / per_epoch:.4f} | "
            f"{sps:.1f} | {spent:.0f} |",
            flush=True,
        )


def headline(
    n_classes: int, dim: int, pool: int, epochs: int, batch: int, rate: float, n_test: int = 500
) -> None:
    torch.manual_seed(0)
    a, b = torch.randn(4096, dim), torch.randn(n_classes // 4096 + 1, dim)

    def centre(yb):
        return F.normalize(a[yb % 4096] + b[yb // 4096], dim=1)

    y = torch.randint(0, n_classes, (pool,))
    noise = 0.6 / dim**0.5
    print(
        f"C={n_classes:,} classes x D={dim}: weight {n_classes * dim * 4 / 1e9:.2f} GB float32; "
        f"sample rate r={rate} (~{int(rate * n_classes):,} centres/step), batch {batch}, "
        f"data pool {pool:,} samples ({len(y.unique()):,} distinct classes), {epochs} epochs; "
        f"row-sparse SGD (no momentum, no optimiser state), lr {batch}·1.0"
    )
    t0 = time.perf_counter()
    head = PartialFC(dim, n_classes, sample_rate=rate)
    print(
        f"  head built in {time.perf_counter() - t0:.1f} s, peak RSS {_peak_gb():.2f} GiB",
        flush=True,
    )
    steps_per_epoch = -(-pool // batch)
    losses, sps = train(
        head,
        dim,
        y,
        epochs,
        batch,
        float(batch),
        noise,
        centre,
        log_every=max(1, steps_per_epoch // 2),
    )
    train_peak = _peak_gb()
    xt = centre(y[:n_test]) + noise * torch.randn(n_test, dim)
    t0 = time.perf_counter()
    acc = top1(head, xt, y[:n_test], rows=max(1, 2**29 // n_classes))  # logit block <= 2 GiB
    print(
        f"steps {len(losses)}, {sps:.2f} steps/s; loss first epoch {sum(losses[:steps_per_epoch]) / steps_per_epoch:.4f}"
        f" -> last epoch {sum(losses[-steps_per_epoch:]) / steps_per_epoch:.4f}; "
        f"top-1 over all {n_classes:,} classes on {n_test:,} fresh samples of pool classes: {acc:.1f} % "
        f"({time.perf_counter() - t0:.0f} s); peak RSS {train_peak:.2f} GiB in training, "
        f"{_peak_gb():.2f} GiB with the evaluation"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument("--headline", action="store_true")
    parser.add_argument("--noise", type=float, default=0.6, help="noise norm for --accuracy")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    if args.quick:
        accuracy(2_000, 32, 3, 2, 256)
        print()
        headline(200_000, 32, 4_096, 3, 256, 0.1)
        return
    if args.accuracy:
        accuracy(100_000, 64, 3, 1, 2048, args.noise)
        print()
    if args.headline:
        headline(10_000_000, 128, 25_600, 3, 256, 0.01)


if __name__ == "__main__":
    main()
