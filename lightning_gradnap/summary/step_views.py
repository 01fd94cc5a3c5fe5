"""Write profiles, their analysis and figures to TensorBoard (docs/METHOD.md §2), at one global step.

Works with any ``torch.utils.tensorboard.SummaryWriter``; no Trainer needed. A view that fails
(e.g. for an unusual shape) is left out with a warning that names it and its layer; the other
views are still logged.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from lightning_gradnap.analysis.embedding import embed_2d
from lightning_gradnap.analysis.errors import most_confused
from lightning_gradnap.analysis.profile_analysis import ProfileAnalysis
from lightning_gradnap.analysis.score_keys import layer_scores
from lightning_gradnap.config import VIEWS  # what can be logged (the callback's `views`)
from lightning_gradnap.figures import plots
from lightning_gradnap.figures.errors import right_wrong_figure
from lightning_gradnap.profiles.result import FeatureViews, Profiles
from lightning_gradnap.summary.tags import layer_tag, numbered_layers

__all__ = ["ERROR_GROUPS", "feature_groups", "guarded", "write_tensorboard"]

#: The right/wrong view (``errors``) shows this many of the most confused groups.
ERROR_GROUPS = 8


def feature_groups(views: FeatureViews, categories: Sequence[str] | None, count: int) -> list[int]:
    """Up to ``count`` groups for the feature view: the most frequent group of each category in
    turn (so that every category shows), or simply the most frequent groups."""
    by_count = [int(g) for g in np.argsort(-views.counts, kind="stable") if views.counts[g] > 0]
    if categories is None:
        return by_count[:count]
    chosen: list[int] = []
    while len(chosen) < min(count, len(by_count)):
        seen: set[str] = set()
        for g in by_count:
            if g not in chosen and categories[g] not in seen and len(chosen) < count:
                chosen.append(g)
                seen.add(categories[g])
    return chosen


def write_tensorboard(
    writer,
    profiles: Profiles,
    analysis: ProfileAnalysis,
    step: int,
    epoch: int,
    views: Sequence[str] = VIEWS,
    feature_views: FeatureViews | None = None,
    num_feature_groups: int = 6,
    embedding: str = "pca",
    tag: str = "gradnap",
) -> None:
    """Log the chosen views of every layer under ``<tag>/<view>/NN_<layer>`` at ``step``.

    The tracked heatmap (``profile``) and the emergence maps are logged by
    :func:`lightning_gradnap.summary.views.write_views`, which calls this; the 2-D view is aligned to the
    previous step where ``profiles.orderings`` holds aligned points (``groups_2d``). A view that raises is
    skipped with a ``RuntimeWarning`` naming the view and the layer.
    """
    names, categories = profiles.group_names, profiles.group_categories
    numbered = numbered_layers(analysis.layers)
    for layer, result in analysis.layers.items():
        profile = profiles[layer].profile
        title = f"{layer} — epoch {epoch}, step {step}"
        if "profile_clustered" in views and len(result.present):
            with guarded("profile_clustered", layer, step):
                label = f"{profiles.metadata.get('method', 'profile')} (centred)"
                figure = plots.profile_heatmap(
                    profile, names, result.group_order, result.neuron_order, title, categories, label
                )
                _add_figure(writer, layer_tag(tag, "profile_clustered", numbered[layer]), figure, step)
        if "dendrogram" in views and result.linkage is not None:
            with guarded("dendrogram", layer, step):
                figure = plots.dendrogram_figure(result.linkage, names, result.present, title, categories)
                _add_figure(writer, layer_tag(tag, "dendrogram", numbered[layer]), figure, step)
        rows = profile.reshape(len(profile), -1)[result.present]
        if "groups_2d" in views and len(result.present) >= 2:
            with guarded("groups_2d", layer, step):
                aligned = profiles.orderings.get(layer, {}).get("groups_2d")
                points = aligned[result.present] if aligned is not None else embed_2d(rows, embedding)
                limit = (
                    None if aligned is None else max(1.0, 1.1 * float(np.max(np.abs(points))))
                )  # held unless outgrown
                figure = plots.groups_2d_figure(
                    points, names, result.present, title, categories, embedding.upper(), limit
                )
                _add_figure(writer, layer_tag(tag, "groups_2d", numbered[layer]), figure, step)
        confused = (
            most_confused(profiles[layer].counts, ERROR_GROUPS) if profiles.metadata.get("split_by_correctness") else []
        )
        if "errors" in views and confused:
            with guarded("errors", layer, step):
                figure = right_wrong_figure(
                    profile, profiles[layer].counts, names, confused, result.neuron_order, title, categories
                )
                _add_figure(writer, layer_tag(tag, "errors", numbered[layer]), figure, step)
        if "scalars" in views:
            with guarded("scalars", layer, step):
                _add_scores(writer, tag, numbered[layer], result, analysis.input_scores, step)
        if "projector" in views and len(result.present):
            with guarded("projector", layer, step):
                metadata = [[names[g], categories[g] if categories else ""] for g in result.present]
                writer.add_embedding(
                    rows,
                    metadata=metadata,
                    metadata_header=["group", "category"],
                    global_step=step,
                    tag=f"{tag}/{layer}",
                )
    if "agreement" in views and len(analysis.layers) >= 2:
        with guarded("agreement", "all layers", step):
            figure = plots.agreement_figure(
                analysis.agreement, list(analysis.layers), f"layer agreement — epoch {epoch}"
            )
            _add_figure(writer, f"{tag}/agreement/layers", figure, step)
    if "features" in views and feature_views is not None:
        with guarded("features", "the input", step):
            chosen = feature_groups(feature_views, categories, num_feature_groups)
            if chosen:
                weighted = None if feature_views.weighted_means is None else feature_views.weighted_means[chosen]
                figure = plots.feature_figure(
                    feature_views.means[chosen],
                    feature_views.overall,
                    [names[g] for g in chosen],
                    f"input features around each group's segments — epoch {epoch}",
                    weighted,
                )
                _add_figure(writer, f"{tag}/features/input", figure, step)
    writer.flush()


def _add_scores(writer, tag: str, layer: str, result, input_scores: dict[str, float], step: int) -> None:
    """Each finite number of :func:`~lightning_gradnap.analysis.score_keys.layer_scores` as
    ``<tag>/<key>/NN_<layer>``: each score with what it is read against (``_chance``, ``_chance_p95``,
    ``_input``, ``_half0``, ``_half1``), then ``reliability``, ``stability`` and ``method_agreement``."""
    for key, value in layer_scores(result, input_scores).items():
        if np.isfinite(value):
            writer.add_scalar(layer_tag(tag, key, layer), value, step)


@contextmanager
def guarded(view: str, layer: str, step: int) -> Iterator[None]:
    """Turn a failing view into a warning, so that one odd shape costs one figure, not the others."""
    try:
        yield
    except Exception as error:
        where = layer if layer in ("all layers", "the input") else f"layer {layer!r}"
        warnings.warn(
            f"GradNAP: the {view!r} view of {where} failed at step {step} and is left out "
            f"({type(error).__name__}: {error}); the other views are logged",
            RuntimeWarning,
            stacklevel=3,
        )


def _add_figure(writer, tag: str, figure, step: int) -> None:
    writer.add_image(tag, plots.figure_to_array(figure), step, dataformats="HWC")
