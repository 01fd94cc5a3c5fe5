"""Whole profile files: :class:`~lightning_gradnap.profiles.result.Profiles` written atomically, read back checked.

The format (keys, version, names) is :mod:`lightning_gradnap.profiles.npz`'s. Reading returns the
parts of a :class:`Profiles` as plain arrays and dicts, so that only
:mod:`~lightning_gradnap.profiles.result` builds the dataclasses (and this module does not import it).
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_gradnap.profiles.npz import (
    FORMAT_VERSION,
    ORDERING_KEYS,
    check_version,
    layer_key,
    open_profile_file,
    read_strings,
    unreadable,
)

if TYPE_CHECKING:
    from lightning_gradnap.profiles.result import Profiles

__all__ = ["load_arrays", "save_profiles"]


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
        arrays[layer_key("profile", i)] = result.profile
        arrays[layer_key("means", i)] = result.means
        arrays[layer_key("counts", i)] = result.counts
        if result.half_means is not None and result.half_counts is not None:
            arrays[layer_key("half_means", i)] = result.half_means
            arrays[layer_key("half_counts", i)] = result.half_counts
    arrays.update(_ordering_arrays(profiles.orderings, profiles.layer_names))
    if profiles.features is not None:
        views = profiles.features
        arrays.update(feature_means=views.means, feature_counts=views.counts, feature_overall=views.overall)
        if views.weighted_means is not None:
            arrays["feature_weighted_means"] = views.weighted_means
    _atomic_savez(path, arrays)
    return path


def load_arrays(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by :func:`save_profiles`, checked: the arguments of :class:`Profiles`, with
    each layer's and the feature views' arrays as dicts of their fields (see :meth:`Profiles.load`).

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: if the file is truncated, corrupt, inconsistent or not a profile file (names the
            file and the part).
    """
    path = Path(path)
    with open_profile_file(path) as data:
        try:
            return _from_arrays(data)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as error:
            raise unreadable(path, error) from error


def _from_arrays(data: Any) -> dict[str, Any]:
    """The parts of the profiles in an open ``.npz`` archive, after checking that they agree."""
    check_version(data)
    group_names = read_strings(data, "group_names")
    categories = read_strings(data, "group_categories")
    if len(categories) != len(group_names):
        raise ValueError(f"{len(categories)} group categories for {len(group_names)} group names")
    layers = {name: _layer(data, i, name, len(group_names)) for i, name in enumerate(read_strings(data, "layers"))}
    features = None
    if "feature_means" in data:
        features = {
            "means": data["feature_means"],
            "weighted_means": data.get("feature_weighted_means"),
            "counts": data["feature_counts"],
            "overall": data["feature_overall"],
        }
    return {
        "layers": layers,
        "group_names": group_names,
        "group_categories": categories if any(categories) else None,
        "metadata": json.loads(str(data["metadata"])),
        "features": features,
        "orderings": _read_orderings(data, list(layers)),
    }


def _ordering_arrays(orderings: dict[str, dict[str, np.ndarray]], layer_names: list[str]) -> dict[str, np.ndarray]:
    """The views' orderings as ``<key>_<i>`` arrays (``<i>``: the layer's index)."""
    return {
        layer_key(key, layer_names.index(layer)): np.asarray(value)
        for layer, arrays in orderings.items()
        if layer in layer_names
        for key, value in arrays.items()
        if key in ORDERING_KEYS
    }


def _read_orderings(data: Any, layer_names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """The optional ``<key>_<i>`` arrays of an open archive (none in older files)."""
    orderings: dict[str, dict[str, np.ndarray]] = {}
    for i, layer in enumerate(layer_names):
        found = {key: data[layer_key(key, i)] for key in ORDERING_KEYS if layer_key(key, i) in data.files}
        if found:
            orderings[layer] = found
    return orderings


def _layer(data: Any, index: int, name: str, num_groups: int) -> dict[str, np.ndarray | None]:
    """Layer ``index``'s arrays (the fields of a :class:`LayerProfile`), checked against each other
    and the number of groups."""
    profile, means, counts = (data[layer_key(key, index)] for key in ("profile", "means", "counts"))
    if profile.ndim not in (2, 3) or profile.shape[0] != num_groups:
        raise ValueError(
            f"layer {name!r}: profile of shape {profile.shape}, expected [{num_groups}, channels] "
            f"(or [{num_groups}, channels, window]) for the file's {num_groups} group names"
        )
    if means.shape != profile.shape:
        raise ValueError(f"layer {name!r}: means of shape {means.shape}, its profile {profile.shape}")
    if counts.shape != (num_groups,):
        raise ValueError(f"layer {name!r}: {counts.shape} counts, expected one per group ({num_groups},)")
    half_means, half_counts = data.get(layer_key("half_means", index)), data.get(layer_key("half_counts", index))
    fits = half_means is None or (
        half_means.shape == (2, *means.shape) and getattr(half_counts, "shape", None) == (2, num_groups)
    )
    if not fits:
        raise ValueError(
            f"layer {name!r}: half means {half_means.shape} or half counts do not match its means {means.shape}"
        )
    return {"profile": profile, "means": means, "counts": counts, "half_means": half_means, "half_counts": half_counts}


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
