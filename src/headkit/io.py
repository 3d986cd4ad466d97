"""Save and load models: safetensors weights + JSON config, written atomically, no pickle.

A model directory holds ``model.safetensors`` (the state dict) and ``config.json`` (format name and
version, the network config, and metadata such as label names). :func:`save` builds the whole
directory under a temporary name beside the target and renames it into place, so an interrupted
save never leaves a half-written model; an existing directory is replaced as one unit, only after
the new one is complete (no file of the older save survives). Files and directories get the
modes the umask gives.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headkit.exceptions import ModelFileError

if TYPE_CHECKING:
    from headkit.nn.network import HeadNet

FORMAT = "headkit"
# The newest format this headkit reads. Version 2 stores pruned weight matrices compactly
# (headkit.sparse_storage); a save without such a matrix still writes version 1, which any
# headkit reads.
FORMAT_VERSION = 2
# The files of a model or run directory, named here once.
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
PREPROCESSING = "preprocessing.json"  # a table run's fitted TablePreprocessor (JSON)
OOD_STATISTICS = "mahalanobis.safetensors"  # the Mahalanobis detector's class means and precision
CONFORMAL = "conformal.safetensors"  # the held-out rows' conformal scores (prediction sets)
METRICS = "metrics.json"  # a CLI run's metrics per split
HISTORY = "history.csv"  # a CLI run's per-epoch history


def _umask() -> int:
    """Return the process umask without changing it (Linux), else by setting it back."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(path: str | Path, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have (temporary files get 0600)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it into place.

    Readers of ``path`` see the old file or the complete new one, never a partial write; on
    any error (or interruption) the temporary file is removed and ``path`` is untouched. The
    file gets the mode the umask gives new files.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        follow_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str | bytes) -> Path:
    """Write ``text`` (or bytes) to ``path`` atomically; see :func:`atomic_write`."""

    def write(tmp: Path) -> None:
        if isinstance(text, bytes):
            tmp.write_bytes(text)
        else:
            tmp.write_text(text, encoding="utf-8")

    return atomic_write(path, write)


def replace_directory(source: Path, target: Path, overwrite: bool = True) -> Path:
    """Rename directory ``source`` to ``target``; an existing ``target`` goes as one unit.

    The old ``target`` is moved aside first and deleted only once ``source`` is in place (and
    put back if that rename fails), so ``target`` is always one complete directory.

    Raises
    ------
    ModelFileError
        ``target`` is a file, or exists and ``overwrite`` is false.
    """
    if target.exists() and not target.is_dir():
        raise ModelFileError(f"{target} is a file; choose a directory path for the model.")
    if not target.exists():
        os.replace(source, target)
        return target
    if not overwrite:
        raise ModelFileError(f"{target} already exists; choose another path or allow overwriting.")
    retired = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    try:
        os.replace(target, retired / "previous")
        try:
            os.replace(source, target)
        except BaseException:
            os.rename(retired / "previous", target)  # put the old directory back
            raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)
    return target


