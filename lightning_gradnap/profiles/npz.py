"""The ``.npz`` file of :class:`~lightning_gradnap.profiles.result.Profiles`: the one owner of its format.

Here are the format version, the array keys (:func:`layer_key`), the file names
(:func:`profile_file_name`, :func:`parse_file_name`), the methods a file holds
(:func:`stored_methods`) and the reading of a file's small part (:func:`read_header`, as the
dashboard reads it), refusing files whose sizes lie (:mod:`~lightning_gradnap.profiles.npz_limits`).
:mod:`lightning_gradnap.profiles.store` writes and reads whole files through
it. It imports nothing else of the package.

Layout, readable with plain ``numpy.load(path)`` (no pickle):

=====================  ==================================================================
key                    content
=====================  ==================================================================
``format_version``     int, :data:`FORMAT_VERSION`
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
``topomap_xy_<i>``     float64 ``[C_i, 2]``: the topographic map's neuron positions in ``[0, 1]^2``
                       (optional, :mod:`lightning_gradnap.analysis.topomap`), with
                       ``topomap_anchor_<i>`` (int64: the step it is held from, ``-1``: this step's own)

``<i>`` is the index of the layer in ``layers`` (:func:`layer_key`). Profiles of two methods in one
file name the second method's layers ``"<method>/<layer>"`` and list the methods in the metadata
(:func:`stored_methods`).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lightning_gradnap.profiles.npz_limits import CheckedNpzFile, MalformedFile, RefusedFile, declared_shape

__all__ = [
    "FORMAT_VERSION",
    "ORDERING_KEYS",
    "FileName",
    "Header",
    "MalformedFile",
    "RefusedFile",
    "check_version",
    "layer_key",
    "open_profile_file",
    "parse_file_name",
    "profile_file_name",
    "read_header",
    "read_strings",
    "repeat_of",
    "stored_methods",
    "unreadable",
]

FORMAT_VERSION = 1
#: Optional per-layer arrays of the views, saved as ``<key>_<i>`` (see :mod:`lightning_gradnap.analysis.tracking`).
ORDERING_KEYS = (
    "tracked_groups",
    "tracked_neurons",
    "tracked_anchor",
    "groups_2d",
    "cluster_groups",
    "cluster_neurons",
    "topomap_xy",
    "topomap_anchor",
)
#: ``epoch=NNN-step=NNNNNN[-run].npz``, as :func:`profile_file_name` names the callback's files.
FILE_NAME = re.compile(r"(?:epoch=(?P<epoch>\d+))?.*?step=(?P<step>\d+)")
REPEAT = re.compile(r"step=\d+-(?P<run>.+)$")


@dataclass(frozen=True)
class FileName:
    """What a profile file's name says: its global step, and its epoch (None if the name has none)."""

    step: int
    epoch: int | None


def profile_file_name(epoch: int, step: int, run: str = "") -> str:
    """``epoch=NNN-step=NNNNNN.npz``, or ``...-<run>.npz`` for a repeated profiling at a step."""
    return f"epoch={epoch:03d}-step={step:06d}{'-' + run if run else ''}.npz"


def parse_file_name(path: str | os.PathLike) -> FileName | None:
    """The step and epoch in a file's name (as :func:`profile_file_name` writes it), or None."""
    found = FILE_NAME.search(Path(path).stem)
    if found is None:
        return None
    return FileName(int(found["step"]), int(found["epoch"]) if found["epoch"] else None)


def repeat_of(path: str | os.PathLike) -> str:
    """The repeat's name in a file name as :func:`profile_file_name` writes it (``"validate-1"``), ``""`` for the
    first profiling at its step (and for names without a step)."""
    found = REPEAT.search(Path(path).stem)
    return found["run"] if found else ""


def layer_key(base: str, index: int) -> str:
    """The key of a per-layer array: ``<base>_<i>`` (``profile_0``, ``tracked_groups_3``, ...)."""
    return f"{base}_{index}"


def stored_methods(metadata: dict[str, Any]) -> list[str]:
    """The methods a file holds, the one that owns the plain layer names first (metadata
    ``methods``, else ``method``, default ``"gradnap"``)."""
    return [str(method) for method in metadata.get("methods", [metadata.get("method", "gradnap")])]


