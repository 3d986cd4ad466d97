"""More sections of the tabular suite's report: each headkit entry against the field alone, and
the code each headkit entry was fitted at (see ``tabular_cache.find_entry``)."""

from __future__ import annotations

from tabular_report import BASE, _table, ranks


def field_sections(results, contestants) -> list[str]:
    """Each headkit contestant ranked with the field only (not with the other headkit entry)."""
    own = [c for c in contestants if c.startswith(BASE)]
    field = [c for c in contestants if not c.startswith(BASE)]
    lines = []
    for h in own if len(own) > 1 else []:
        group = [h, *field]
        acc_r, ll_r = ranks(results, group, "acc"), ranks(results, group, "logloss")
        rows = [
            [c, f"{acc_r[c][0]:.2f}", f"{ll_r[c][0]:.2f}", str(acc_r[c][1])]
            for c in sorted(group, key=lambda c: acc_r[c][0])
        ]
        lines += ["", f"### `{h}` against the field (without the other headkit entry)", ""]
        lines += _table(["contestant", "accuracy rank", "log-loss rank", "tables"], rows)
    return lines


def code_section(results) -> list[str]:
    """Which code each contestant's shown entries were fitted at (stale: older than now)."""
    rows = [
        [c, code, str(n)] for c, codes in results["code"].items() for code, n in codes.items()
        if c.startswith("headkit")
    ]  # fmt: skip
    if not rows:
        return []
    return [
        "",
        "## Code the headkit entries were fitted at",
        "",
        'An entry of older code ("stale") is shown when the current source has none, so that a',
        "change elsewhere in src/ does not drop results; refit to replace it.",
        "",
        *_table(["contestant", "commit (source hash)", "fits"], rows),
    ]
