"""Replay: every profiled step of every layer again, under the final ordering (docs/METHOD.md §2).

The authors' training-time topographic maps (valeriekrug/ANN-topomaps) compute the layout once,
at the newest checkpoint, and reuse it for every earlier one, so that the frames of the animation
compare. The replay does the same with orderings: each layer's rows (groups) and columns
(neurons) are put in the **final** profiling's dendrogram order, and every earlier profiling is
drawn in that order, with the tracked colour scale (profile / RMS, fixed limits). Moving the
step slider on ``<tag>/profile_replay/NN_<layer>`` then shows how the final blocks formed.

It reads only the saved ``.npz`` files (the final orders are their ``cluster_groups_<i>`` and
``cluster_neurons_<i>`` keys, or computed for older files) and works with any ``SummaryWriter``.
Each layer's figure is drawn once; for every step only its cells and title are drawn again
(:class:`~lightning_gradnap.figures.tracked.LayerFrames`).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np

from lightning_gradnap.analysis.profile_analysis import clustered_order
from lightning_gradnap.analysis.tracking import category_order
from lightning_gradnap.figures.tracked import LayerFrames
from lightning_gradnap.profiles.npz import parse_file_name, stored_methods
from lightning_gradnap.profiles.result import Profiles
from lightning_gradnap.summary.sinks import takes_images
from lightning_gradnap.summary.step_views import guarded
from lightning_gradnap.summary.tags import layer_tag, numbered_layers

__all__ = [
    "ReplayReport",
    "final_orders",
    "finished",
    "log_frames",
    "load_replayed",
    "replay",
    "replay_from_history",
    "replay_history",
    "step_of",
    "titled_frame",
]


@dataclass
class ReplayReport:
    """What a replay logged.

    Attributes:
        images: Heatmaps logged (one per layer and step).
        steps: The steps replayed.
        seconds: Wall time of the replay (reading, drawing, encoding).
        missing: Files that could not be read (left out).
    """

    images: int = 0
    steps: list[int] = field(default_factory=list)
    seconds: float = 0.0
    missing: list[str] = field(default_factory=list)


def step_of(path: str | os.PathLike) -> int | None:
    """The global step in a profile file's name (``epoch=NNN-step=NNNNNN.npz``), or None."""
    name = parse_file_name(path)
    return None if name is None else name.step


#: A replayed profiling: its step, its epoch (None if not known) and its profiles (of the first method).
Replayed = tuple[int, int | None, Profiles]


def load_replayed(
    files: Sequence[str | os.PathLike],
    steps: Sequence[int] | None,
    epochs: Sequence[int] | None,
    report: ReplayReport,
) -> list[Replayed]:
    """The readable files' profilings, in order; the unreadable ones go to ``report.missing``. Steps default to
    those in the file names (else the file's index)."""
    loaded: list[Replayed] = []
    for index, path in enumerate(files):
        step = steps[index] if steps is not None else step_of(path)
        try:
            profiles = Profiles.load(path)
            profiles = profiles.method(stored_methods(profiles.metadata)[0])  # the views of the first method
        except (OSError, ValueError):
            report.missing.append(str(path))
            continue
        loaded.append((int(step if step is not None else index), None if epochs is None else epochs[index], profiles))
    return loaded


def replay_from_history(
    replay_files: Callable[..., ReplayReport], writer: Any, history: dict[str, Any], tag: str, what: str
) -> ReplayReport:
    """``replay_files(writer, files, steps, epochs, tag)`` of the files in a callback's history (``steps``,
    ``epochs``, ``files``; steps without a file are left out); nothing without a writer or one that takes no
    images (e.g. a ``CSVLogger``'s sink). Warns about unreadable files, naming ``what`` was replayed."""
    kept = [i for i, path in enumerate(history.get("files", [])) if path]
    if writer is None or not takes_images(writer) or not kept:
        return ReplayReport()
    report = replay_files(
        writer,
        [history["files"][i] for i in kept],
        [history["steps"][i] for i in kept],
        [history["epochs"][i] for i in kept],
        tag,
    )
    if report.missing:
        warnings.warn(f"GradNAP {what}: left out the unreadable profile files {report.missing}", stacklevel=3)
    return report


