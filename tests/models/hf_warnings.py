"""Narrow filters for what the libraries themselves warn about in the matrix's tiny models."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_hf() -> Iterator[None]:
    """WavLM's attention hands torch a float attention mask with a bool padding mask."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Support for mismatched key_padding_mask and attn_mask", category=UserWarning
        )
        yield
