"""Aggregation and Markdown for ``tabular_suite.py``: per-table tables, ranks, paired
differences, wins/ties/losses, fit-time ratios, the large table and conformal coverage.

Conventions: a table's figure for a contestant is the mean over the splits it has; ranks are
within each table over the contestants that have a result there (1 = best, ties averaged) and
then averaged over tables; paired differences are headkit's default minus the contestant, first
averaged over the splits both have on a table, then mean ± standard error over tables; a per-
table accuracy difference within ±0.5 points, or a log-loss within ±1 % of the contestant's,
counts as a tie.
"""

from __future__ import annotations

import math
import platform
import subprocess
import time
from typing import Any

import numpy as np

METRICS = ("acc", "logloss", "ece", "fit_s")
BASE = "headkit"
ACC_TIE = 0.005
LOGLOSS_TIE = 0.01


SET_VARIANTS = ("aps", "raps", "aps-det")


def _mean_sets(done: list[dict], field: str | None) -> dict[str, Any]:
    """Mean coverage and size per variant over entries (``field``: where the variants sit)."""
    got = [e[field] if field else e for e in done]
    return {
        v: {m: float(np.mean([g[v][m] for g in got if v in g])) for m in ("coverage", "size")}
        for v in SET_VARIANTS
        if any(v in g for g in got)
    } | {"n": len(done)}


def collect(find, tables, contestants, splits, split_of, prior_logloss) -> dict:
    """Gather every cached entry of ``tables`` × ``contestants`` × splits into one dict.

    ``find(table, split, contestant)`` returns the cached entry (or one of older code marked
    ``stale``, see ``tabular_cache.find_entry``) or None.
    """
    out: dict[str, Any] = {"tables": {}, "conformal": {}, "predict_set": {}, "code": {}}
    for table in tables:
        priors, by = [], {}
        for s in range(splits):
            data, info = split_of(table, s)
            priors.append(prior_logloss(data.y_train, data.y_test, data.n_classes))
        for c in contestants:
            entries = [find(table, s, c) for s in range(splits)]
            done = [e for e in entries if e and "acc" in e]
            for e in done:
                code = f"{e.get('commit', '?')} ({e.get('code', '?')})" + (
                    ", stale" if e.get("stale") else ""
                )
                out["code"].setdefault(c, {}).setdefault(code, 0)
                out["code"][c][code] += 1
            with_sets = [e for e in done if e.get("sets")]
            if with_sets:
                out["predict_set"].setdefault(table, {})[c] = _mean_sets(with_sets, "sets")
            notes = sorted({e.get("skipped") or e.get("error") for e in entries if e} - {None})
            mean = {m: float(np.mean([e[m] for e in done])) for m in METRICS} if done else None
            timed = [e["fit_cpu_s"] for e in done if "fit_cpu_s" in e]
            if timed:  # CPU seconds: entries of older runs have none
                mean["fit_cpu_s"] = float(np.mean(timed))
            by[c] = {"mean": mean, "n": len(done), "notes": notes, "splits": entries}
            if done and "peak_rss_mb" in done[0]:
                by[c]["peak_rss_mb"] = max(e["peak_rss_mb"] for e in done)
                by[c]["rss_before_fit_mb"] = max(e["rss_before_fit_mb"] for e in done)
        out["tables"][table] = {"info": info, "prior": float(np.mean(priors)), "by": by}
        sets = {}
        for c in contestants:
            done = [find(table, s, f"conformal:{c}") for s in range(splits)]
            done = [e for e in done if e and "aps" in e]
            if done:
                sets[c] = _mean_sets(done, None)
        out["conformal"][table] = sets
    return out


def _mean(results, table, c, metric):
    m = results["tables"][table]["by"].get(c, {}).get("mean")
    return None if m is None else m.get(metric)


def _cell(results, table, c, metric, fmt, splits):
    entry = results["tables"][table]["by"].get(c)
    if entry is None or entry["mean"] is None:
        return "skip" if entry and any("budget" in n for n in entry["notes"]) else "—"
    text = fmt(entry["mean"][metric])
    return text if entry["n"] == splits else f"{text} ({entry['n']}/{splits})"


