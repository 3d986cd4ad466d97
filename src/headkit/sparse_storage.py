"""Compact storage of pruned weight matrices in ``model.safetensors`` (bitmask + packed values).

A weight matrix that is mostly exact zeros (``prune="gmp:…"`` or ``"erk:…"``, catalogue K1/K2)
is written as two tensors instead of one: ``<name>:mask``, a uint8 bitmask of its non-zero entries
(row-major, 8 entries per byte, least significant bit first) and ``<name>:values``, its non-zero
entries in row-major order, in the matrix's own dtype. The file's safetensors header metadata
holds, under :data:`LAYOUT_KEY`, a JSON object naming each packed tensor and its shape. A matrix
of n entries and density d then takes ``n/8 + 4·d·n`` bytes (float32) instead of ``4·n``: about
``d + 1/32`` of the dense size.

A tensor is packed only when that is exact and pays: floating, at least 2-D, at least
:data:`MIN_ENTRIES` entries, density at most :data:`MAX_DENSITY`, and no negative zeros (the
bitmask restores zeros as +0.0, so a ``-0.0`` would not come back bit for bit). Everything else,
and every tensor of an unpruned network, is written as before, so dense runs are unchanged.

:func:`unpack` restores the dense tensors bit for bit, from torch tensors (``safetensors.torch``)
or NumPy arrays (``safetensors.numpy``, the torch-free prediction path).
"""

from __future__ import annotations

import json
from typing import Any

LAYOUT_KEY = "headkit.sparse"  # safetensors header metadata: JSON {name: {"shape", "encoding"}}
MAX_DENSITY = 0.5  # pack a matrix only when at most half of its entries are non-zero
MIN_ENTRIES = 64  # smaller tensors stay dense (the saving is a few bytes)
MASK, VALUES = ":mask", ":values"


def _packable(tensor: Any) -> bool:
    import torch

    if not tensor.is_floating_point() or tensor.dim() < 2 or tensor.numel() < MIN_ENTRIES:
        return False
    zero = tensor == 0
    if bool((zero & torch.signbit(tensor)).any()):
        return False  # -0.0 would come back as +0.0
    nonzero = tensor.numel() - int(zero.sum())
    return nonzero <= MAX_DENSITY * tensor.numel()


def _pack_bits(flags: Any) -> Any:
    """Bool (n,) → uint8 (⌈n/8⌉,), entry i in bit ``i % 8`` of byte ``i // 8``."""
    import torch

    n = flags.numel()
    padded = torch.zeros(-(-n // 8) * 8, dtype=torch.uint8)
    padded[:n] = flags.to(torch.uint8)
    weights = torch.tensor([1 << b for b in range(8)], dtype=torch.uint8)
    return (padded.view(-1, 8) * weights).sum(1, dtype=torch.uint8)


def pack(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Replace each sparse float matrix of a state dict by its bitmask and packed values.

    Parameters
    ----------
    state : dict of str → Tensor
        CPU, contiguous tensors (a state dict ready for ``safetensors.torch.save``).

    Returns
    -------
    tensors : dict of str → Tensor
        ``state`` with every packed ``name`` replaced by ``name:mask`` (uint8, (⌈n/8⌉,)) and
        ``name:values`` (the matrix's dtype, (nnz,)).
    metadata : dict of str → str
        ``{LAYOUT_KEY: json}`` for the safetensors header; empty when nothing was packed.
    """
    tensors: dict[str, Any] = {}
    layout: dict[str, dict[str, Any]] = {}
    for name, tensor in state.items():
        if not _packable(tensor):
            tensors[name] = tensor
            continue
        flat = tensor.reshape(-1)
        keep = flat != 0
        tensors[name + MASK] = _pack_bits(keep)
        tensors[name + VALUES] = flat[keep].contiguous()
        layout[name] = {"shape": list(tensor.shape), "encoding": "bitmask"}
    return tensors, ({LAYOUT_KEY: json.dumps(layout)} if layout else {})


def header_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's JSON header (empty when it has none)."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    return dict(header.get("__metadata__") or {})


def _unpack_numpy(mask: Any, values: Any, shape: list[int]) -> Any:
    import numpy as np

    n = int(np.prod(shape))
    keep = np.unpackbits(mask, count=n, bitorder="little").astype(bool)
    dense = np.zeros(n, dtype=values.dtype)
    dense[keep] = values
    return dense.reshape(shape)


def _unpack_torch(mask: Any, values: Any, shape: list[int]) -> Any:
    import torch

    n = 1
    for s in shape:
        n *= s
    bits = torch.arange(8, dtype=torch.uint8)
    keep = ((mask.unsqueeze(1) >> bits) & 1).reshape(-1)[:n].bool()
    dense = torch.zeros(n, dtype=values.dtype)
    dense[keep] = values
    return dense.reshape(shape)


def unpack(tensors: dict[str, Any], metadata: dict[str, str]) -> dict[str, Any]:
    """Rebuild the dense state dict from :func:`pack`'s tensors and header metadata.

    Works on torch tensors and NumPy arrays alike; a file without :data:`LAYOUT_KEY` (every
    dense run) is returned unchanged.

    Raises
    ------
    ValueError
        The layout names a tensor that is missing, or its mask and values do not fit its shape.
    """
    if LAYOUT_KEY not in metadata:
        return tensors
    layout = json.loads(metadata[LAYOUT_KEY])
    state = dict(tensors)
    for name, entry in layout.items():
        if entry.get("encoding") != "bitmask":
            raise ValueError(f"unknown encoding {entry.get('encoding')!r} of {name}")
        mask, values = state.pop(name + MASK), state.pop(name + VALUES)
        shape = [int(s) for s in entry["shape"]]
        n = 1
        for s in shape:
            n *= s
        if mask.shape[0] != -(-n // 8):
            raise ValueError(f"the bitmask of {name} does not fit its shape {shape}")
        unpack_one = _unpack_torch if hasattr(mask, "unsqueeze") else _unpack_numpy
        state[name] = unpack_one(mask, values, shape)
    return state
