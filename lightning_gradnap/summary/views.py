"""All views of one profiling in TensorBoard, the ones watched over steps included (docs/METHOD.md §2).

:func:`write_views` logs what :func:`~lightning_gradnap.summary.step_views.write_tensorboard` logs (the
per-step clustered heatmap, dendrogram, aligned 2-D view, agreement, features, scalars,
projector) plus the tracked heatmap and the emergence maps, and writes the custom-scalars layout.
Tags are grouped by view and sort in network order (:mod:`lightning_gradnap.summary.tags`):

- ``<tag>/profile/NN_<layer>``: tracked heatmap (rows by category, anchored neurons, unit RMS);
- ``<tag>/emergence/<metric>``: layers x profiling steps, coloured by the score, growing with the run;
- custom scalars: one chart per metric, a line per layer (``<tag>/<metric>/NN_<layer>``).

Works with any ``SummaryWriter``; no Trainer needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightning_gradnap.analysis.emergence import METRICS, Scores, emergence_matrix, scalars_layout
from lightning_gradnap.analysis.profile_analysis import ProfileAnalysis
from lightning_gradnap.analysis.tracking import OrderTracker, TrackedOrder
from lightning_gradnap.config import DEFAULT_VIEWS  # by default all views but the per-step clustered heatmap
from lightning_gradnap.figures import plots
from lightning_gradnap.figures.tracked import LayerFrames, emergence_figure
from lightning_gradnap.profiles.result import FeatureViews, Profiles
from lightning_gradnap.summary.step_views import guarded, write_tensorboard
from lightning_gradnap.summary.tags import layer_tag, numbered_layers
from lightning_gradnap.summary.topomap_views import write_topomaps

__all__ = ["DEFAULT_VIEWS", "tracked_orders", "write_emergence", "write_tracked", "write_views"]


def tracked_orders(
    profiles: Profiles, step: int, analysis: ProfileAnalysis | None = None, embedding: str = "pca"
) -> dict[str, TrackedOrder]:
    """``profiles.orderings`` as :class:`TrackedOrder` objects; computed for this step alone if absent."""
    if not all(layer in profiles.orderings for layer in profiles.layers):
        return OrderTracker(embedding).update(profiles, step, analysis)
    return {
        layer: TrackedOrder.from_arrays(profiles.orderings[layer], profiles[layer].profile) for layer in profiles.layers
    }


def write_tracked(
    writer: Any,
    profiles: Profiles,
    orders: dict[str, TrackedOrder],
    step: int,
    epoch: int,
    tag: str = "gradnap",
    frames: dict[str, tuple[Any, LayerFrames]] | None = None,
) -> None:
    """Log each layer's tracked heatmap as ``<tag>/profile/NN_<layer>``.

    ``frames`` (a dict kept between calls) holds each layer's figure while its orders stay the
    same, so that later steps only redraw the cells (:class:`~lightning_gradnap.figures.tracked.LayerFrames`).
    """
    frames = {} if frames is None else frames
    numbered = numbered_layers(profiles.layers)
    for layer, order in orders.items():
        with guarded("profile", layer, step):  # one failing layer costs its own heatmap only
            width = len(order.neurons)
            columns = (
                f"{width} neurons, by preferred group at step {order.anchor_step} (held)"
                if order.anchor_step is not None
                else f"{width} neurons in index order (no structure to anchor on yet)"
            )
            key = (
                tuple(order.groups),
                tuple(order.neurons),
                columns,
                tuple(profiles.group_names),
                profiles.group_categories,
            )
            slot = f"{tag}/{layer}"  # one figure per tag and layer (GradNAP and NAP draw their own)
            if slot not in frames or frames[slot][0] != key:
                frames[slot] = (
                    key,
                    LayerFrames(
                        profiles[layer].profile,
                        profiles.group_names,
                        order.groups,
                        order.neurons,
                        group_categories=profiles.group_categories,
                        value_label=profiles.metadata.get("method", "profile"),
                        columns_label=columns,
                    ),
                )
            image = frames[slot][1].frame(profiles[layer].profile, f"{layer} — epoch {epoch}, step {step}")
            writer.add_image(layer_tag(tag, "profile", numbered[layer]), image, step, dataformats="HWC")


def write_emergence(
    writer: Any,
    scores: Scores,
    layers: Sequence[str],
    step: int,
    tag: str = "gradnap",
    metrics: Sequence[str] = METRICS,
) -> None:
    """Log one emergence map per metric as ``<tag>/emergence/<metric>``."""
    for metric in metrics:
        figure = emergence_figure(emergence_matrix(scores, layers, metric), list(layers), scores.steps, metric)
        writer.add_image(f"{tag}/emergence/{metric}", plots.figure_to_array(figure), step, dataformats="HWC")


def write_views(
    writer: Any,
    profiles: Profiles,
    analysis: ProfileAnalysis,
    step: int,
    epoch: int,
    views: Sequence[str] = DEFAULT_VIEWS,
    feature_views: FeatureViews | None = None,
    num_feature_groups: int = 6,
    embedding: str = "pca",
    tag: str = "gradnap",
    scores: Scores | None = None,
    layout: bool = True,
    frames: dict[str, tuple[Any, LayerFrames]] | None = None,
) -> None:
    """Log every chosen view of one profiling at ``step``.

    Args:
        profiles: The profiles; their :attr:`~Profiles.orderings` (from an
            :class:`~lightning_gradnap.analysis.tracking.OrderTracker`) hold the tracked views still. Without
            them the orderings are computed for this step alone.
        scores: The run's scores so far, this step's included (for the emergence maps); default:
            this step's only.
        layout: Also write the custom-scalars layout (once per run is enough).
        frames: Kept between calls: the tracked heatmaps' figures (see :func:`write_tracked`).
    """
    orders = tracked_orders(profiles, step, analysis, embedding)
    write_tensorboard(writer, profiles, analysis, step, epoch, views, feature_views, num_feature_groups, embedding, tag)
    if "profile" in views:
        write_tracked(writer, profiles, orders, step, epoch, tag, frames)
    if "topomap" in views:
        write_topomaps(writer, profiles, step, epoch, tag, frames)  # the layers with a layout in profiles.orderings
    if "emergence" in views:
        write_emergence(
            writer, scores or Scores.with_step({}, step, analysis, METRICS), list(analysis.layers), step, tag
        )
    if layout and "scalars" in views:
        checked = any(result.faithfulness for result in analysis.layers.values())
        writer.add_custom_scalars(scalars_layout(METRICS, tag, checked))
    writer.flush()