def ranks(results, contestants, metric) -> dict[str, tuple[float, int]]:
    higher_better = metric == "acc"
    per: dict[str, list[float]] = {c: [] for c in contestants}
    for table in results["tables"]:
        vals = {c: _mean(results, table, c, metric) for c in contestants}
        vals = {c: v for c, v in vals.items() if v is not None}
        for c, v in vals.items():
            better = sum((w > v) if higher_better else (w < v) for w in vals.values())
            equal = sum(w == v for w in vals.values())
            per[c].append(better + (equal + 1) / 2)
    return {c: (float(np.mean(r)) if r else math.nan, len(r)) for c, r in per.items()}


def paired(results, other, metric) -> tuple[list[float], list[float]]:
    """Per-table headkit − other (splits both have), and the other's per-table values."""
    diffs, refs = [], []
    for t in results["tables"].values():
        a, b = t["by"].get(BASE), t["by"].get(other)
        if not a or not b:
            continue
        pairs = [
            (x[metric], y[metric])
            for x, y in zip(a["splits"], b["splits"], strict=True)
            if x and y and "acc" in x and "acc" in y
        ]
        if pairs:
            diffs.append(float(np.mean([x - y for x, y in pairs])))
            refs.append(float(np.mean([y for _, y in pairs])))
    return diffs, refs


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def per_table_sections(results, contestants, splits) -> list[str]:
    fmts = {
        "acc": ("Accuracy (%)", lambda v: f"{100 * v:.1f}"),
        "logloss": ("Log-loss", lambda v: f"{v:.3f}"),
        "ece": ("ECE", lambda v: f"{v:.3f}"),
        "fit_s": ("Fit time (s)", lambda v: f"{v:.2f}"),
    }
    lines: list[str] = []
    for metric, (title, fmt) in fmts.items():
        lines += ["", f"### {title}", ""]
        header = ["table", "rows", "C", "text", "gaps"] + (["prior"] if metric == "logloss" else [])
        rows = []
        for name, t in results["tables"].items():
            i = t["info"]
            row = [name, f"{i['rows']:,}", str(i["classes"]), str(i["text"]), str(i["gaps"])]
            if metric == "logloss":
                row.append(f"{t['prior']:.3f}")
            rows.append(row + [_cell(results, name, c, metric, fmt, splits) for c in contestants])
        lines += _table(header + contestants, rows)
    notes = [
        f"- {name} / {c}: {'; '.join(b['notes'])}"
        for name, t in results["tables"].items()
        for c, b in t["by"].items()
        if b["notes"]
    ]
    if notes:
        lines += [
            "",
            "Skipped or failed fits (the cell shows `skip`, `—` or k/splits):",
            "",
            *notes,
        ]
    return lines


def summary_sections(results, contestants) -> list[str]:
    acc_r, ll_r = ranks(results, contestants, "acc"), ranks(results, contestants, "logloss")
    times = {}
    for c in contestants:
        ts = [_mean(results, t, c, "fit_s") for t in results["tables"]]
        ts = [v for v in ts if v is not None]
        times[c] = float(np.exp(np.mean(np.log(ts)))) if ts else math.nan
    lines = ["", "## Mean ranks and fit time", ""]
    rows = []
    for c in sorted(contestants, key=lambda c: ll_r[c][0]):
        ratio = _time_ratio(results, c, "realmlp")
        cpu_ratio = _time_ratio(results, c, "realmlp", "fit_cpu_s")
        row = [c, f"{acc_r[c][0]:.2f}", f"{ll_r[c][0]:.2f}", str(ll_r[c][1]), f"{times[c]:.2f}"]
        rows.append([*row, ratio, cpu_ratio])
    header = ["contestant", "accuracy rank", "log-loss rank", "tables", "geo-mean fit s"]
    lines += _table(
        [*header, "fit time / RealMLP (same tables)", "fit CPU time / RealMLP (same tables)"], rows
    )
    lines += [
        "",
        f"## Paired differences: {BASE} − contestant (per-table means, ± SE over tables)",
        "",
    ]
    rows = []
    for c in contestants:
        if c == BASE:
            continue
        da, _ = paired(results, c, "acc")
        dl, ref = paired(results, c, "logloss")
        if not da:
            continue
        rel = [d / r for d, r in zip(dl, ref, strict=True)]
        w_a = _wtl([d for d in da], ACC_TIE, higher_better=True)
        w_l = _wtl(rel, LOGLOSS_TIE, higher_better=False)
        rows.append([c, _pm(100 * np.asarray(da)), _pm(np.asarray(dl)), w_a, w_l, str(len(da))])
    header = ["vs", "Δ accuracy (points)", "Δ log-loss", "acc W/T/L", "log-loss W/T/L", "tables"]
    lines += _table(header, rows)
    return lines


