"""Dropout variants side by side on MNIST-1D: accuracy, epochs to a target loss, time per epoch.

Same network (3 x 512 GELU by default), same budget (one-cycle AdamW, label smoothing 0.1, batch
128), same seed for every variant; the data are standardised with the training statistics. Also:

* multi-sample dropout k = 1, 4, 8 at p = 0.3 and 0.5 over several seeds (``--section
  multisample`` runs only this part), with the accuracy gain, the epochs saved to a target
  training loss and the time per epoch against k=1;
* the issue's set-up (``--section issue`` runs only this part and splices it into the results
  file): PyTorch's default AdamW learning rate 1e-3 as the one-cycle peak, headkit k=1 vs k=4 over
  the seeds, next to the same set-up trained by a plain PyTorch loop without headkit
  (:func:`plain_loop`; its figures are stored in ``PLAIN_REFERENCE``, ``--rerun-plain`` measures
  them again; each headkit run is repeated with torch's masks, which reproduces the plain loop
  exactly);
* ``--section masks`` (not in the default run): headkit's fast CPU dropout-mask sampler against
  torch's masks in the issue set-up, over as many ``--seeds`` as given (24 seeds: about 30
  minutes);
* the nested-dropout truncation curve: test accuracy of ``HeadNet.truncate(k)`` against k for a
  nested-dropout network and a standard-dropout one (``benchmarks/results/nested_truncation.png``).

Run: ``PYTHONPATH=src python benchmarks/dropout_variants.py`` (``--quick`` for a smoke run).
Writes ``benchmarks/results/dropout_variants.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from headkit.data import load_dataset
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

    def reach(self, targets: list[float]) -> str:
        """Epochs to each target, ``"30 / 45 / —"`` (— = never)."""
        return " / ".join(str(self.epochs_to(t) or "—") for t in targets)


def targets_header(targets: list[float]) -> str:
    """Column title for :meth:`Run.reach`."""
    return "epochs to train CE " + " / ".join(f"≤ {t}" for t in targets)


def load_mnist1d() -> tuple[torch.Tensor, ...]:
    """MNIST-1D's standard split, standardised with the training statistics."""
    d = load_dataset("mnist1d")
    mean, std = d.X_train.mean(0), d.X_train.std(0) + 1e-6
    return (
        torch.from_numpy((d.X_train - mean) / std),
        torch.from_numpy(d.y_train),
        torch.from_numpy((d.X_test - mean) / std),
        torch.from_numpy(d.y_test),
    )


def accuracy(model: HeadNet, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def train(
    spec: str,
    data: tuple[torch.Tensor, ...],
    args: argparse.Namespace,
    seed: int,
    lr: float | None = None,
) -> Run:
    x, y, xt, yt = data
    lr = args.lr if lr is None else lr
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
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=args.epochs * steps
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


# Issue 3's set-up: its plain-loop description (3 x 512 GELU, p=0.3, label smoothing 0.1,
# one-cycle AdamW, 150 epochs) with PyTorch's defaults where it is silent: AdamW lr 1e-3 as the
# one-cycle peak, weight decay 1e-2, batch 128. Dropout after every hidden layer with the k masks
# at the last one (headkit's ``multisample`` placement); dropout only before the head reached
# 70.7 % (k=1) and 69.9 % (k=4) on seed 0, far from the issue's k=1 76.5 %, so it was dropped.
ISSUE_LR = 1e-3
ISSUE_FIGURES = {1: 0.765, 4: 0.789}
# Test accuracy of plain_loop(k, seed) at 150 epochs, one CPU thread, seeds 0, 1, 2.
PLAIN_REFERENCE = {1: [0.757, 0.768, 0.773], 4: [0.763, 0.762, 0.777]}


@contextlib.contextmanager
def torch_masks():
    """Draw headkit's dropout masks with ``torch.nn.functional.dropout`` instead of its fast sampler.

    The random stream is then the plain loop's (for k=1 by construction; for k=4 the one (k, N, D)
    draw happens to match the plain loop's k draws too), so any difference between headkit and
    :func:`plain_loop` is the computation itself and not the random numbers.
    """
    module = sys.modules["headkit.functional.dropout"]
    fast = module.scaled_keep_mask

    def sampled_by_torch(shape, p, device, dtype):
        ones = torch.ones(shape, device=device)  # float32 draws, as headkit's own
        return torch.nn.functional.dropout(ones, p, True).to(dtype)  # 0 or 1 / (1 - p)

    module.scaled_keep_mask = sampled_by_torch
    try:
        yield
    finally:
        module.scaled_keep_mask = fast


class PlainNet(torch.nn.Module):
    """Plain PyTorch 3 x 512 GELU MLP with dropout after every hidden layer, k masks at the last."""

    def __init__(self, n_features: int, n_classes: int, k: int, p: float = 0.3) -> None:
        super().__init__()
        nn = torch.nn
        self.trunk = nn.Sequential(
            nn.Linear(n_features, 512),
            nn.GELU(),
            nn.Dropout(p),
            nn.Linear(512, 512),
            nn.GELU(),
            nn.Dropout(p),
            nn.Linear(512, 512),
            nn.GELU(),
        )
        self.head = nn.Linear(512, n_classes)
        self.k, self.p = k, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x)
        if not self.training:
            return self.head(h)
        masked = [torch.nn.functional.dropout(h, self.p, True) for _ in range(self.k)]
        return self.head(torch.stack(masked))  # (k, N, C)


