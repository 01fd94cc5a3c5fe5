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

__all__ = ["InitScores", "Profiling", "profile_state"]

#: The scores of the run's untrained-network profiling: method -> layer -> score name -> value.
InitScores = Mapping[str, Mapping[str, Mapping[str, float]]]


@dataclass
class Profiling:
    """Profiles and analyses of one profiling.

    Attributes:
        profiles: All methods' layers in one :class:`Profiles` (the first method's under their
            own names, the others' as ``"<method>/<layer>"``).
        analyses: The analysis of each method, by method name, first method first.
        feature_views: The input-domain views, or None.
        init: The scores each layer is read against as ``_init`` (of the untrained-network profiling).
    """

    profiles: Profiles
    analyses: dict[str, ProfileAnalysis]
    feature_views: FeatureViews | None
    init: dict[str, dict[str, dict[str, float]]]

    @property
    def methods(self) -> list[str]:
        return list(self.analyses)

    def refresh_scores(self) -> None:
        """Write every analysis' scores into the metadata (again, after scores added later: the topographic maps')."""
        self.profiles.metadata["scores"] = {
            method: _saved_scores(analysis) for method, analysis in self.analyses.items()
        }

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
    init: InitScores | None = None,
    is_init: bool = False,
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
        init: The scores of the run's untrained-network profiling, each layer's ``_init``.
        is_init: This is that profiling: its own scores are its ``_init`` (``init`` is not read).
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
    init_scores = (
        own_scores(analyses) if is_init else {m: {n: dict(v) for n, v in s.items()} for m, s in (init or {}).items()}
    )
    for method, analysis in analyses.items():
        for layer, result in analysis.layers.items():
            result.init = init_scores.get(method, {}).get(layer, {})
    for layer, values in (faithfulness or {}).items():
        analyses[contents.methods[0]].layers[layer].faithfulness.update(values)
    combined = Profiles.combine(by_method)
    combined.features = feature_views
    combined.metadata["scores"] = {method: _saved_scores(analysis) for method, analysis in analyses.items()}
    profiling = Profiling(combined, analyses, feature_views, init_scores)
    profiling.refresh_scores()
    return profiling


def own_scores(analyses: Mapping[str, ProfileAnalysis]) -> dict[str, dict[str, dict[str, float]]]:
    """Each method's layers' score values (method -> layer -> score -> value), as :data:`InitScores`."""
    return {
        method: {
            layer: {name: float(baseline.value) for name, baseline in result.scores.items()}
            for layer, result in analysis.layers.items()
        }
        for method, analysis in analyses.items()
    }


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
