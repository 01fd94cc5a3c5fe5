"""TensorBoard tag names that read in network order (docs/ARCHITECTURE.md §4.4).

Tags are grouped by view first, then by layer: ``gradnap/profile/03_model.conv2``. Each layer
name is prefixed with its zero-padded position in the profiled layers (the order of ``layers``,
which is the network's order when they are listed that way), so that TensorBoard's alphabetical
sort puts all heatmaps together and the first layer first.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["layer_tag", "numbered_layers"]


def numbered_layers(layers: Iterable[str]) -> dict[str, str]:
    """``{layer: "NN_layer"}`` with positions zero-padded to at least two digits."""
    names = list(layers)
    width = max(2, len(str(len(names) - 1)))
    return {name: f"{index:0{width}d}_{name}" for index, name in enumerate(names)}


def layer_tag(tag: str, view: str, numbered_layer: str) -> str:
    """``<tag>/<view>/<NN_layer>``, e.g. ``gradnap/profile/03_model.conv2``."""
    return f"{tag}/{view}/{numbered_layer}"