def _time_ratio(results, c, ref, metric: str = "fit_s") -> str:
    """Geometric mean over tables of ``c``'s ``metric`` (wall or CPU seconds) over ``ref``'s."""
    logs = []
    for t in results["tables"]:
        a, b = _mean(results, t, c, metric), _mean(results, t, ref, metric)
        if a is not None and b is not None:
            logs.append(math.log(a / b))
    return f"{math.exp(np.mean(logs)):.3f} ({len(logs)})" if logs else "—"


def _pm(x: np.ndarray) -> str:
    se = x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else math.nan
    return f"{x.mean():+.3f} ± {se:.3f}"


def _wtl(diffs, tie, higher_better) -> str:
    win = sum((d > tie) if higher_better else (d < -tie) for d in diffs)
    loss = sum((d < -tie) if higher_better else (d > tie) for d in diffs)
    return f"{win}/{len(diffs) - win - loss}/{loss}"


def targets_section(results) -> list[str]:
    above_prior, above_logreg = [], []
    for name, t in results["tables"].items():
        h, lr = _mean(results, name, BASE, "logloss"), _mean(results, name, "logreg", "logloss")
        if h is None:
            continue
        if h > t["prior"]:
            above_prior.append(f"{name} ({h:.3f} > {t['prior']:.3f})")
        if lr is not None and h > 1.05 * lr:
            above_logreg.append(f"{name} ({h:.3f} vs {lr:.3f})")
    return [
        "",
        f"## Issue 22 checks for `{BASE}`",
        "",
        f"- log-loss above the class prior's: {len(above_prior)} — {', '.join(above_prior) or 'none'}",
        f"- log-loss > 1.05 × LogisticRegression's: {len(above_logreg)} — "
        f"{', '.join(above_logreg) or 'none'}",
    ]


def large_section(results, threshold) -> list[str]:
    lines = []
    for name, t in results["tables"].items():
        if t["info"]["rows"] < threshold:
            continue
        lines += [
            "",
            f"## Large table: {name} ({t['info']['rows']:,} rows), one subprocess per fit",
            "",
        ]
        rows = []
        for c, b in t["by"].items():
            if b["mean"] is None:
                rows.append([c, "; ".join(b["notes"]) or "not run", "", "", "", ""])
                continue
            m = b["mean"]
            rows.append([
                c, f"{m['fit_s']:.1f}", f"{b['peak_rss_mb']:.0f}",
                f"{b['peak_rss_mb'] - b['rss_before_fit_mb']:.0f}",
                f"{100 * m['acc']:.2f}", f"{m['logloss']:.4f}",
            ])  # fmt: skip
        header = ["contestant", "fit s", "peak RSS MB", "RSS growth in fit MB", "acc %", "log-loss"]
        lines += _table(header, rows)
        h, lg = _mean(results, name, BASE, "fit_s"), _mean(results, name, "lgbm", "fit_s")
        if h is not None and lg is not None:
            lines += ["", f"{BASE} / LightGBM fit time on {name}: {h / lg:.1f}× (target ≤ 10×)."]
    return lines