def write_directory(
    target: str | Path, files: dict[str, bytes | str], overwrite: bool = True
) -> Path:
    """Create directory ``target`` holding exactly ``files`` (name → content), atomically.

    The directory is assembled under a temporary name beside ``target`` and renamed into place;
    an existing ``target`` is replaced as a whole, so no file of an older save survives.

    Raises
    ------
    ModelFileError
        If ``target`` exists and ``overwrite`` is false, or it is a file.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise ModelFileError(f"{target} is a file; choose a directory path for the model.")
    if target.exists() and not overwrite:
        raise ModelFileError(f"{target} already exists; choose another path or allow overwriting.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        follow_umask(staging, directory=True)
        for name, content in files.items():
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(staging / name, mode) as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
        replace_directory(staging, target, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def save(
    model: HeadNet,
    path: str | Path,
    metadata: dict[str, Any] | None = None,
    extra_files: dict[str, bytes | str] | None = None,
) -> Path:
    """Save a :class:`headkit.nn.HeadNet` to a directory.

    Parameters
    ----------
    model : HeadNet
        The network; its config and every parameter and buffer (temperature, standardisation)
        are saved.
    path : str or Path
        Directory to create or replace.
    metadata : dict, optional
        JSON-serialisable extras stored under ``"metadata"`` (label names, training config).
    extra_files : dict, optional
        More files (name → text or bytes) written in the same atomic step (metrics, history).

    Returns
    -------
    Path
        The directory written.
    """
    from safetensors.torch import save as to_bytes

    from headkit.sparse_storage import pack

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors, header = pack(state)  # pruned matrices as bitmask + values (dense ones unchanged)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION if header else 1,
        "network": model.config.to_dict(),
        "resolved": model.resolved_parts(),
        "metadata": metadata or {},
    }
    files: dict[str, bytes | str] = {
        WEIGHTS: to_bytes(tensors, metadata=header or None),
        CONFIG: json.dumps(config, indent=2, default=_json_default),
        **(extra_files or {}),
    }
    return write_directory(path, files)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_config(path: str | Path) -> dict[str, Any]:
    """Read and check a model directory's ``config.json``.

    Raises
    ------
    ModelFileError
        Missing directory or file, invalid JSON, another format, or a newer format version.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(
            f"No model at {path}; give the directory that `headkit train --out` wrote."
        )
    file = path / CONFIG if path.is_dir() else path
    if not file.is_file():
        raise ModelFileError(
            f"{path} has no {CONFIG}; give the directory that `headkit train --out` wrote."
        )
    if not path.is_dir() and path.name != CONFIG:
        raise ModelFileError(
            f"{path} is a file, not a run directory; give the directory `headkit train --out` "
            "wrote."
        )
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(
            f"{file} is corrupt ({error}); retrain or restore the model."
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(
            f"{file} is not a headkit model config; give a headkit model directory."
        )
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{file} has format version {version}, newer than this headkit reads ({FORMAT_VERSION}); "
            "upgrade headkit to load it."
        )
    return config


def read_weights(path: Path, load: Callable[[bytes], dict[str, Any]]) -> dict[str, Any]:
    """Read a model directory's ``model.safetensors`` with ``load`` (torch or NumPy loader).

    Pruned matrices stored compactly (:mod:`headkit.sparse_storage`) come back dense, bit for
    bit. A missing, unreadable or corrupt file is a :class:`ModelFileError` naming the fix.
    """
    from safetensors import SafetensorError

    from headkit.sparse_storage import header_metadata, unpack

    weights = Path(path) / WEIGHTS
    if not weights.is_file():
        raise ModelFileError(
            f"{path} has no {WEIGHTS}; the save was incomplete, retrain the model."
        )
    try:
        data = weights.read_bytes()
        return unpack(load(data), header_metadata(data))
    except PermissionError:
        raise ModelFileError(
            f"Cannot read {weights} (permission denied); make it readable (chmod u+r) or run "
            "as its owner."
        ) from None
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError, IndexError) as error:
        raise ModelFileError(
            f"{weights} is corrupt or truncated ({error}); retrain or restore it."
        ) from None


def load(path: str | Path, device: str = "cpu") -> HeadNet:
    """Load a model directory written by :func:`save` (or a ``headkit train`` run).

    Parameters
    ----------
    path : str or Path
        The model directory.
    device : str
        Where to put the weights.

    Returns
    -------
    HeadNet
        In eval mode; ``model.metadata`` holds the saved metadata.

    Raises
    ------
    ModelFileError
        For a missing, corrupt, truncated or newer-version model.
    """
    from safetensors.torch import load as safetensors_load

    from headkit.config import NetworkConfig
    from headkit.nn.network import HeadNet

    path = Path(path)
    config = read_config(path)
    state = read_weights(path, safetensors_load)
    try:
        model = HeadNet(NetworkConfig.from_dict(config["network"]))
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        raise ModelFileError(
            f"{path} does not match its config ({error}); retrain the model."
        ) from None
    model.metadata = config.get("metadata", {})
    return model.to(device).eval()
