"""Fast Bernoulli keep-masks for dropout on the CPU.

``torch.bernoulli_`` draws one float per element and costs ~250 µs for a 128×256 mask on two
cores, a third of a small network's training step. Here every mask is cut from uniform 64-bit
words; each word gives four uniform 16-bit lanes, and an element is kept when its lane is at or
above ``d = min(round(p · 2^16), 2^16 - 1)``. The keep probability is therefore ``1 - d / 2^16``
(within 2^-17 of ``1 - p``, and never under 2^-16); :func:`keep_mask` returns that exact
probability so callers scale by its inverse and stay unbiased. On CUDA the native kernel is used
instead.

The words come from SFC64 (NumPy's ``numpy.random.SFC64``, a small chaotic generator with a
64-bit counter that passes PractRand and BigCrush), keyed before every mask by three 64-bit words
drawn from torch's global CPU generator and warmed up by SFC64's own 12 seeding rounds:
``torch.manual_seed`` (and so ``random_state``) still fixes every mask, and a mask advances
torch's generator by three words instead of one per four elements. SFC64 fills the words in
about half the time of torch's Mersenne Twister (``random_`` over the int64 range: 104 µs of CPU
against 54 µs for the 32,000 words of a 500×256 mask, one thread of an AMD EPYC Zen 4; the whole
mask 138 µs before, 101 µs now), and the masks are about 5× faster than ``bernoulli_`` at the
sizes of a Dense head.
Dropout itself uses :func:`scaled_keep_mask`, the same draw compared straight into the
activations' dtype and scaled: a boolean mask and its cast to float would be two more passes
over memory of the activations' size.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

_LANES = 4  # 16-bit lanes per int64 word
_INT64_MIN = -(2**63)  # random_(_INT64_MIN, None) draws all 64 bits uniformly
_KEY_WORDS = 3  # SFC64's a, b, c; its counter starts at 1
_WARM_UP = 12  # SFC64's seeding rounds, whose outputs are discarded
_SFC64 = np.random.SFC64(0)  # re-keyed from torch's generator before every draw, under its lock
_STATE = np.ones(_KEY_WORDS + 1, dtype=np.uint64)  # the key, then the counter (1); under the lock


def keep_mask(
    shape: torch.Size | tuple[int, ...], p: float, device: torch.device
) -> tuple[Tensor, float]:
    """Return a boolean keep-mask and its exact keep probability.

    Parameters
    ----------
    shape : tuple of int
        Mask shape.
    p : float
        Drop probability in [0, 1).
    device : torch.device
        Where the mask lives; the global torch generator of that device is used.

    Returns
    -------
    mask : Tensor, bool, shape ``shape``
        True where the element is kept.
    keep : float
        The probability that an element is kept.
    """
    uniform, threshold, keep = _draw(shape, p, device)
    return _compare(uniform, threshold, torch.bool), keep


def scaled_keep_mask(
    shape: torch.Size | tuple[int, ...], p: float, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """Return the inverted-dropout multiplier: ``1 / keep`` where kept, 0 where dropped.

    ``shape``, ``p`` and ``device`` are those of :func:`keep_mask`, and the same generator state
    keeps the same elements; the comparison is written straight into ``dtype`` (floating point,
    that of the activations it scales): one pass, where a boolean mask and its cast are two
    slower ones.

    Returns
    -------
    Tensor, ``dtype``, shape ``shape``
        Values in {0, 1 / keep}, ``keep`` the exact keep probability of :func:`keep_mask`.
    """
    uniform, threshold, keep = _draw(shape, p, device)
    return _compare(uniform, threshold, dtype).mul_(1.0 / keep)


def unit_keep_mask(
    shape: torch.Size | tuple[int, ...], p: float, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, float]:
    """Return :func:`keep_mask` as {0, 1} in ``dtype`` (unscaled) and the keep probability.

    The same draw from the same generator state as :func:`keep_mask`, so the same elements are
    kept; fused kernels fold the ``1 / keep`` scale into a matrix product instead.
    """
    uniform, threshold, keep = _draw(shape, p, device)
    return _compare(uniform, threshold, dtype), keep


# NumPy writes a comparison straight into these dtypes in one single-threaded pass: on the CPU
# torch's int16 >= int into float32 casts the lanes, compares and copies (three passes, each a
# parallel region at two threads, 32-40 µs for a 500×256 mask against NumPy's 19 µs).
_NUMPY_DTYPES = {torch.bool: np.bool_, torch.float16: np.float16, torch.float32: np.float32,
                 torch.float64: np.float64}  # fmt: skip


def _compare(uniform: Tensor | np.ndarray, threshold: float, dtype: torch.dtype) -> Tensor:
    """Return ``uniform >= threshold`` in ``dtype`` (1 where kept, 0 where dropped).

    ``uniform`` is the int16 lanes of :func:`_draw` (a NumPy array on the CPU) or float uniforms.
    """
    if isinstance(uniform, np.ndarray) and dtype in _NUMPY_DTYPES:
        out = np.empty(uniform.shape, dtype=_NUMPY_DTYPES[dtype])
        np.greater_equal(uniform, threshold, out=out)
        return torch.from_numpy(out)
    if isinstance(uniform, np.ndarray):
        uniform = torch.from_numpy(uniform)
    out = torch.empty(uniform.shape, dtype=dtype, device=uniform.device)
    return torch.ge(uniform, threshold, out=out)


def _draw(
    shape: torch.Size | tuple[int, ...], p: float, device: torch.device
) -> tuple[Tensor | np.ndarray, float, float]:
    """Uniform draws of shape ``shape``, the value from which an element is kept, its probability.

    On the CPU the draws are int16 lanes of :func:`_uniform_words` (a NumPy array); elsewhere
    float uniforms. A mask of any shape is the flat draw of as many elements, reshaped.
    """
    if device.type != "cpu":
        return torch.rand(shape, device=device), p, 1.0 - p
    # lanes below this of 0..65535 are dropped; a rate within 2^-17 of 1 still keeps one lane
    # value in 65,536, so the keep probability stays positive and 1 / keep finite
    dropped = min(round(p * 65536), 65535)
    threshold, keep = dropped - 32768, 1.0 - dropped / 65536
    # int16 lanes are signed: the threshold is shifted so 0..65535 maps onto -32768..32767.
    numel = math.prod(shape)
    lanes = _uniform_words((numel + _LANES - 1) // _LANES).view(np.int16)
    return lanes[:numel].reshape(shape), threshold, keep


def _uniform_words(count: int) -> np.ndarray:
    """Return ``count`` uniform 64-bit words from SFC64 keyed by torch's global CPU generator.

    Returns
    -------
    numpy.ndarray, shape (count,) uint64
    """
    key = torch.empty(_KEY_WORDS, dtype=torch.int64).random_(_INT64_MIN, None)
    with _SFC64.lock:  # set-and-draw is one step for threads sharing the generator
        _STATE[:_KEY_WORDS] = key.numpy().view(np.uint64)
        _SFC64.state = {
            "bit_generator": "SFC64",
            "state": {"state": _STATE},
            "has_uint32": 0,
            "uinteger": 0,
        }
        raw = _SFC64.random_raw(count + _WARM_UP)
    return raw[_WARM_UP:]
