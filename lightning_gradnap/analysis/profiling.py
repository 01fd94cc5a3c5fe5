"""One profiling, from summed state to what is written: profiles and analyses for each method.

With ``method=["gradnap", "nap"]`` the engine folds both from one forward and backward pass;
here each gets its profiles and analysis (scores against chance and against the model input's
own profile), and the two are compared layer by layer. Both are kept in one :class:`Profiles`
whose second method's layers are named ``"nap/<layer>"`` (:meth:`Profiles.method`), so that one
``.npz`` file holds the profiling. No Trainer needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from lightning_gradnap.analysis.profile_analysis import ProfileAnalysis, analyze
from lightning_gradnap.analysis.score_keys import layer_scores
from lightning_gradnap.analysis.scores import profile_correlation
from lightning_gradnap.config import AnalysisOptions
from lightning_gradnap.profiles.from_state import State, StateContents, feature_views_from_state, profiles_of_method
from lightning_gradnap.profiles.groups import Groups
from lightning_gradnap.profiles.result import FeatureViews, Profiles, normalize_profiles

__all__ = ["Profiling", "profile_state"]


@dataclass
class Profiling:
    """Profiles and analyses of one profiling.

    Attributes:
        profiles: All methods' layers in one :class:`Profiles` (the first method's under their
            own names, the others' as ``"<method>/<layer>"``).
        analyses: The analysis of each method, by method name, first method first.
        feature_views: The input-domain views, or None.
    """

    profiles: Profiles
    analyses: dict[str, ProfileAnalysis]
    feature_views: FeatureViews | None

    @property
    def methods(self) -> list[str]:
        return list(self.analyses)

    @property
    def first(self) -> tuple[Profiles, ProfileAnalysis]:
        method = next(iter(self.analyses))
        return self.profiles.method(method), self.analyses[method]


def profile_state(
    contents: StateContents,
    state: State,
    groups: Groups,
    options: AnalysisOptions | None = None,
    previous: Profiles | None = None,
    faithfulness: Mapping[str, Mapping[str, float]] | None = None,
) -> Profiling:
    """Profiles and analysis of every method in a (reduced) ``state``.

    Args:
        contents: What ``state`` holds (methods, layers, groups) and the options that filled it, as
            the engine that filled it says (``ProfileEngine.contents``).
        state: Its sums and counts, e.g. summed over all processes.
        groups: Names, categories and features (for the ``rsa`` score) of the groups.
        options: Normalisation and clustering.
        previous: The previous profiling (as written), for the stability.
        faithfulness: The causal check's scores by layer and key (docs/faithfulness.md), for the first method.
    """
    options = options or AnalysisOptions()
    norm = (options.weight_by_count, options.scale)
    feature_views = feature_views_from_state(state)
    by_method = {
        method: profiles_of_method(state, contents, method, groups.names, groups.categories, *norm)
        for method in contents.methods
    }
    analyses = {}
    for method, profiles in by_method.items():
        before = None if previous is None else previous.method(method, missing_ok=True)
        analyses[method] = analyze(
            profiles,
            options.num_clusters,
            options.clustering,
            before,
            features=groups.features,
            input_profile=_input_profile(feature_views, method, *norm),
        )
    if len(by_method) == 2:
        (first, a), (_, b) = by_method.items()
        for layer, result in analyses[first].layers.items():
            result.method_agreement = profile_correlation(a[layer].profile, b[layer].profile)
    for layer, values in (faithfulness or {}).items():
        analyses[contents.methods[0]].layers[layer].faithfulness.update(values)
    combined = Profiles.combine(by_method)
    combined.features = feature_views
    combined.metadata["scores"] = {method: _saved_scores(analysis) for method, analysis in analyses.items()}
    return Profiling(combined, analyses, feature_views)


def _saved_scores(analysis: ProfileAnalysis) -> dict[str, dict[str, float | None]]:
    """Each layer's scores for the file's metadata (JSON: NaN as null), as the dashboard reads them:
    :func:`~lightning_gradnap.analysis.score_keys.layer_scores` without the halves."""
    saved = {}
    for layer, result in analysis.layers.items():
        values = layer_scores(result, analysis.input_scores, halves=False)
        saved[layer] = {name: (float(v) if np.isfinite(v) else None) for name, v in values.items()}
    return saved


def _input_profile(
    views: FeatureViews | None, method: str, weight_by_count: bool, scale: str | None
) -> np.ndarray | None:
    """The model input's own profile for ``method``: the mean input windows (NAP) or the mean
    ``x * dy/dx`` windows (GradNAP) of each group, normalised like a layer's profile."""
    if views is None:
        return None
    means = views.weighted_means if method == "gradnap" else views.means
    return None if means is None else normalize_profiles(means, views.counts, weight_by_count, scale)
