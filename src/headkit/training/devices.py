"""Where a fit runs: ``device="auto"`` and the checks on an explicit device."""

from __future__ import annotations

import torch

from headkit.exceptions import ConfigError


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"auto"`` into ``cuda`` when available (else ``cpu``) and validate the rest."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"Unknown device {device!r}; use 'auto', 'cpu' or 'cuda'.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device='cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'."
        )
    return resolved