@dataclass(frozen=True)
class Header:
    """The small part of a profile file: names, metadata and which keys it holds.

    Attributes:
        layers: Layer names, in the file's order (``profile_<i>`` is ``layers[i]``).
        group_names: ``[G]`` names.
        group_categories: ``[G]`` categories (``""`` where none were given).
        metadata: The file's JSON metadata.
        keys: Every array key in the file.
        shapes: Key -> array shape, for the profile keys.
    """

    layers: list[str]
    group_names: list[str]
    group_categories: list[str]
    metadata: dict[str, Any]
    keys: frozenset[str]
    shapes: dict[str, tuple[int, ...]]


def read_header(path: str | os.PathLike) -> Header:
    """The file's :class:`Header`, reading only its small arrays (the format version is checked).

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: if it is not a readable profile file of this format (names the file).
    """
    path = Path(path)
    with open_profile_file(path) as data:
        try:
            check_version(data)
            keys = frozenset(data.files)
            group_names = read_strings(data, "group_names")
            categories = read_strings(data, "group_categories") if "group_categories" in keys else []
            header = Header(
                layers=read_strings(data, "layers"),
                group_names=group_names,
                group_categories=categories or [""] * len(group_names),
                metadata=json.loads(str(data["metadata"])) if "metadata" in keys else {},
                keys=keys,
                shapes={key: _shape(data, key) for key in keys if "profile_" in key or key.startswith("feature_")},
            )
            _check_header(header)
            return header
        except MalformedFile:
            raise
        except (OSError, KeyError, ValueError, json.JSONDecodeError, zipfile.BadZipFile, EOFError) as error:
            raise MalformedFile(path, f"{type(error).__name__}: {error}") from error


def _check_header(header: Header) -> None:
    """Raise a ``ValueError`` unless the header's parts fit together (the dashboard relies on them)."""
    if not isinstance(header.metadata, dict):
        raise ValueError(f"metadata should be a JSON object, got {type(header.metadata).__name__}")
    if len(header.group_categories) != len(header.group_names):
        raise ValueError(f"{len(header.group_categories)} group categories for {len(header.group_names)} groups")
    for index, layer in enumerate(header.layers):
        shape = header.shapes.get(layer_key("profile", index))
        if shape is None or len(shape) not in (2, 3) or shape[0] != len(header.group_names):
            raise ValueError(
                f"layer {layer!r}: profile of shape {shape}, expected [{len(header.group_names)}, channels]"
                f" (or [{len(header.group_names)}, channels, window])"
            )


def open_profile_file(path: str | os.PathLike) -> Any:
    """The open ``.npz`` archive (``numpy.load``, lazy per key; use it as a context manager).

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: if it is no readable ``.npz`` archive (names the file).
    """
    path = Path(path)
    try:
        with open(path, "rb") as probe:
            is_zip = probe.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
        loaded = CheckedNpzFile(path) if is_zip else np.load(path, allow_pickle=False)
    except (FileNotFoundError, RefusedFile):
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise unreadable(path, error) from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{str(path)!r} holds a single array (a .npy file), not a profile file: profile files "
            "are .npz archives written by Profiles.save"
        )
    return loaded


def check_version(data: Any) -> None:
    """Raise a ``ValueError`` unless the archive's ``format_version`` is :data:`FORMAT_VERSION`."""
    version = data["format_version"]
    if version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(f"format_version should be one integer, got {version.dtype} {version.shape}")
    if int(version) != FORMAT_VERSION:
        raise ValueError(f"format version {int(version)}, this library reads {FORMAT_VERSION}")


def read_strings(data: Any, key: str) -> list[str]:
    """The 1-D string array ``key`` of an open archive as a list (a ``ValueError`` for any other array)."""
    values = data[key]
    if values.ndim != 1 or values.dtype.kind != "U":
        raise ValueError(f"{key!r} should be a list of strings, got {values.dtype} {values.shape}")
    return [str(value) for value in values]


def _shape(data: Any, key: str) -> tuple[int, ...]:
    """An array's shape from its ``.npy`` header, without reading the array (checked: ``npz_limits``)."""
    shape = declared_shape(data, data.path, f"{key}.npy")
    return shape if shape is not None else tuple(data[key].shape)


def unreadable(path: Path, error: BaseException) -> MalformedFile:
    """The error for a file that is no profile file of this format (a truncated or corrupt archive too): names it,
    the cause, and the fix; the dashboard skips such a file and shows the rest of its run."""
    return MalformedFile(path, f"{type(error).__name__}: {error}")
