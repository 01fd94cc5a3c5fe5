"""A topographic map on a grid, and the two scores of its quality (Krug, Ratul, Stober, HHAI 2023).

:func:`grid_maps` paints each present group's profile over a layer's layout
(:mod:`lightning_gradnap.analysis.topomap`): linear interpolation between the neurons (one Delaunay
triangulation, ``scipy.spatial``: the weights of :func:`grid_weights`), the nearest neuron's value outside
their hull, on a
``GRID x GRID`` square. The scores, each against the same profile on random layouts (the neurons'
places shuffled, :func:`topomap_scores`):

- ``topomap_smoothness`` (:func:`smoothness`): how little a map changes when downsampled. At each
  factor ``f`` of 2, 4, 8 and 16 the map is replaced by its means over ``f x f`` blocks; the error is
  the RMS of the change over the RMS of the map about its mean (0: the map is block-constant at that
  scale; 1: nothing of it survives, as for a checkerboard). A block mean is an orthogonal projection
  that keeps constants, so each error lies in ``[0, 1]``. The area under the error curve (trapezoids
  over ``log2 f``, divided by its width) is the authors' score; this one is ``1 - area``, so that
  higher is smoother: 1 for a map constant over 16 x 16 blocks, 0 for a checkerboard.
- ``topomap_blobs`` and ``topomap_blob_size`` (:func:`blobs`): the colour blobs of a map, the
  4-connected regions (``scipy.ndimage.label``) above ``+BLOB_THRESHOLD`` or below ``-BLOB_THRESHOLD``
  times the map's RMS (the red and the blue of the heatmap's diverging colours, centred on 0): their
  number, and their mean size as a share of the map's area. A topographic map has a few large blobs; a
  random one many small ones.

Each score of a layer is the mean over its present groups' maps. No Trainer, no figures.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy import ndimage
from scipy.spatial import Delaunay, QhullError

from lightning_gradnap.profiles.result import window_mean

__all__ = [
    "BLOB_THRESHOLD",
    "DOWNSAMPLING",
    "GRID",
    "RANDOM_LAYOUTS",
    "TOPOMAP_SCORE_NAMES",
    "blobs",
    "grid_maps",
    "grid_weights",
    "painter",
    "smoothness",
    "topomap_scores",
]

#: Pixels per side of a map's grid (a power of 2, for the downsampling).
GRID = 32
#: Block sizes of the downsampled versions of a map (:func:`smoothness`).
DOWNSAMPLING = (2, 4, 8, 16)
#: Colour blobs are where a map is beyond this many times its RMS (:func:`blobs`).
BLOB_THRESHOLD = 0.5
#: Random layouts that each score is compared with.
RANDOM_LAYOUTS = 5
#: The scores of :func:`topomap_scores`, each logged with its ``_random`` value.
TOPOMAP_SCORE_NAMES = ("topomap_smoothness", "topomap_blobs", "topomap_blob_size")


def _grid_points(size: int) -> np.ndarray:
    centres = (np.arange(size) + 0.5) / size
    xs, ys = np.meshgrid(centres, centres, indexing="xy")  # row = y, column = x
    return np.column_stack([xs.ravel(), ys.ravel()])


def grid_maps(
    profile: np.ndarray,
    positions: np.ndarray,
    size: int = GRID,
    paint: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(maps [P, size, size], groups [P])``: each present group's (window-averaged) profile over the
    neurons at ``positions`` (``[C, 2]`` in ``[0, 1]^2``; row = y, column = x), linearly interpolated, the
    nearest neuron's value outside their hull. ``paint``: :func:`painter` of these positions, if made already."""
    matrix = window_mean(profile)
    groups = np.flatnonzero(np.isfinite(matrix).all(axis=1))
    return (paint or painter(positions, size))(matrix[groups].T), groups


def grid_weights(positions: np.ndarray, size: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    """``(neurons [size * size, 3], weights [size * size, 3])``: each pixel (row by row, row = y) as a weighted sum
    of three neurons: the corners of its Delaunay triangle with its barycentric weights (linear interpolation),
    or outside the neurons' hull the nearest neuron with weight 1. A map is ``(values[neurons] * weights).sum(-1)``;
    the dashboard paints every group and step from these."""
    pixels = _grid_points(size)
    nearest = np.argmin(((pixels[:, None, :] - positions[None, :, :]) ** 2).sum(axis=2), axis=1)
    neurons = np.repeat(nearest[:, None], 3, axis=1)
    weights = np.zeros((len(pixels), 3))
    weights[:, 0] = 1.0
    try:
        simplices = Delaunay(positions).simplices
    except (QhullError, ValueError):  # fewer than 3 neurons, or all on a line: nearest only
        return neurons, weights
    corners = positions[simplices]  # [T, 3, 2]
    sides = np.stack([corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]], axis=2)  # columns B - A, C - A
    flat = np.abs(np.linalg.det(sides)) < 1e-12  # no area: never the pixel's triangle
    inverse = np.linalg.inv(np.where(flat[:, None, None], np.eye(2), sides))
    # Barycentric coordinates of every pixel in every triangle, in chunks of pixels (scipy's find_simplex walks
    # slowly over a lattice's co-circular points: seconds for 256 neurons; this takes milliseconds)
    for start in range(0, len(pixels), 256):
        chunk = pixels[start : start + 256]
        uv = np.einsum("tij,ptj->pti", inverse, chunk[:, None, :] - corners[None, :, 0])  # [p, T, 2]
        coordinates = np.concatenate([1.0 - uv.sum(axis=2, keepdims=True), uv], axis=2)  # [p, T, 3]
        inside = (coordinates >= -1e-9).all(axis=2) & ~flat[None, :]
        found = inside.any(axis=1)
        first = np.argmax(inside, axis=1)[found]
        rows = np.flatnonzero(found) + start
        neurons[rows] = simplices[first]
        weights[rows] = coordinates[np.flatnonzero(found), first]
    return neurons, weights


