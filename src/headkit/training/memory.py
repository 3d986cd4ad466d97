"""How much memory a network needs to train, checked before anything is allocated.

A network far too large for the machine otherwise fails deep inside torch (an allocation error,
or the kernel's out-of-memory killer); this says how large it is and how much memory it needs.
"""

from __future__ import annotations

import itertools

import torch

from headkit.config import NetworkConfig
from headkit.exceptions import ConfigError

BYTES_PER_PARAMETER = 4 * 4  # float32 weight, gradient and AdamW's two moments


def dense_parameters(config: NetworkConfig) -> int:
    """Return the parameter count of the Dense stack and a linear head (weights and biases)."""
    widths = [config.n_features, *config.hidden_sizes, config.n_classes]
    return sum(a * b + b for a, b in itertools.pairwise(widths))


def available_bytes(device: torch.device) -> int | None:
    """Return the memory free for training on ``device`` (None when unknown)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB"


def check_training_memory(config: NetworkConfig, device: torch.device) -> None:
    """Raise :class:`ConfigError` when training ``config`` cannot fit in ``device``'s memory.

    The estimate counts the Dense stack and a linear head at 16 bytes per parameter (weight,
    gradient, two AdamW moments in float32); activations come on top.
    """
    n_params = dense_parameters(config)
    needed = n_params * BYTES_PER_PARAMETER
    free = available_bytes(device)
    if free is None or needed <= free:
        return
    raise ConfigError(
        f"hidden sizes {list(config.hidden_sizes)} make a network of {n_params:.2g} parameters "
        f"that needs about {_gb(needed)} to train (weights, gradients and AdamW state), more "
        f"than the {_gb(free)} free on {device.type}; use smaller hidden sizes."
    )


def explain_allocation_failure(config: NetworkConfig, error: BaseException) -> ConfigError:
    """Turn torch's allocation error while building ``config`` into one sentence."""
    needed = dense_parameters(config) * BYTES_PER_PARAMETER
    return ConfigError(
        f"Could not allocate the network for hidden sizes {list(config.hidden_sizes)} "
        f"({type(error).__name__}); it needs about {_gb(needed)} to train; use smaller hidden "
        "sizes."
    )
