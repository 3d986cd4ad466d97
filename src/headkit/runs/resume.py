"""Resuming an interrupted run: where it stands, what a resume may change, and finishing it.

``headkit train --resume RUN`` says :func:`resume_point` first (the epoch it goes on from),
then calls :func:`resume_run`, which refuses any setting the saved run cannot honour.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from headkit.exceptions import ConfigError
from headkit.runs.directory import REQUEST, RunDirectory, staging_path
from headkit.runs.train import (
    RunResult,
    TrainRequest,
    _checkpointed_epoch,
    _data,
    _execute,
    planned_epochs,
)

RESUMABLE = frozenset({"report", "verbose"})  # what a resume may change: output, not the fit


def resume_point(out: Path) -> tuple[int, int] | None:
    """Return (epochs done, epochs in all) of the interrupted run at ``out``, claiming nothing.

    None when ``out`` has no interrupted run (:func:`resume_run` then says so).
    """
    from headkit.training.checkpoint import CHECKPOINT, read_checkpoint_info

    staging = staging_path(Path(out))
    if not (staging / REQUEST).is_file():
        return None
    path = staging / "checkpoint" / CHECKPOINT
    if path.is_file():
        info = read_checkpoint_info(path)
        return int(info["epoch"]), int(info["epochs"])
    saved = json.loads((staging / REQUEST).read_text(encoding="utf-8"))
    return 0, planned_epochs(saved.get("params", {}))


def _plain(value: Any) -> Any:
    """A value as JSON gives it back: tuples as lists (the saved request went through JSON)."""
    return json.loads(json.dumps(value, default=str))


def _resumed_request(saved: TrainRequest, changes: dict[str, Any]) -> TrainRequest:
    """Apply what a resume may change (``RESUMABLE``); refuse the rest, naming each flag."""
    from headkit.estimator.presets import apply_preset, library_defaults

    fields = {f.name for f in dataclasses.fields(TrainRequest)}
    # what the fit used: "auto" resolved, the default for a parameter the request left out
    used = {**library_defaults(), **apply_preset(saved.params.get("preset"), saved.params)}
    refused = []
    for key, value in changes.items():
        before = getattr(saved, key) if key in fields else used.get(key)
        if key not in RESUMABLE and _plain(value) != _plain(before):
            refused.append(f"--{key.replace('_', '-')} {value} (the run has {before})")
    if refused:
        raise ConfigError(
            f"A resumed run continues with its saved settings and cannot take {', '.join(refused)}; "
            "drop those flags, or start a new run with them (--overwrite replaces this one)."
        )
    params = {**saved.params, **{k: v for k, v in changes.items() if k == "verbose"}}
    report = changes.get("report", saved.report)
    return dataclasses.replace(saved, params=params, report=bool(report))


def resume_run(
    out: Path,
    verbose: int | None = None,
    callbacks: tuple = (),
    changes: dict[str, Any] | None = None,
) -> RunResult:
    """Finish the interrupted run at ``out`` from its last checkpoint (same request, same data).

    Parameters
    ----------
    out : Path
        The run directory the interrupted run was writing.
    verbose : int, optional
        Progress output for the rest of the fit.
    callbacks : tuple of headkit.training.Callback
    changes : dict, optional
        Settings (``TrainRequest`` fields or estimator parameters) given again for the resume:
        ``report`` and ``verbose`` apply; any other value that differs from the saved one is
        refused with a :class:`ConfigError` naming each flag (a resume cannot honour it).

    ``metrics.json``'s ``seconds`` counts the whole fit: this part's wall time plus the epoch
    times of the epochs the checkpoint restored; ``resumed_at_epoch`` says where it went on.
    """
    started = time.perf_counter()
    changes = dict(changes or {})
    if verbose is not None:
        changes["verbose"] = verbose
    run = RunDirectory.reclaim(out)
    try:
        request = _resumed_request(TrainRequest.from_dict(run.read_request()), changes)
        data = _data(request)
        done, _ = _checkpointed_epoch(run)
    except BaseException:
        run.release()
        raise
    request = dataclasses.replace(request, out=out)
    return _execute(request, run, data, callbacks, started, resumed_at=done)