def plain_loop(k: int, seed: int, data: tuple[torch.Tensor, ...], epochs: int = 150) -> float:
    """Train issue 3's set-up with plain PyTorch (no headkit); return the test accuracy."""
    x, y, xt, yt = data
    torch.manual_seed(seed)
    model = PlainNet(x.shape[1], int(y.max()) + 1, k)  # fixed 3 x 512, as in the issue
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=ISSUE_LR, weight_decay=1e-2)
    steps = -(-len(x) // 128)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=ISSUE_LR, total_steps=epochs * steps
    )
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=order).split(128):
            out = model(x[idx])
            loss = torch.stack([criterion(o, y[idx]) for o in out]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    with torch.no_grad():
        return (model(xt).argmax(1) == yt).float().mean().item()


def issue_section(data: tuple[torch.Tensor, ...], args: argparse.Namespace) -> list[str]:
    """Headkit k=1 vs k=4 in issue 3's set-up, next to the plain-loop reference."""
    # the stored figures hold for 150 epochs and seeds 0, 1, 2 only
    stored = args.epochs == 150 and not args.quick
    plain = {
        k: [v[s] if stored and s < len(v) else None for s in args.seeds]
        for k, v in PLAIN_REFERENCE.items()
    }
    if args.rerun_plain:
        plain = {k: [plain_loop(k, s, data, args.epochs) for s in args.seeds] for k in (1, 4)}
        print(f"plain loop: {plain}", flush=True)
    lines = [
        "## Issue set-up (lr 1e-3)",
        "",
        f"Issue 3's plain-loop description with PyTorch defaults where it is silent: one-cycle "
        f"AdamW peak lr {ISSUE_LR} (AdamW's default), weight decay 1e-2, batch 128, "
        f"{args.epochs} epochs, label smoothing 0.1, {' x '.join(map(str, args.hidden))} GELU, "
        "p=0.3 after every hidden "
        "layer with the k masks at the last (`multisample:k=…,p=0.3`). headkit = `HeadNet` in "
        "`train()` in this file; plain = `plain_loop` in this file (no headkit)"
        + ("" if args.rerun_plain else ", figures stored in `PLAIN_REFERENCE`")
        + f". The issue reported k=1 {100 * ISSUE_FIGURES[1]:.1f} %, "
        f"k=4 {100 * ISSUE_FIGURES[4]:.1f} %.",
        "",
        "`torch masks` = the same headkit run with its dropout masks drawn by "
        "`torch.nn.functional.dropout` (`torch_masks()` in this file), i.e. from the plain loop's "
        "random stream; for k=1 it must equal the plain loop exactly "
        "(k=4 matched too when measured).",
        "",
        "| k | seed | headkit test acc | headkit, torch masks | plain-loop test acc "
        "| headkit s / epoch |",
        "|---|---|---|---|---|---|",
    ]
    means = {}
    for k, spec in [(1, "multisample:k=1,p=0.3"), (4, "multisample:k=4,p=0.3")]:
        runs = [train(spec, data, args, s, lr=ISSUE_LR) for s in args.seeds]
        with torch_masks():
            same_stream = [train(spec, data, args, s, lr=ISSUE_LR) for s in args.seeds]
        refs = plain[k]
        for run, twin, ref in zip(runs, same_stream, refs, strict=True):
            ref_text = "—" if ref is None else f"{100 * ref:.1f} %"
            lines.append(
                f"| {k} | {run.seed} | {100 * run.test_acc:.1f} % | {100 * twin.test_acc:.1f} % "
                f"| {ref_text} | {run.sec_per_epoch:.3f} |"
            )
            print(lines[-1], flush=True)
        known = [r for r in refs if r is not None]
        ref_mean = f"{100 * statistics.mean(known):.2f} %" if known else "—"
        twin_mean = statistics.mean(r.test_acc for r in same_stream)
        means[k] = (statistics.mean(r.test_acc for r in runs), known, twin_mean)
        lines.append(
            f"| {k} | mean | {100 * means[k][0]:.2f} % | {100 * twin_mean:.2f} % | {ref_mean} | |"
        )
    gain = 100 * (means[4][0] - means[1][0])
    twin_gain = 100 * (means[4][2] - means[1][2])
    plain_gain = (
        f"{100 * (statistics.mean(means[4][1]) - statistics.mean(means[1][1])):+.2f} points"
        if means[1][1] and means[4][1]
        else "—"
    )
    lines += [
        "",
        f"Gain k=4 − k=1: headkit {gain:+.2f} points, headkit with torch masks "
        f"{twin_gain:+.2f} points, plain loop {plain_gain} (issue: +2.4).",
    ]
    return lines


def read_sections(path: Path, heading: str) -> tuple[list[str], slice | None]:
    """An existing results file's lines and the span of the section whose heading starts so."""
    old = path.read_text().rstrip("\n").split("\n") if path.exists() else []
    start = next((i for i, line in enumerate(old) if line.startswith(heading)), None)
    if start is None:
        return old, None
    end = next((i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old))
    return old, slice(start, end)


def kept_section(path: Path, heading: str) -> list[str]:
    """Lines of the section ``heading`` in an existing results file (with a blank line before it).

    The full run keeps the mask sampler check, which it does not rerun (``--section masks``).
    """
    old, span = read_sections(path, heading)
    return [] if span is None else ["", *old[span]]


def splice_section(path: Path, section: list[str]) -> str:
    """Replace in place (or append) the section headed ``section[0]`` in a results file."""
    old, span = read_sections(path, section[0].split("(")[0].strip())
    if span is None:
        lines = [*old, "", *section] if old else section
    else:
        after = ["", *old[span.stop :]] if span.stop < len(old) else []
        lines = [*old[: span.start], *section, *after]
    return "\n".join(lines) + "\n"


def masks_section(data: tuple[torch.Tensor, ...], args: argparse.Namespace) -> list[str]:
    """Issue set-up, k=1, over the seeds: headkit's fast CPU mask sampler vs torch's masks."""
    spec = "standard:p=0.3"
    fast = [train(spec, data, args, s, lr=ISSUE_LR).test_acc for s in args.seeds]
    with torch_masks():
        same = [train(spec, data, args, s, lr=ISSUE_LR).test_acc for s in args.seeds]
    diffs = [a - b for a, b in zip(fast, same, strict=True)]
    spread = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    return [
        "## Mask sampler check",
        "",
        f"Issue set-up (lr {ISSUE_LR}, `{spec}`), seeds {args.seeds[0]}–{args.seeds[-1]}: test "
        "accuracy with headkit's fast CPU mask sampler against the same runs with "
        "`torch.nn.functional.dropout`'s masks (`torch_masks()`).",
        "",
        f"- fast sampler: mean {100 * statistics.mean(fast):.2f} % "
        f"(min {100 * min(fast):.1f}, max {100 * max(fast):.1f})",
        f"- torch masks: mean {100 * statistics.mean(same):.2f} % "
        f"(min {100 * min(same):.1f}, max {100 * max(same):.1f})",
        f"- difference: {100 * statistics.mean(diffs):+.2f} ± {100 * spread:.2f} points "
        f"(mean ± standard error over {len(diffs)} seeds; fast sampler lower on "
        f"{sum(d < 0 for d in diffs)}, higher on {sum(d > 0 for d in diffs)})",
    ]


MULTISAMPLE_RATES = (0.3, 0.5)
MULTISAMPLE_KS = (1, 4, 8)


def multisample_section(
    data: tuple[torch.Tensor, ...],
    args: argparse.Namespace,
    runs: dict[str, Run],
) -> tuple[list[str], list[Run]]:
    """k = 1, 4, 8 masks at p = 0.3 and 0.5 over the seeds; reuses the variant table's runs.

    Returns the section's lines and the runs it trained.
    """
    lines = [
        "## Multi-sample dropout over seeds: k = 1, 4, 8 at p = 0.3 and p = 0.5",
        "",
        f"Same set-up as the table above (lr {args.lr}); `multisample:k=…,p=…` (k=1 is standard "
        "dropout, `standard:p=…`). Epochs to target = first epoch whose clean training CE reaches it.",
        "",
        f"| p | k | seed | test acc | {targets_header(args.targets)} | final train CE | s / epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    extra: list[Run] = []
    summary = []
    for p in MULTISAMPLE_RATES:
        means = {}
        for k in MULTISAMPLE_KS:
            spec = f"standard:p={p}" if k == 1 else f"multisample:k={k},p={p}"
            seeded = []
            for seed in args.seeds:
                if seed == args.seeds[0] and spec in runs:
                    seeded.append(runs[spec])
                else:
                    seeded.append(train(spec, data, args, seed))
                    extra.append(seeded[-1])
            for run in seeded:
                lines.append(
                    f"| {p} | {k} | {run.seed} | {100 * run.test_acc:.1f} % | "
                    f"{run.reach(args.targets)} | {run.train_loss[-1]:.4f} | {run.sec_per_epoch:.3f} |"
                )
                print(lines[-1], flush=True)
            reached = [run.epochs_to(args.targets[1]) for run in seeded]
            means[k] = (
                statistics.mean(r.test_acc for r in seeded),
                statistics.mean(reached) if all(reached) else None,
                statistics.mean(r.sec_per_epoch for r in seeded),
            )
            lines.append(
                f"| {p} | {k} | mean | {100 * means[k][0]:.2f} % | | "
                f"{statistics.mean(r.train_loss[-1] for r in seeded):.4f} | {means[k][2]:.3f} |"
            )
        acc1, ep1, t1 = means[1]
        for k in MULTISAMPLE_KS[1:]:
            acc, ep, t = means[k]
            fewer = f"{100 * (1 - ep / ep1):.0f} % fewer epochs" if ep and ep1 else "—"
            summary.append(
                f"- p={p}, k={k} vs k=1: {100 * (acc - acc1):+.2f} points test accuracy, "
                f"{fewer} to train CE ≤ {args.targets[1]}, {t / t1:.2f}× the time per epoch."
            )
    return [*lines, "", *summary], extra


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
    parser.add_argument(
        "--section",
        choices=["all", "issue", "multisample", "masks"],
        default="all",
        help="'issue', 'multisample' or 'masks': only that section, spliced into the existing "
        "results file ('masks' is not part of 'all'; run it with many --seeds)",
    )
    parser.add_argument(
        "--rerun-plain", action="store_true", help="measure the plain-loop reference again"
    )
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.hidden, args.seeds = 4, [64, 64], [0]
    torch.set_num_threads(args.threads)
    data = load_mnist1d()
    suffix = "_quick" if args.quick else ""

    if args.section != "all":
        path = RESULTS / f"dropout_variants{suffix}.md"
        if args.section == "issue":
            section = issue_section(data, args)
        elif args.section == "masks":
            section = masks_section(data, args)
        else:
            section = multisample_section(data, args, {})[0]
        text = splice_section(path, section)
        RESULTS.mkdir(exist_ok=True)
        path.write_text(text)
        print(text)
        return

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
        f"| variant | spec | test acc | {targets_header(args.targets)} | final train CE "
        "| s / epoch | time vs standard |",
        "|---|---|---|---|---|---|---|",
    ]
    runs: dict[str, Run] = {}
    for label, spec in VARIANTS:
        run = train(spec, data, args, args.seeds[0])
        runs[spec] = run
        print(f"{label}: acc {run.test_acc:.4f}, epochs {run.reach(args.targets)}", flush=True)
    base = runs["standard:p=0.3"].sec_per_epoch
    for label, spec in VARIANTS:
        run = runs[spec]
        lines.append(
            f"| {label} | `{spec}` | {100 * run.test_acc:.1f} % | {run.reach(args.targets)} | "
            f"{run.train_loss[-1]:.4f} | {run.sec_per_epoch:.3f} | "
            f"{run.sec_per_epoch / base:.2f}x |"
        )

    section, extra = multisample_section(data, args, runs)
    lines += ["", *section]

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

    lines += ["", *issue_section(data, args)]

    RESULTS.mkdir(exist_ok=True)
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
    path = RESULTS / f"dropout_variants{suffix}.md"
    text = "\n".join([*lines, *kept_section(path, "## Mask sampler check")]) + "\n"
    path.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
