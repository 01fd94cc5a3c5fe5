"""The ``.npz`` file of :class:`~lightning_gradnap.profiles.result.Profiles`: written atomically, checked when read.

Layout, readable with plain ``numpy.load(path)`` (no pickle):

=====================  ==================================================================
key                    content
=====================  ==================================================================
``format_version``     int, currently 1
``layers``             ``[L]`` str, layer names in order
``group_names``        ``[G]`` str
``group_categories``   ``[G]`` str (empty strings when no categories were given)
``metadata``           str, a JSON object (method, objective, normalisation, ...)
``profile_<i>``        float64 ``[G, C_i]`` (``[G, C_i, W]`` time-resolved), NaN rows = absent
``means_<i>``          float64, same shape: raw group means ``S / N`` before normalisation
``counts_<i>``         float64 ``[G]``: frames (or utterances, or segments) per group
=====================  ==================================================================

``half_means_<i>``     float64 ``[2, ...]``: group means of each half of the data (optional)
``half_counts_<i>``    float64 ``[2, G]``: their counts (optional)
``feature_means``      float64 ``[G, F, W]``: the feature view (optional; also
                       ``feature_weighted_means``, ``feature_counts``, ``feature_overall``)
``tracked_groups_<i>``  the views' orderings (optional, :attr:`Profiles.orderings`, see
                       :mod:`lightning_gradnap.analysis.tracking`): also ``tracked_neurons``,
                       ``tracked_anchor``, ``groups_2d``, ``cluster_groups``, ``cluster_neurons``

``<i>`` is the index of the layer in ``layers``. Profiles of two methods in one file name the
second method's layers ``"<method>/<layer>"`` and list the methods in the metadata.
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from lightning_gradnap.profiles.result import FORMAT_VERSION, ORDERING_KEYS, FeatureViews, LayerProfile, Profiles

__all__ = ["load_profiles", "save_profiles"]


def save_profiles(profiles: Profiles, path: str | os.PathLike) -> Path:
    """Write ``profiles`` to ``path`` (``.npz``) atomically: a temporary file beside it, then a rename."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"profile files end in .npz, got {str(path)!r}")
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION),
        "layers": np.array(profiles.layer_names, dtype=str),
        "group_names": np.array(profiles.group_names, dtype=str),
        "group_categories": np.array(profiles.group_categories or [""] * profiles.num_groups, dtype=str),
        "metadata": np.array(json.dumps(profiles.metadata)),
    }
    for i, result in enumerate(profiles.layers.values()):
        arrays[f"profile_{i}"] = result.profile
        arrays[f"means_{i}"] = result.means
        arrays[f"counts_{i}"] = result.counts
        if result.half_means is not None and result.half_counts is not None:
            arrays[f"half_means_{i}"] = result.half_means
            arrays[f"half_counts_{i}"] = result.half_counts
    arrays.update(_ordering_arrays(profiles.orderings, profiles.layer_names))
    if profiles.features is not None:
        views = profiles.features
        arrays.update(feature_means=views.means, feature_counts=views.counts, feature_overall=views.overall)
        if views.weighted_means is not None:
            arrays["feature_weighted_means"] = views.weighted_means
    _atomic_savez(path, arrays)
    return path


def load_profiles(path: str | os.PathLike) -> Profiles:
    """Read a file written by :func:`save_profiles` (see :meth:`Profiles.load`)."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise _unreadable(path, error) from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{str(path)!r} holds a single array (a .npy file), not a profile file: profile files "
            "are .npz archives written by Profiles.save"
        )
    try:
        with loaded as data:
            return _from_arrays(data)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise _unreadable(path, error) from error


def _from_arrays(data: Any) -> Profiles:
    """The profiles in an open ``.npz`` archive, after checking that its parts agree."""
    version = data["format_version"]
    if version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(f"format_version should be one integer, got {version.dtype} {version.shape}")
    if int(version) != FORMAT_VERSION:
        raise ValueError(f"format version {int(version)}, this library reads {FORMAT_VERSION}")
    group_names = _strings(data, "group_names")
    categories = _strings(data, "group_categories")
    if len(categories) != len(group_names):
        raise ValueError(f"{len(categories)} group categories for {len(group_names)} group names")
    layers = {name: _layer(data, i, name, len(group_names)) for i, name in enumerate(_strings(data, "layers"))}
    features = None
    if "feature_means" in data:
        features = FeatureViews(
            data["feature_means"], data.get("feature_weighted_means"), data["feature_counts"], data["feature_overall"]
        )
    metadata = json.loads(str(data["metadata"]))
    orderings = _read_orderings(data, list(layers))
    return Profiles(layers, group_names, categories if any(categories) else None, metadata, features, orderings)


def _ordering_arrays(orderings: dict[str, dict[str, np.ndarray]], layer_names: list[str]) -> dict[str, np.ndarray]:
    """The views' orderings as ``<key>_<i>`` arrays (``<i>``: the layer's index)."""
    return {
        f"{key}_{layer_names.index(layer)}": np.asarray(value)
        for layer, arrays in orderings.items()
        if layer in layer_names
        for key, value in arrays.items()
        if key in ORDERING_KEYS
    }


def _read_orderings(data: Any, layer_names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """The optional ``<key>_<i>`` arrays of an open archive (none in older files)."""
    orderings: dict[str, dict[str, np.ndarray]] = {}
    for i, layer in enumerate(layer_names):
        found = {key: data[f"{key}_{i}"] for key in ORDERING_KEYS if f"{key}_{i}" in data.files}
        if found:
            orderings[layer] = found
    return orderings


def _strings(data: Any, key: str) -> list[str]:
    values = data[key]
    if values.ndim != 1 or values.dtype.kind != "U":
        raise ValueError(f"{key!r} should be a list of strings, got {values.dtype} {values.shape}")
    return [str(value) for value in values]


def _layer(data: Any, index: int, name: str, num_groups: int) -> LayerProfile:
    """Layer ``index``'s arrays, checked against each other and the number of groups."""
    profile, means, counts = (data[f"{key}_{index}"] for key in ("profile", "means", "counts"))
    if profile.ndim not in (2, 3) or profile.shape[0] != num_groups:
        raise ValueError(
            f"layer {name!r}: profile of shape {profile.shape}, expected [{num_groups}, channels] "
            f"(or [{num_groups}, channels, window]) for the file's {num_groups} group names"
        )
    if means.shape != profile.shape:
        raise ValueError(f"layer {name!r}: means of shape {means.shape}, its profile {profile.shape}")
    if counts.shape != (num_groups,):
        raise ValueError(f"layer {name!r}: {counts.shape} counts, expected one per group ({num_groups},)")
    half_means, half_counts = data.get(f"half_means_{index}"), data.get(f"half_counts_{index}")
    fits = half_means is None or (
        half_means.shape == (2, *means.shape) and getattr(half_counts, "shape", None) == (2, num_groups)
    )
    if not fits:
        raise ValueError(
            f"layer {name!r}: half means {half_means.shape} or half counts do not match its means {means.shape}"
        )
    return LayerProfile(profile, means, counts, half_means, half_counts)


def _unreadable(path: Path, error: BaseException) -> ValueError:
    return ValueError(
        f"{str(path)!r} is not a readable profile file ({type(error).__name__}: {error}); "
        "it may be truncated, corrupt or written by other code: write it again with Profiles.save"
    )


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file beside ``path`` (created with the umask's permissions), then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(temporary, "xb") as file:
            # mypy lets a key of **arrays bind savez's bool allow_pickle; none is named so
            np.savez(file, **arrays)  # type: ignore[arg-type]
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
