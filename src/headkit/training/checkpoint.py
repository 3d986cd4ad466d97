"""Checkpoints: the whole training state after every epoch, so an interrupted fit resumes exactly.

A checkpoint is one safetensors file: every tensor of the state (weights, optimiser moments,
random-number-generator states, best weights) as tensors, and the rest (epoch, history, scheduler
and callback state, a fingerprint of the fit) as JSON in the file's metadata. It is written to a
temporary file and renamed into place, so a kill at any moment leaves the previous checkpoint or
the new one, never a torn file. No pickle.

Resuming restores, in order, model and loss weights, optimiser and scheduler state, the torch
(and CUDA) RNG, the shuffling generator, gradient-noise step, epoch counters, history and each
callback's ``state_dict``; the rest of the fit then draws the same random numbers as an
uninterrupted one, so on CPU the final weights are bit-identical.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from headkit.exceptions import ConfigError, ModelFileError
from headkit.training.callbacks import Callback

if TYPE_CHECKING:
    from headkit.training.trainer import EpochRecord, Trainer

CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_FORMAT = "headkit-checkpoint"
CHECKPOINT_VERSION = 1


def fit_fingerprint(params: dict[str, Any], *arrays: np.ndarray) -> str:
    """Return a digest of fit parameters and data: equal digests mean the same fit.

    Parameters
    ----------
    params : dict
        JSON-ready settings (values that are not are described by their type).
    *arrays : ndarray
        The data (features, labels); shape, dtype and values enter the digest.
    """
    digest = hashlib.sha256(
        json.dumps(params, sort_keys=True, default=lambda v: type(v).__name__).encode()
    )
    for array in arrays:
        array = np.asarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        if array.dtype.kind == "O":
            digest.update("\0".join(map(str, array.ravel())).encode())
        else:
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Turn nested state into JSON, moving every tensor into ``tensors`` (by reference key)."""
    if isinstance(value, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = value.detach().cpu().clone().contiguous()
        return {"$tensor": key}
    if isinstance(value, dict):
        return {"$items": [[_encode(k, tensors), _encode(v, tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"Cannot checkpoint a {type(value).__name__}; state must be plain data.")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Invert :func:`_encode`."""
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "$tensor" in value:
        return tensors[value["$tensor"]]
    if "$tuple" in value:
        return tuple(_decode(v, tensors) for v in value["$tuple"])
    return {_decode(k, tensors): _decode(v, tensors) for k, v in value["$items"]}


def training_state(trainer: Trainer) -> dict[str, Any]:
    """Return everything a resumed fit needs from ``trainer`` (nested plain data and tensors)."""
    rng = {"torch": torch.get_rng_state(), "shuffle": trainer.generator.get_state()}
    if trainer.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(trainer.device)
    return {
        "model": trainer.model.state_dict(),
        "criterion": trainer.criterion.state_dict(),
        "optimizers": [opt.state_dict() for opt in trainer.optimizers],
        "schedulers": [sched.state_dict() for sched in trainer.schedulers],
        "rng": rng,
        "gradient_noise_step": trainer.gradient_noise.step,
        "epoch": trainer.epoch,
        "fit_start_epoch": trainer.fit_start_epoch,
        "fit_end_epoch": trainer.fit_end_epoch,
        "stop": trainer.stop,
        "best_epoch": trainer.best_epoch,
        "history": [record.as_dict() for record in trainer.history],
        "callbacks": [[key, cb.state_dict()] for key, cb in _keyed(trainer.callbacks).items()],
    }


def _record(row: dict[str, Any]) -> EpochRecord:
    from headkit.training.callbacks import EpochRecord

    base = ("epoch", "train_loss", "val_loss", "val_accuracy", "lr", "seconds")
    extra = {k: v for k, v in row.items() if k not in base}
    return EpochRecord(*(row[k] for k in base), extra=extra)


def load_training_state(trainer: Trainer, state: dict[str, Any]) -> None:
    """Put ``state`` (from :func:`training_state`) back into ``trainer``."""
    trainer.model.load_state_dict(state["model"])
    trainer.criterion.load_state_dict(state["criterion"])
    for opt, opt_state in zip(trainer.optimizers, state["optimizers"], strict=True):
        opt.load_state_dict(opt_state)
    for sched, sched_state in zip(trainer.schedulers, state["schedulers"], strict=True):
        sched.load_state_dict(sched_state)
    torch.set_rng_state(state["rng"]["torch"])
    trainer.generator.set_state(state["rng"]["shuffle"])
    if "cuda" in state["rng"] and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(state["rng"]["cuda"], trainer.device)
    trainer.gradient_noise.step = state["gradient_noise_step"]
    trainer.epoch = state["epoch"]
    trainer.fit_start_epoch = state["fit_start_epoch"]
    trainer.fit_end_epoch = state["fit_end_epoch"]
    trainer.stop = state["stop"]
    trainer.best_epoch = state["best_epoch"]
    trainer.history = [_record(row) for row in state["history"]]
    saved = dict(state["callbacks"])
    for key, cb in _keyed(trainer.callbacks).items():
        if key in saved:
            cb.load_state_dict(saved.pop(key))
    leftover = [key for key, cb_state in saved.items() if cb_state]
    if leftover:
        raise ConfigError(
            f"The checkpoint holds the state of {', '.join(leftover)}, which this fit does not "
            "have; resume with the settings the run started with."
        )


def _keyed(callbacks: list[Callback]) -> dict[str, Callback]:
    """Name callbacks by class and occurrence (``EarlyStopping#0``) to match them on resume."""
    keyed: dict[str, Callback] = {}
    for cb in callbacks:
        name = type(cb).__name__
        keyed[f"{name}#{sum(k.startswith(name + '#') for k in keyed)}"] = cb
    return keyed


def write_checkpoint(path: Path, state: dict[str, Any], info: dict[str, Any]) -> None:
    """Write ``state`` (and JSON-ready ``info``) to the safetensors file ``path``, atomically."""
    from safetensors.torch import save

    from headkit.io import atomic_write_text

    tensors: dict[str, torch.Tensor] = {}
    structure = _encode(state, tensors)
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "format_version": str(CHECKPOINT_VERSION),
        "state": json.dumps(structure),
        "info": json.dumps(info),
    }
    atomic_write_text(path, save(tensors, metadata=metadata))


def read_checkpoint_info(path: Path) -> dict[str, Any]:
    """Return the ``info`` dict of a checkpoint without reading its tensors."""
    return json.loads(_metadata(path)["info"])


def _metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as error:  # safetensors raises its own error types
        raise ModelFileError(f"Checkpoint {path} is unreadable ({error}); delete it.") from None
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(f"{path} is not a headkit checkpoint; delete it or move it away.")
    if int(metadata.get("format_version", "0")) > CHECKPOINT_VERSION:
        raise ModelFileError(f"{path} was written by a newer headkit; upgrade to resume it.")
    return metadata


def read_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (state, info) of a checkpoint written by :func:`write_checkpoint`."""
    from safetensors.torch import load_file

    metadata = _metadata(path)
    tensors = load_file(str(path))
    return _decode(json.loads(metadata["state"]), tensors), json.loads(metadata["info"])


class Checkpointer(Callback):
    """Write a checkpoint into ``directory`` after every epoch; resume from it when one exists.

    Add it as the last callback. At the start of a fit it restores a checkpoint whose
    fingerprint matches (the fit resumes from that epoch; a finished checkpoint finishes the
    fit at once), or writes the epoch-0 state, so even a fit killed in its first epoch resumes.

    Parameters
    ----------
    directory : str or Path
        Created if missing; holds ``checkpoint.safetensors``.
    fingerprint : str
        Identifies the fit (parameters and data); a checkpoint with another fingerprint is
        refused rather than resumed.
    info : dict, optional
        JSON-ready extras stored with every checkpoint (a seed, a run description).

    Attributes
    ----------
    resumed_from : int or None
        The epoch the last fit resumed from.
    """

    def __init__(
        self, directory: str | Path, fingerprint: str = "", info: dict[str, Any] | None = None
    ) -> None:
        self.directory = Path(directory)
        self.path = self.directory / CHECKPOINT
        self.fingerprint = fingerprint
        self.info = dict(info or {})
        self.resumed_from: int | None = None

    def saved_info(self) -> dict[str, Any] | None:
        """Return the stored info of a checkpoint with this fingerprint, None when there is none.

        Raises
        ------
        ConfigError
            When the directory holds a checkpoint of a different fit.
        """
        if not self.path.is_file():
            return None
        info = read_checkpoint_info(self.path)
        if info.get("fingerprint") != self.fingerprint:
            raise ConfigError(
                f"{self.directory} holds a checkpoint of a different fit (other parameters or "
                "data); delete it or choose another checkpoint directory."
            )
        return info

    def on_fit_setup(self, trainer: Trainer) -> None:
        self.resumed_from = None
        if self.saved_info() is not None:
            state, _ = read_checkpoint(self.path)
            load_training_state(trainer, state)
            self.resumed_from = trainer.epoch
        else:
            self._write(trainer)

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        self._write(trainer)

    def _write(self, trainer: Trainer) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        info = {
            **self.info,
            "fingerprint": self.fingerprint,
            "epoch": trainer.epoch,
            "epochs": trainer.fit_end_epoch,
        }
        write_checkpoint(self.path, training_state(trainer), info)
