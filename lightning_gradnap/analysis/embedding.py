"""2-D views of the groups that move rather than flip from step to step (docs/METHOD.md §2).

PCA and t-SNE fix their axes only up to rotation and reflection, so two steps' embeddings of
nearly the same profiles can look mirrored. :func:`aligned_embedding` rotates (or reflects) each
step's embedding onto the previous step's by orthogonal Procrustes over the groups present in
both (:func:`align_points`). t-SNE's arbitrary scale is set to an RMS radius of
:data:`TSNE_RADIUS` first; PCA keeps its scale, which is the spread of the groups.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import orthogonal_procrustes

from lightning_gradnap.summary.step_views import embed_2d

__all__ = ["TSNE_RADIUS", "align_points", "aligned_embedding"]

#: RMS radius that t-SNE coordinates are scaled to before alignment.
TSNE_RADIUS = 0.5


def align_points(points: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """``points`` ``[G, 2]`` (NaN rows: absent) rotated or reflected onto ``previous`` by
    orthogonal Procrustes over the rows finite in both; translated so that those rows keep their
    centre. Unchanged if fewer than 2 rows are shared or shapes differ."""
    if previous is None or previous.shape != points.shape:
        return points
    both = np.isfinite(points).all(axis=1) & np.isfinite(previous).all(axis=1)
    if both.sum() < 2:
        return points
    centre, previous_centre = points[both].mean(axis=0), previous[both].mean(axis=0)
    rotation, _ = orthogonal_procrustes(points[both] - centre, previous[both] - previous_centre)
    return (points - centre) @ rotation + previous_centre


def aligned_embedding(profile: np.ndarray, previous: np.ndarray | None = None, embedding: str = "pca") -> np.ndarray:
    """``[G, 2]`` coordinates of the groups (NaN rows for absent ones; see
    :func:`~lightning_gradnap.summary.step_views.embed_2d`), aligned to ``previous`` if given."""
    rows = profile.reshape(len(profile), -1)
    present = np.isfinite(rows).all(axis=1)
    points = np.full((len(rows), 2), np.nan)
    if present.sum() >= 2:
        embedded = embed_2d(rows[present], embedding)
        if embedding == "tsne":
            centred = embedded - embedded.mean(axis=0)
            radius = float(np.sqrt(np.mean(np.sum(centred**2, axis=1))))
            embedded = centred * (TSNE_RADIUS / radius if radius > 0 else 1.0)
        points[present] = embedded
    return align_points(points, previous)
