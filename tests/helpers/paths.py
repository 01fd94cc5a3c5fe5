"""Paths of the checkout the tests run in."""

from __future__ import annotations

from pathlib import Path

#: The repository's root (``tests/`` is directly below it).
ROOT = Path(__file__).parents[2]
