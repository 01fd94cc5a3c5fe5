"""Numbers from profiles, no matplotlib or TensorBoard: clustering, scores, embeddings, tracking, emergence.

- :mod:`~lightning_gradnap.analysis.profile_analysis`: :func:`analyze`, the clustering, orders and
  scores of every layer;
- :mod:`~lightning_gradnap.analysis.scores`: category scores with their chance levels, split-half
  reliability; :mod:`~lightning_gradnap.analysis.score_keys`: their names (``<score>_chance``, ...);
- :mod:`~lightning_gradnap.analysis.tracking`: orders that hold still over steps
  (:class:`OrderTracker`, :func:`track_orderings`); :mod:`~lightning_gradnap.analysis.embedding`:
  2-D views of the groups, aligned step to step;
- :mod:`~lightning_gradnap.analysis.emergence`: each layer's scores over the steps;
- :mod:`~lightning_gradnap.analysis.profiling`: one profiling's profiles and analyses, method by method.
"""

from lightning_gradnap.analysis.embedding import aligned_embedding, embed_2d
from lightning_gradnap.analysis.emergence import METRICS, Scores, emergence_matrix, scalars_layout
from lightning_gradnap.analysis.profile_analysis import (
    LayerAnalysis,
    ProfileAnalysis,
    analyze,
    clustered_order,
    cosine_linkage,
    stability,
)
from lightning_gradnap.analysis.profiling import Profiling, profile_state
from lightning_gradnap.analysis.score_keys import layer_scores, score_key, split_score_key
from lightning_gradnap.analysis.scores import SCORES, Baseline
from lightning_gradnap.analysis.tracking import OrderTracker, TrackedOrder, track_orderings

__all__ = [
    "METRICS",
    "SCORES",
    "Baseline",
    "LayerAnalysis",
    "OrderTracker",
    "ProfileAnalysis",
    "Profiling",
    "Scores",
    "TrackedOrder",
    "aligned_embedding",
    "analyze",
    "clustered_order",
    "cosine_linkage",
    "embed_2d",
    "emergence_matrix",
    "layer_scores",
    "profile_state",
    "scalars_layout",
    "score_key",
    "split_score_key",
    "stability",
    "track_orderings",
]
