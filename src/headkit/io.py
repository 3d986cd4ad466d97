"""Save and load models: safetensors weights + JSON config, written atomically, no pickle.

A model directory holds ``model.safetensors`` (the state dict) and ``config.json`` (format name and
version, the network config, and metadata such as label names). :func:`save` builds the whole
directory under a temporary name beside the target and renames it into place, so an interrupted
save never leaves a half-written model; an existing directory is replaced only after the new one is
complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headkit.exceptions import ModelFileError

if TYPE_CHECKING:
    from headkit.nn.network import HeadNet

FORMAT = "headkit"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_directory(
    target: str | Path, files: dict[str, bytes | str], overwrite: bool = True
) -> Path:
    """Create directory ``target`` holding ``files`` (name → content), atomically.

    The directory is assembled under a temporary name beside ``target`` and renamed into place;
    an existing ``target`` is swapped out only after the new one is complete. Files already in an
    existing ``target`` that are not in ``files`` are carried over (reports, plots).

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
        if target.exists():
            for old in target.iterdir():
                if old.name not in files and old.is_file():
                    shutil.copy2(old, staging / old.name)
        for name, content in files.items():
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(staging / name, mode) as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
        if target.exists():
            retired = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, retired)
            try:
                os.replace(staging, target)
            except BaseException:
                os.rename(retired, target)  # put the old directory back
                raise
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
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

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "network": model.config.to_dict(),
        "metadata": metadata or {},
    }
    files: dict[str, bytes | str] = {
        WEIGHTS: to_bytes(state),
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
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from headkit.config import NetworkConfig
    from headkit.nn.network import HeadNet

    path = Path(path)
    config = read_config(path)
    weights = path / WEIGHTS
    if not weights.is_file():
        raise ModelFileError(
            f"{path} has no {WEIGHTS}; the save was incomplete, retrain the model."
        )
    try:
        state = load_file(str(weights), device=device)
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(
            f"{weights} is corrupt or truncated ({error}); retrain or restore it."
        ) from None
    try:
        model = HeadNet(NetworkConfig.from_dict(config["network"]))
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        raise ModelFileError(
            f"{path} does not match its config ({error}); retrain the model."
        ) from None
    model.metadata = config.get("metadata", {})
    return model.to(device).eval()
