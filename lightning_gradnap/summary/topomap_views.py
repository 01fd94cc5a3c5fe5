"""Topographic activation maps in TensorBoard: each profiling's, and their replay at the end of ``fit``.

- ``<tag>/topomap/NN_<layer>`` at every profiling: the maps of the layers whose
  ``profiles.orderings`` hold a layout (``topomap_xy``, set by
  :class:`~lightning_gradnap.analysis.topomap.TopomapTracker`: held from the heatmap's anchor, so
  that the step slider shows the regions forming in one layout).
- ``<tag>/topomap_replay/NN_<layer>`` at the end of ``fit`` (:func:`replay_topomaps`): every saved
  step again under the layout of the **final** profiling, as the authors' training-time maps do and
  as the heatmap replay does with the final order (:mod:`lightning_gradnap.summary.replay`).

The scores (``<tag>/topomap_smoothness/NN_<layer>``, ... and their ``_random``) are logged with the
other scalars (:func:`~lightning_gradnap.analysis.score_keys.layer_scores`). Works with any ``SummaryWriter``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from lightning_gradnap.analysis.topomap import TopomapLayout, topomap_layout
from lightning_gradnap.figures.topomap import TopomapFrames
from lightning_gradnap.profiles.result import Profiles
from lightning_gradnap.summary.replay import (
    ReplayReport,
    finished,
    load_replayed,
    log_frames,
    replay_from_history,
    titled_frame,
)
from lightning_gradnap.summary.step_views import guarded
from lightning_gradnap.summary.tags import layer_tag, numbered_layers

__all__ = ["replay_topomap_history", "replay_topomaps", "write_topomaps"]


def _layout_label(layout: TopomapLayout, step: int) -> str:
    if layout.anchor_step is None:
        return f"layout of step {step} (no structure to anchor on yet: it moves until then)"
    return f"layout held from step {layout.anchor_step} (force-directed, cosine distances of the neurons' profiles)"


def write_topomaps(
    writer: Any, profiles: Profiles, step: int, epoch: int, tag: str = "gradnap", frames: dict | None = None
) -> int:
    """Log the maps of every layer with a layout in ``profiles.orderings``; returns how many were logged.

    ``frames`` (a dict kept between calls) holds each layer's figure while its layout stays the same, so
    that later steps only redraw the tiles (:class:`~lightning_gradnap.figures.topomap.TopomapFrames`).
    """
    frames = {} if frames is None else frames
    numbered = numbered_layers(profiles.layers)
    logged = 0
    for layer, arrays in profiles.orderings.items():
        layout = TopomapLayout.from_arrays(arrays)
        if layout is None or layer not in profiles.layers:
            continue
        with guarded("topomap", layer, step):  # one failing layer costs its own maps only
            label = _layout_label(layout, step)
            key = (layout.positions.tobytes(), label, tuple(profiles.group_names), profiles.group_categories)
            slot = f"{tag}/{layer}/topomap"
            if slot not in frames or frames[slot][0] != key:
                drawing = TopomapFrames(
                    profiles[layer].profile,
                    layout.positions,
                    profiles.group_names,
                    group_categories=profiles.group_categories,
                    value_label=profiles.metadata.get("method", "profile"),
                    layout_label=label,
                )
                frames[slot] = (key, drawing)
            image = frames[slot][1].frame(profiles[layer].profile, f"{layer} — epoch {epoch}, step {step}")
            writer.add_image(layer_tag(tag, "topomap", numbered[layer]), image, step, dataformats="HWC")
            logged += 1
    return logged


def replay_topomaps(
    writer: Any,
    files: Sequence[str | os.PathLike],
    steps: Sequence[int] | None = None,
    epochs: Sequence[int] | None = None,
    tag: str = "gradnap",
) -> ReplayReport:
    """Log every file's maps as ``<tag>/topomap_replay/NN_<layer>`` under the last file's layouts.

    The layers replayed are those the run has maps of (``topomap_xy`` in any file: a last profiling whose
    analysis failed has none) that the last file profiles; their layout is laid out again from the last
    file's profile (:func:`~lightning_gradnap.analysis.topomap.topomap_layout`).
    """
    start = time.perf_counter()
    report = ReplayReport()
    loaded = load_replayed(files, steps, epochs, report)
    if not loaded:
        report.seconds = time.perf_counter() - start
        return report
    final_step, final = loaded[-1][0], loaded[-1][2]
    numbered = numbered_layers(final.layers)
    mapped = {name for *_, profiles in loaded for name, arrays in profiles.orderings.items() if "topomap_xy" in arrays}
    for layer in [name for name in final.layers if name in mapped]:
        with guarded("topomap_replay", layer, final_step):  # one failing layer costs its own replay only
            positions = topomap_layout(final[layer].profile)
            drawing = TopomapFrames(
                final[layer].profile,
                positions,
                final.group_names,
                group_categories=final.group_categories,
                value_label=final.metadata.get("method", "profile"),
                layout_label=f"layout of the final profiling (step {final_step})",
            )
            frame = partial(titled_frame, drawing, layer, f"in the layout of step {final_step}")
            tag_name = layer_tag(tag, "topomap_replay", numbered[layer])
            log_frames(writer, loaded, layer, len(positions), frame, tag_name, report)
    return finished(writer, loaded, report, start)


def replay_topomap_history(writer: Any, history: dict[str, Any], tag: str = "gradnap") -> ReplayReport:
    """:func:`replay_topomaps` of the files in a callback's history
    (:func:`~lightning_gradnap.summary.replay.replay_from_history`)."""
    return replay_from_history(replay_topomaps, writer, history, tag, "topomap replay")
