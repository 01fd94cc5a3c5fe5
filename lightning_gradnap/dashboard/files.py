"""Runs, their profile files, and the arrays in them, read lazily and cached by (path, mtime).

A *run* is a folder of ``.npz`` profile files: a logger's ``<log_dir>/profiles/`` (the run is then
named by ``<log_dir>`` relative to the root), or any folder that holds ``.npz`` files directly (files
saved by hand with ``Profiles.save``; the run is named by that folder). Nothing is ever written.

Only the arrays a view needs are read (``numpy.load`` is lazy per key), and each is kept in a
byte-bounded LRU cache keyed by (path, key) and checked against the file's mtime and size, so a file
that a training run rewrites is read again, and a new file shows on the next listing.
"""

from __future__ import annotations

import json
import os
import re
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lightning_gradnap.profiles import FORMAT_VERSION

__all__ = ["ArrayCache", "Header", "ProfileFile", "find_runs", "list_files"]

#: ``epoch=NNN-step=NNNNNN.npz``, as the callback names its files.
FILE_NAME = re.compile(r"(?:epoch=(?P<epoch>\d+))?.*?step=(?P<step>\d+)")
#: Above this many folders the search for runs stops going deeper (a log directory is small).
MAX_FOLDERS = 20_000


@dataclass(frozen=True)
class ProfileFile:
    """One profiling of a run.

    Attributes:
        path: The ``.npz`` file.
        step: Global step (from the file name; files saved by hand count 0, 1, ... in name order).
        epoch: Epoch from the file name, or None.
    """

    path: Path
    step: int
    epoch: int | None


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


def find_runs(root: str | os.PathLike) -> dict[str, Path]:
    """Run name -> folder of its ``.npz`` files, for every run under ``root`` (sorted by name).

    A folder named ``profiles`` belongs to its parent (the logger's log directory); any other
    folder holding ``.npz`` files is a run of its own. The root itself is named by its own name.
    """
    root = Path(root)
    if not root.is_dir():
        return {}
    runs: dict[str, Path] = {}
    for count, (folder, subfolders, names) in enumerate(os.walk(root)):
        subfolders.sort()
        if count > MAX_FOLDERS:
            break
        if not any(name.endswith(".npz") for name in names):
            continue
        folder_path = Path(folder)
        owner = folder_path.parent if folder_path.name == "profiles" and folder_path != root else folder_path
        runs[_run_name(root, owner)] = folder_path
    return dict(sorted(runs.items()))


def has_runs(root: str | os.PathLike) -> bool:
    """Whether any folder under ``root`` holds an ``.npz`` file (stops at the first)."""
    if not root or not Path(root).is_dir():
        return False
    for count, (_, _, names) in enumerate(os.walk(root)):
        if count > MAX_FOLDERS:
            return False
        if any(name.endswith(".npz") for name in names):
            return True
    return False


def _run_name(root: Path, folder: Path) -> str:
    relative = folder.relative_to(root).as_posix()
    if relative != ".":
        return relative
    root = root.resolve()
    return (root.parent.name if root.name == "profiles" else root.name) or "."


def list_files(folder: Path) -> list[ProfileFile]:
    """The run's profile files, by step (the callback's names), else in name order."""
    paths = sorted(path for path in folder.glob("*.npz") if not path.name.startswith("."))
    parsed = [FILE_NAME.search(path.stem) for path in paths]
    if paths and all(match is not None for match in parsed):
        files = [
            ProfileFile(path, int(match["step"]), int(match["epoch"]) if match["epoch"] else None)
            for path, match in zip(paths, parsed)
        ]
        return sorted(files, key=lambda file: (file.step, file.path.name))
    return [ProfileFile(path, index, None) for index, path in enumerate(paths)]


class ArrayCache:
    """Arrays of profile files, read on first use and kept while the file is unchanged.

    Args:
        max_bytes: Budget of the cache; the least recently used arrays go first.

    Thread-safe: TensorBoard serves requests from several threads.
    """

    def __init__(self, max_bytes: int = 1 << 30) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str], tuple[tuple[int, int], Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def header(self, path: Path) -> Header:
        """The file's :class:`Header` (cached)."""
        return self.get(path, "<header>", lambda: _read_header(path))

    def array(self, path: Path, key: str) -> np.ndarray:
        """One array of the file (cached; read-only)."""

        def read() -> np.ndarray:
            with _open(path) as data:
                if key not in data.files:
                    raise KeyError(f"{str(path)!r} has no array {key!r}")
                array = data[key]
            array.setflags(write=False)
            return array

        return self.get(path, key, read)

    def get(self, path: Path, key: str, compute: Any) -> Any:
        """``compute()`` for ``(path, key)``, cached until the file's mtime or size changes."""
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        slot = (str(path), key)
        with self._lock:
            item = self._items.get(slot)
            if item is not None and item[0] == stamp:
                self._items.move_to_end(slot)
                return item[1]
        value = compute()
        size = _size_of(value)
        with self._lock:
            old = self._items.pop(slot, None)
            self._bytes -= old[2] if old else 0
            self._items[slot] = (stamp, value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, (_, _, freed) = self._items.popitem(last=False)
                self._bytes -= freed
        return value


def _size_of(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, dict):
        return 256 + sum(_size_of(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return 64 + sum(_size_of(item) for item in value)
    return 256


def _open(path: Path) -> Any:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{str(path)!r} is not a readable profile file ({type(error).__name__}: {error})") from error


def _read_header(path: Path) -> Header:
    try:
        with _open(path) as data:
            keys = frozenset(data.files)
            version = int(data["format_version"])
            if version != FORMAT_VERSION:
                raise ValueError(f"format version {version}, this dashboard reads {FORMAT_VERSION}")
            group_names = [str(name) for name in data["group_names"]]
            categories = [str(c) for c in data["group_categories"]] if "group_categories" in keys else []
            header = Header(
                layers=[str(name) for name in data["layers"]],
                group_names=group_names,
                group_categories=categories or [""] * len(group_names),
                metadata=json.loads(str(data["metadata"])) if "metadata" in keys else {},
                keys=keys,
                shapes={key: _shape(data, key) for key in keys if "profile_" in key or key.startswith("feature_")},
            )
    except (KeyError, ValueError, json.JSONDecodeError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(
            f"{str(path)!r} is not a readable profile file ({type(error).__name__}: {error}); "
            "write it again with Profiles.save"
        ) from error
    return header


def _shape(data: Any, key: str) -> tuple[int, ...]:
    """An array's shape from its ``.npy`` header, without reading the array."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    with data.zip.open(f"{key}.npy") as member:
        reader = readers.get(np.lib.format.read_magic(member))
        if reader is not None:
            return tuple(reader(member)[0])
    return tuple(data[key].shape)
