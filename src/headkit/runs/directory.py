"""Run directories, claimed before training and replaced as one unit when the run is done.

A run to ``OUT`` works in a staging directory beside it, ``.OUT.partial``, which is created
atomically (a prepared temporary directory renamed into place, so exactly one process wins) and
held with an advisory lock for as long as the run's process lives. The staging directory holds
the request (``request.json``), the checkpoints (``checkpoint/``) and, at the end, the finished
run (``result/``), which is renamed to ``OUT`` in one step. A killed run leaves its staging
directory, unlocked: ``headkit train --resume OUT`` picks it up.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from headkit.exceptions import ConfigError, RunClaimedError
from headkit.io import CONFIG, follow_umask

try:  # advisory locks: POSIX only; elsewhere a claim is never considered abandoned
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOCK = "lock.json"
REQUEST = "request.json"


def staging_path(out: Path) -> Path:
    """Return the staging directory of the run directory ``out``."""
    return out.parent / f".{out.name}.partial"


def _lock(path: Path) -> int | None:
    """Open ``path`` and take an exclusive, non-blocking lock; return the fd or None if held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _owner() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(sys.argv),
    }


def describe_owner(staging: Path) -> str:
    """Say who holds (or held) a staging directory: pid, host and start time."""
    try:
        owner = json.loads((staging / LOCK).read_text())
        return f"pid {owner['pid']} on {owner['host']}, started {owner['started']}"
    except (OSError, ValueError, KeyError):
        return "owner unknown"


class RunDirectory:
    """A claimed run: its staging directory and the lock that owns it.

    Use :meth:`claim` (a new run) or :meth:`reclaim` (resume); finish with :meth:`commit`, or
    :meth:`release` to leave the staging directory for a later resume.
    """

    def __init__(self, out: Path, lock_fd: int) -> None:
        self.out = out
        self.staging = staging_path(out)
        self._lock_fd: int | None = lock_fd

    @property
    def checkpoint_dir(self) -> Path:
        """Where the trainer writes its checkpoints."""
        return self.staging / "checkpoint"

    @property
    def result_dir(self) -> Path:
        """Where the finished run is assembled before it becomes ``out``."""
        return self.staging / "result"

    @classmethod
    def claim(cls, out: Path, overwrite: bool = False) -> RunDirectory:
        """Claim ``out`` for a new run, before any training.

        Raises
        ------
        ConfigError
            ``out`` exists (without ``overwrite``), or its parent cannot be written.
        RunClaimedError
            Another run holds ``out``, or an interrupted one waits to be resumed there.
        """
        if out.exists() and not overwrite:
            raise ConfigError(
                f"{out} already exists; pass --overwrite to replace it or choose another --out."
            )
        staging = staging_path(out)
        with _writable(out.parent):
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.claim-"))
        fd = os.open(tmp / LOCK, os.O_RDWR | os.O_CREAT, 0o666)  # fresh: nobody else holds it
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, json.dumps(_owner()).encode())
        follow_umask(tmp, directory=True)
        try:
            os.rename(tmp, staging)  # fails when staging exists (it is never empty)
        except OSError:
            os.close(fd)
            shutil.rmtree(tmp, ignore_errors=True)
            if not (overwrite and _remove_abandoned(staging)):
                raise _claimed(out, staging) from None
            return cls.claim(out, overwrite)
        return cls(out, fd)

    @classmethod
    def reclaim(cls, out: Path) -> RunDirectory:
        """Take over the staging directory of an interrupted run to resume it."""
        staging = staging_path(out)
        if not (staging / REQUEST).is_file():
            hint = " (it is a finished run)" if (out / CONFIG).is_file() else ""
            raise ConfigError(
                f"No interrupted run to resume at {out}{hint}; start one with `headkit train`."
            )
        fd = _lock(staging / LOCK)
        if fd is None:
            raise RunClaimedError(
                f"{out} is still being trained by another process ({describe_owner(staging)}); "
                "wait for it to finish or stop it first."
            )
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_owner()).encode())
        return cls(out, fd)

    def write_request(self, request: dict[str, Any]) -> None:
        """Store what was asked, so that ``--resume`` can repeat it."""
        from headkit.io import atomic_write_text

        atomic_write_text(self.staging / REQUEST, json.dumps(request, indent=2))

    def read_request(self) -> dict[str, Any]:
        """Return what :meth:`write_request` stored."""
        return json.loads((self.staging / REQUEST).read_text(encoding="utf-8"))

    def commit(self, overwrite: bool = False) -> Path:
        """Move the finished ``result/`` to ``out`` in one rename and drop the staging directory."""
        from headkit.io import replace_directory

        replace_directory(self.result_dir, self.out, overwrite=overwrite)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.release()
        return self.out

    def release(self, keep: bool = True) -> None:
        """Give up the claim; with ``keep=False`` also delete the staging directory."""
        if not keep:
            shutil.rmtree(self.staging, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


@contextlib.contextmanager
def _writable(parent: Path):
    """Turn a failure to create the run's directories into one sentence."""
    try:
        yield
    except PermissionError:
        raise ConfigError(
            f"Cannot create a run directory in {parent} (permission denied); choose a writable "
            "--out."
        ) from None
    except OSError as error:
        raise ConfigError(
            f"Cannot create a run directory in {parent} ({error.strerror}); choose another --out."
        ) from None


def _remove_abandoned(staging: Path) -> bool:
    """Delete a staging directory nobody holds; return False when a live run holds it."""
    if not staging.exists():
        return True
    fd = _lock(staging / LOCK)
    if fd is None:
        return False
    shutil.rmtree(staging, ignore_errors=True)
    os.close(fd)
    return True


def _claimed(out: Path, staging: Path) -> RunClaimedError:
    fd = _lock(staging / LOCK) if staging.exists() else None
    if fd is None:
        return RunClaimedError(
            f"{out} is being written by another headkit run ({describe_owner(staging)}); wait "
            "for it to finish or choose another --out."
        )
    os.close(fd)
    return RunClaimedError(
        f"{out} holds an interrupted run ({describe_owner(staging)}); resume it with "
        f"`headkit train --resume {out}` or pass --overwrite to start again."
    )
