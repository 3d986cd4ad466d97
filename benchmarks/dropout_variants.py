"""Dropout variants side by side on MNIST-1D: accuracy, epochs to a target loss, time per epoch.

Same network (3 x 512 GELU by default), same budget (one-cycle AdamW, label smoothing 0.1, batch
128), same seed for every variant; the data are standardised with the training statistics. Also:

* multi-sample dropout k=1 vs k=4 over several seeds (the issue's plain-loop figures at 150
  epochs: k=1 76.5 %, k=4 78.9 %);
* the nested-dropout truncation curve: test accuracy of ``HeadNet.truncate(k)`` against k for a
  nested-dropout network and a standard-dropout one (``benchmarks/results/nested_truncation.png``).

Run: ``PYTHONPATH=src python benchmarks/dropout_variants.py`` (``--quick`` for a smoke run).
Writes ``benchmarks/results/dropout_variants.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from headkit.nn import HeadNet
from headkit.nn.losses import CrossEntropyLoss

RESULTS = Path(__file__).parent / "results"
VARIANTS = [
    ("none", "none"),
    ("standard p=0.3 (= multisample k=1)", "standard:p=0.3"),
    ("multisample k=4, p=0.3", "multisample:k=4,p=0.3"),
    ("multisample k=8, p=0.3", "multisample:k=8,p=0.3"),
    ("gaussian p=0.3", "gaussian:p=0.3"),
    ("dropconnect p=0.3 (mean inference)", "dropconnect:p=0.3"),
    ("nested (default)", "nested"),
]


@dataclass
class Run:
    spec: str
    seed: int
    test_acc: float = 0.0
    sec_per_epoch: float = 0.0
    train_loss: list[float] = field(default_factory=list)
    model: HeadNet | None = None

    def epochs_to(self, target: float) -> int | None:
        """First epoch whose clean training loss is <= target."""
        return next((i + 1 for i, v in enumerate(self.train_loss) if v <= target), None)


def load_mnist1d() -> tuple[torch.Tensor, ...]:
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())
    x, xt = np.asarray(d["x"], np.float32), np.asarray(d["x_test"], np.float32)
    mean, std = x.mean(0), x.std(0) + 1e-6
    return (
        torch.from_numpy((x - mean) / std),
        torch.from_numpy(np.asarray(d["y"], np.int64)),
        torch.from_numpy((xt - mean) / std),
        torch.from_numpy(np.asarray(d["y_test"], np.int64)),
    )


def accuracy(model: HeadNet, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def train(spec: str, data: tuple[torch.Tensor, ...], args: argparse.Namespace, seed: int) -> Run:
    x, y, xt, yt = data
    torch.manual_seed(seed)
    model = HeadNet(
        n_features=x.shape[1],
        n_classes=int(y.max()) + 1,
        hidden_sizes=tuple(args.hidden),
        activation="gelu",
        dropout=spec,
    )
    criterion = CrossEntropyLoss(label_smoothing=0.1)
    steps = -(-len(x) // args.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps
    )
    run = Run(spec, seed)
    order = torch.Generator().manual_seed(seed)
    spent = 0.0
    for _ in range(args.epochs):
        model.train()
        start = time.perf_counter()
        for idx in torch.randperm(len(x), generator=order).split(args.batch_size):
            loss = model.training_loss(x[idx], y[idx], criterion)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        spent += time.perf_counter() - start
        model.eval()
        with torch.no_grad():  # clean (eval-mode, unsmoothed) training loss
            run.train_loss.append(torch.nn.functional.cross_entropy(model(x), y).item())
    run.sec_per_epoch = spent / args.epochs
    run.test_acc = accuracy(model, xt, yt)
    run.model = model
    return run


def truncation_curve(model: HeadNet, xt: torch.Tensor, yt: torch.Tensor, ks: list[int]) -> list:
    return [accuracy(model.truncate(k), xt, yt) for k in ks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--hidden", type=int, nargs="+", default=[512, 512, 512])
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--targets", type=float, nargs="+", default=[0.3, 0.1, 0.03])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.hidden, args.seeds = 4, [64, 64], [0]
    torch.set_num_threads(args.threads)
    data = load_mnist1d()

    def reach(run: Run) -> str:
        return " / ".join(str(run.epochs_to(t) or "—") for t in args.targets)

    targets = " / ".join(f"≤ {t}" for t in args.targets)
    lines = [
        f"# Dropout variants on MNIST-1D ({len(data[0])} train / {len(data[2])} test, "
        "standardised)",
        "",
        f"Network {' x '.join(map(str, args.hidden))} GELU, one-cycle AdamW lr {args.lr}, "
        f"weight decay 1e-2, label smoothing 0.1, batch {args.batch_size}, {args.epochs} epochs, "
        f"seed {args.seeds[0]}, {args.threads} CPU thread(s). Train CE = clean (eval-mode, "
        "unsmoothed) cross-entropy on the training set after each epoch; epochs to target = first "
        "epoch reaching it (— = never).",
        "",
        f"| variant | spec | test acc | epochs to train CE {targets} | final train CE "
        "| s / epoch | time vs standard |",
        "|---|---|---|---|---|---|---|",
    ]
    runs: dict[str, Run] = {}
    for label, spec in VARIANTS:
        run = train(spec, data, args, args.seeds[0])
        runs[spec] = run
        print(f"{label}: acc {run.test_acc:.4f}, epochs {reach(run)}", flush=True)
    base = runs["standard:p=0.3"].sec_per_epoch
    for label, spec in VARIANTS:
        run = runs[spec]
        lines.append(
            f"| {label} | `{spec}` | {100 * run.test_acc:.1f} % | {reach(run)} | "
            f"{run.train_loss[-1]:.4f} | {run.sec_per_epoch:.3f} | "
            f"{run.sec_per_epoch / base:.2f}x |"
        )

    lines += ["", "## Multi-sample dropout k=1 vs k=4 over seeds", ""]
    lines += [
        f"| k | seed | test acc | epochs to train CE {targets} | final train CE | s / epoch |",
        "|---|---|---|---|---|---|",
    ]
    extra: list[Run] = []
    for k, spec in [(1, "standard:p=0.3"), (4, "multisample:k=4,p=0.3")]:
        seeded = [runs[spec]] + [train(spec, data, args, s) for s in args.seeds[1:]]
        extra += seeded[1:]
        for run in seeded:
            lines.append(
                f"| {k} | {run.seed} | {100 * run.test_acc:.1f} % | {reach(run)} | "
                f"{run.train_loss[-1]:.4f} | {run.sec_per_epoch:.3f} |"
            )
            print(lines[-1], flush=True)
        accs = [r.test_acc for r in seeded]
        mean_time = statistics.mean(r.sec_per_epoch for r in seeded)
        lines.append(
            f"| {k} | mean | {100 * statistics.mean(accs):.2f} % | | "
            f"{statistics.mean(r.train_loss[-1] for r in seeded):.4f} | {mean_time:.3f} |"
        )

    width = args.hidden[-1]
    ks = sorted({*(2**i for i in range(width.bit_length()) if 2**i <= width), width})
    nested = truncation_curve(runs["nested"].model, data[2], data[3], ks)
    plain = truncation_curve(runs["standard:p=0.3"].model, data[2], data[3], ks)
    lines += ["", "## Truncation to the first k units of the last hidden layer", ""]
    lines += ["| k | nested | standard p=0.3 |", "|---|---|---|"]
    lines += [
        f"| {k} | {100 * a:.1f} % | {100 * b:.1f} % |"
        for k, a, b in zip(ks, nested, plain, strict=True)
    ]

    RESULTS.mkdir(exist_ok=True)
    suffix = "_quick" if args.quick else ""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(ks, [100 * a for a in nested], "o-", label="nested dropout")
    ax.plot(ks, [100 * a for a in plain], "s--", label="standard dropout p=0.3")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("units kept in the last hidden layer (k)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("MNIST-1D: HeadNet.truncate(k)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / f"nested_truncation{suffix}.png", dpi=120)
    history = {f"{r.spec}@seed{r.seed}": r.train_loss for r in [*runs.values(), *extra]}
    (RESULTS / f"dropout_variants_history{suffix}.json").write_text(json.dumps(history))
    text = "\n".join(lines) + "\n"
    (RESULTS / f"dropout_variants{suffix}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
