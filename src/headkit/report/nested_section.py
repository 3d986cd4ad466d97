"""The report's "Nested dropout: width" section: validation accuracy at each cut K (B5)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from headkit.report.plots import _save

CAPTION = (
    "Validation accuracy of the network cut to its first K units of the last hidden layer "
    "(trained with nested dropout); the dashed line marks the deployed width, the smallest K "
    "within the accuracy budget of the best."
)


def accuracy_vs_width(curve: dict[str, Any], width: int | None, path: str | Path) -> Path:
    """Draw accuracy against K, with the chosen width marked."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(curve["widths"], curve["accuracy"], marker=".", color="tab:blue")
    if width is not None:
        ax.axvline(width, color="tab:red", linestyle="--", label=f"deployed K = {width}")
        ax.legend()
    ax.set(xlabel="width K of the last hidden layer", ylabel="validation accuracy")
    if max(curve["widths"]) > 32:
        ax.set_xscale("log")
    return _save(fig, path)


def render_section(
    curve: dict[str, Any] | None, width: int | None, out: Path, fmt: Any
) -> list[str]:
    """Draw the picture into ``out`` and return the section's HTML parts (empty without a curve)."""
    if not curve:
        return []
    accuracy_vs_width(curve, width, out / "nested_width.png")
    caption = html.escape(CAPTION)
    rows = "".join(
        f"<tr><td>{k}</td><td>{fmt(a)}</td><td>{'deployed' if k == width else ''}</td></tr>"
        for k, a in zip(curve["widths"], curve["accuracy"], strict=True)
    )
    return [
        "<h2>Nested dropout: width</h2>",
        f'<figure><img src="nested_width.png" alt="{caption}"><figcaption>{caption}</figcaption></figure>',
        f"<table><tr><th>K</th><th>validation accuracy</th><th></th></tr>{rows}</table>",
    ]