def _sets_table(conf: dict, title: str, intro: list[str]) -> list[str]:
    names = sorted({c for t in conf.values() for c in t})
    if not names:
        return []
    lines = ["", title, "", *intro, ""]
    header = ["table"] + [f"{c} {v} cov / size" for c in names for v in SET_VARIANTS]
    rows, means = [], {(c, v): [] for c in names for v in SET_VARIANTS}
    for table, by in conf.items():
        row = [table]
        for c in names:
            for v in SET_VARIANTS:
                if c in by and v in by[c]:
                    row.append(f"{by[c][v]['coverage']:.3f} / {by[c][v]['size']:.2f}")
                    means[(c, v)].append((by[c][v]["coverage"], by[c][v]["size"]))
                else:
                    row.append("—")
        rows.append(row)
    mean_row = ["**mean**"]
    for vals in means.values():
        cov = np.mean([a for a, _ in vals]) if vals else math.nan
        size = np.mean([b for _, b in vals]) if vals else math.nan
        mean_row.append(f"**{cov:.3f} / {size:.2f}** ({len(vals)})")
    return lines + _table(header, [*rows, mean_row])


def conformal_section(results) -> list[str]:
    title = "## Split-conformal prediction sets, α = 0.1 (target coverage 0.90 ± 0.02)"
    lines = _sets_table(
        {t: by for t, by in results["predict_set"].items() if by},
        f"{title}: `predict_set`, what a user gets",
        [
            "headkit's own fit (the table above): `predict_set(X_test, 0.1, method)` with the",
            "scores of the rows the fit held out (they also chose the epoch and the temperature).",
            "aps (the default) and raps: randomised, `u` hashed from each row, sets may be empty;",
            "aps-det: `u = 1`, the top class always in. Mean over splits, then over tables (n).",
        ],
    )
    lines += _sets_table(
        {t: by for t, by in results["conformal"].items() if by},
        f"{title}: any model's probabilities",
        [
            "Each contestant refitted on 80 % of the training split, calibrated on the other 20 %,",
            "sets scored on the test split with `headkit.evaluation.conformal`'s defaults (aps,",
            "raps: randomised, seeded; raps λ = 0.01, k_reg = 1) and `randomized=False` (aps-det).",
        ],
    )
    return lines


def render(results, args, contestants_spec) -> str:
    import tabular_report_extra as extra

    contestants = [c for c in contestants_spec if any(
        t["by"].get(c, {}).get("mean") for t in results["tables"].values()
    )]  # fmt: skip
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if "Model name" in ln), "?"
    )
    lines = [
        "# Tabular suite: headkit against the tabular field",
        "",
        f"Written by `benchmarks/tabular_suite.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())};"
        f" CPU {model} ({platform.machine()}), {args.threads} threads per fit, one fit at a time"
        f" under `flock {args.lock}`; {args.splits} split(s){', --quick' if args.quick else ''};"
        f" fit budget {args.budget:.0f} s.",
        "",
        "Contestants (library defaults; random_state = split seed):",
        "",
        *[f"- `{c}`: {spec[0]}" for c, spec in contestants_spec.items()],
        "",
        "Preprocessing of raw tables: see `benchmarks/tabular_contestants.py` ('scaled': median",
        "imputation + missing indicators + StandardScaler, one-hot text; 'ordinal': numeric as is",
        "with NaN, ordinal-coded text; 'frame': median-imputed numeric, text as pandas category).",
        "Log-loss on probabilities clipped to [1e-7, 1] and renormalised; ECE: 15 equal bins.",
        "",
        "## Per table (mean over splits)",
    ]
    fits = [
        e for t in results["tables"].values() for b in t["by"].values() for e in b["splits"]
        if e and "fit_s" in e
    ]  # fmt: skip
    unlocked = [e for e in fits if not e.get("locked", True)]
    loads = [e["load1"] for e in fits if "load1" in e]
    if loads:
        lines += [
            "",
            f"Host load (1-min average) when the fits ended: median {np.median(loads):.1f},"
            f" max {max(loads):.1f} on 2 cores. {len(unlocked)} of {len(fits)} fits ran without"
            " the bench lock (other benchmarks may have run beside them): their fit times are"
            " indicative only.",
        ]
    lines += per_table_sections(results, contestants, args.splits)
    lines += summary_sections(results, contestants)
    lines += extra.field_sections(results, contestants)
    lines += targets_section(results)
    lines += large_section(results, args.subprocess_rows)
    lines += conformal_section(results)
    lines += extra.code_section(results)
    return "\n".join(lines) + "\n"