def final_orders(profiles: Profiles) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each layer's ``(group order, neuron order)`` at this (final) profiling: its dendrogram
    orders (saved, or computed), with the groups absent here appended in category order."""
    orders = {}
    for layer, result in profiles.layers.items():
        saved = profiles.orderings.get(layer, {})
        if "cluster_groups" in saved and "cluster_neurons" in saved:
            groups, neurons = np.asarray(saved["cluster_groups"]), np.asarray(saved["cluster_neurons"])
        else:
            groups, neurons = clustered_order(result.profile)
        shown = set(groups.tolist())
        absent = [g for g in category_order(profiles.num_groups, profiles.group_categories) if g not in shown]
        orders[layer] = (np.concatenate([groups, np.asarray(absent, dtype=int)]).astype(int), neurons.astype(int))
    return orders


def replay(
    writer: Any,
    files: Sequence[str | os.PathLike],
    steps: Sequence[int] | None = None,
    epochs: Sequence[int] | None = None,
    tag: str = "gradnap",
) -> ReplayReport:
    """Log every file's layers as ``<tag>/profile_replay/NN_<layer>`` in the last file's orders.

    Args:
        files: The run's profile files, in step order (the last one sets the order).
        steps: Their global steps; default: read from the file names.
        epochs: Their epochs, for the titles.
    """
    start = time.perf_counter()
    report = ReplayReport()
    loaded = load_replayed(files, steps, epochs, report)
    if not loaded:
        report.seconds = time.perf_counter() - start
        return report
    final_step, final = loaded[-1][0], loaded[-1][2]
    orders, numbered = final_orders(final), numbered_layers(final.layers)
    for layer, (groups, neurons) in orders.items():
        with guarded("profile_replay", layer, final_step):  # one failing layer costs its own replay only
            frames = LayerFrames(
                final[layer].profile,
                final.group_names,
                groups,
                neurons,
                group_categories=final.group_categories,
                value_label=final.metadata.get("method", "profile"),
                rows_label=f"groups (clustered at step {final_step})",
                columns_label=f"{len(neurons)} neurons, clustered at step {final_step}",
                separators=False,
            )
            frame = partial(titled_frame, frames, layer, f"in the order of step {final_step}")
            tag_name = layer_tag(tag, "profile_replay", numbered[layer])
            log_frames(writer, loaded, layer, len(neurons), frame, tag_name, report)
    return finished(writer, loaded, report, start)


class Redrawn(Protocol):
    """A figure redrawn step by step (:class:`~lightning_gradnap.figures.tracked.LayerFrames`,
    :class:`~lightning_gradnap.figures.topomap.TopomapFrames`)."""

    def frame(self, profile: np.ndarray, title: str) -> np.ndarray: ...


def titled_frame(frames: Redrawn, layer: str, under: str, profile: np.ndarray, when: str) -> np.ndarray:
    """``frames``' image of ``profile``, titled with the layer, when it was profiled, and whose order or
    layout it is drawn ``under``."""
    return frames.frame(profile, f"{layer} — {when}, {under}")


def log_frames(
    writer: Any,
    loaded: Sequence[Replayed],
    layer: str,
    width: int,
    frame: Callable[[np.ndarray, str], np.ndarray],
    tag: str,
    report: ReplayReport,
) -> None:
    """Logs ``frame(profile, when)`` (an image ``[H, W, 3]``) of ``layer``'s profile in each replayed profiling
    that has it with ``width`` neurons, as ``tag`` at its step; counts them in ``report.images``."""
    for step, epoch, profiles in loaded:
        if layer not in profiles.layers or profiles[layer].profile.shape[1] != width:
            continue
        when = f"step {step}" if epoch is None else f"epoch {epoch}, step {step}"
        writer.add_image(tag, frame(profiles[layer].profile, when), step, dataformats="HWC")
        report.images += 1


def finished(writer: Any, loaded: Sequence[Replayed], report: ReplayReport, start: float) -> ReplayReport:
    """``report`` with the replayed steps and its time since ``start``, once ``writer`` has flushed."""
    report.steps = [step for step, _, _ in loaded]
    writer.flush()
    report.seconds = time.perf_counter() - start
    return report


def replay_history(writer: Any, history: dict[str, Any], tag: str = "gradnap") -> ReplayReport:
    """:func:`replay` of the files in a callback's history (:func:`replay_from_history`)."""
    return replay_from_history(replay, writer, history, tag, "replay")
