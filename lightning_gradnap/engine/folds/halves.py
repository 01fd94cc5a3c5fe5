"""Which half of the data each example belongs to, for split-half reliability (docs/METHOD.md).

The half is a hash of the example's own input values inside its length, so it depends on the
data only: not on the labels (examples of one class, or with one label sequence, still split
evenly), not on the batching, the padding or the process that sees the example.
"""

from __future__ import annotations

import torch

__all__ = ["split_halves"]

_PRIME = 65521  # below 2**16: every product below stays under 2**32, every sum exact in int64
_BITS_OF = {
    torch.float64: torch.int64,
    torch.float32: torch.int32,
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
}


def split_halves(
    inputs: torch.Tensor | None,
    lengths: torch.Tensor | None,
    time_axis: int | None,
    first_example: int = 0,
    batch_size: int | None = None,
) -> torch.Tensor:
    """``[B]`` half (0 or 1) of each example: a hash of its input values within its length.

    The hash is computed in integers from the values' bits, so it is exact: the same example gives
    the same half in any batch, padded to any length, on any device.

    Args:
        inputs: The model's first input ``[B, ...]``, or ``None`` (not a tensor).
        lengths: ``[B]`` valid steps on ``time_axis`` (input steps), or ``None`` (all count).
        time_axis: The inputs' time axis, or ``None`` (then the last axis counts the lengths, or
            there are none).
        first_example: Examples seen before this batch; without ``inputs``, the halves alternate by
            the example's position in the stream (a fallback that depends on the order).
        batch_size: ``B`` when ``inputs`` is ``None``.
    """
    if inputs is None or inputs.dim() == 0:
        count = batch_size if inputs is None else 1
        assert count is not None, "give batch_size without inputs"
        return (torch.arange(count) + first_example) % 2
    values = _as_integers(inputs.detach())
    if values.dim() == 1:
        values = values[:, None]
    axis = values.dim() - 1 if time_axis is None else time_axis % values.dim()
    values = values.movedim(axis, 1).reshape(values.shape[0], values.shape[axis], -1)  # [B, T, R]
    steps, rest = values.shape[1], values.shape[2]
    index = torch.arange(steps * rest, device=values.device).view(1, steps, rest)
    weights = (index * 40503 + 7) % _PRIME + 1  # a fixed weight per position within the example
    terms = values.remainder(_PRIME) * weights
    if lengths is not None:
        inside = torch.arange(steps, device=values.device)[None, :] < lengths.to(values.device)[:, None]
        terms = terms * inside[:, :, None]
    value = terms.sum(dim=(1, 2)) + (0 if lengths is None else lengths.to(values.device) * 7)
    return ((value % 1000003) * 7919 % 1000003 % 2).to(torch.long)


def _as_integers(inputs: torch.Tensor) -> torch.Tensor:
    """The values' bit patterns (floats) or the values themselves (integers, booleans), as int64."""
    if inputs.is_complex():
        return _as_integers(inputs.real) * 3 + _as_integers(inputs.imag)
    bits = _BITS_OF.get(inputs.dtype)
    if bits is not None:
        inputs = torch.where(inputs == 0, torch.zeros_like(inputs), inputs)  # -0.0 hashes as 0.0
        return inputs.view(bits).to(torch.int64)
    return inputs.to(torch.int64)