def painter(positions: np.ndarray, size: int = GRID) -> Callable[[np.ndarray], np.ndarray]:
    """A function ``values [C, P] -> maps [P, size, size]`` over these positions (triangulated once: keep it
    while a layout holds)."""
    neurons, weights = grid_weights(positions, size)

    def paint(values: np.ndarray) -> np.ndarray:
        return np.einsum("xkp,xk->px", values[neurons], weights).reshape(values.shape[1], size, size)

    return paint


def smoothness(image: np.ndarray, factors: tuple[int, ...] = DOWNSAMPLING) -> float:
    """``1 -`` the area under the relative downsampling error over ``log2`` of ``factors`` (see the module's
    docstring): 1 for a map constant over the largest blocks, 0 for a checkerboard; NaN for a constant map."""
    return float(_smoothness_all(image[None], factors)[0])


def blobs(image: np.ndarray, threshold: float = BLOB_THRESHOLD) -> tuple[int, float]:
    """``(number, mean size)`` of the map's colour blobs: 4-connected regions above ``+threshold`` or below
    ``-threshold`` times its RMS; the size is a share of the map's area (NaN when there is no blob)."""
    counts, sizes = _blobs_all(image[None], threshold)
    return int(counts[0]), float(sizes[0])


def _smoothness_all(maps: np.ndarray, factors: tuple[int, ...] = DOWNSAMPLING) -> np.ndarray:
    """:func:`smoothness` of each of ``maps`` ``[N, S, S]`` at once."""
    count, size = maps.shape[0], maps.shape[1]
    spread = np.sqrt(np.mean((maps - maps.mean(axis=(1, 2), keepdims=True)) ** 2, axis=(1, 2)))
    errors = []
    for factor in factors:
        blocks = maps.reshape(count, size // factor, factor, size // factor, factor).mean(axis=(2, 4))
        restored = np.repeat(np.repeat(blocks, factor, axis=1), factor, axis=2)
        errors.append(np.sqrt(np.mean((maps - restored) ** 2, axis=(1, 2))))
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.stack(errors, axis=1) / spread[:, None]
    scales = np.log2(factors)
    area = ((relative[:, 1:] + relative[:, :-1]) / 2 * np.diff(scales)).sum(axis=1) / float(np.ptp(scales))
    return np.where(spread > 0, 1.0 - area, np.nan)


def _blobs_all(maps: np.ndarray, threshold: float = BLOB_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """:func:`blobs` of each of ``maps`` ``[N, S, S]``: one labelling of the stack, its planes unconnected."""
    count = maps.shape[0]
    limit = threshold * np.sqrt(np.mean(maps**2, axis=(1, 2)))[:, None, None]
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)  # 4-connected within a map, never across maps
    found, area = np.zeros(count), np.zeros(count)
    for region in (maps > limit, maps < -limit):
        labels, _ = ndimage.label(region, structure)
        flat = labels.reshape(count, -1)
        # labels are numbered in scan order and never span two maps: each map's are one contiguous range
        highest = flat.max(axis=1)
        lowest = np.where(flat > 0, flat, np.iinfo(flat.dtype).max).min(axis=1)
        found += np.where(highest > 0, highest - lowest + 1, 0)
        area += region.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        sizes = np.where(found > 0, area / found / (maps.shape[1] * maps.shape[2]), np.nan)
    return found, sizes


def _mean_rows(rows: np.ndarray) -> np.ndarray:
    if not len(rows):
        return np.full(3, np.nan)
    with warnings.catch_warnings():  # a score undefined in every map stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(rows, axis=0)


def topomap_scores(
    profile: np.ndarray,
    positions: np.ndarray,
    random_layouts: int = RANDOM_LAYOUTS,
    seed: int = 0,
    paint: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict[str, tuple[float, float]]:
    """Each of :data:`TOPOMAP_SCORE_NAMES` -> ``(value, value on random layouts)``: on the maps of ``profile``
    over ``positions``, and its mean over ``random_layouts`` shuffles of which neuron sits where (same places).
    ``paint``: :func:`painter` of these positions, if made already."""
    matrix = window_mean(profile)
    values = matrix[np.isfinite(matrix).all(axis=1)].T  # [C, P]
    if not values.shape[1]:  # no group with a finite profile: no map to score
        return {name: (float("nan"), float("nan")) for name in TOPOMAP_SCORE_NAMES}
    generator = np.random.default_rng(seed)  # a shuffle of the values is a shuffle of the places
    layouts = [values] + [values[generator.permutation(len(values))] for _ in range(random_layouts)]
    maps = (paint or painter(positions))(np.concatenate(layouts, axis=1))  # every layout's maps in one pass
    per_map = np.column_stack([_smoothness_all(maps), *_blobs_all(maps)]).reshape(len(layouts), -1, 3)
    value = _mean_rows(per_map[0])
    random = _mean_rows(per_map[1:].reshape(-1, 3)) if random_layouts else np.full(3, np.nan)
    return {name: (float(v), float(r)) for name, v, r in zip(TOPOMAP_SCORE_NAMES, value, random, strict=True)}
