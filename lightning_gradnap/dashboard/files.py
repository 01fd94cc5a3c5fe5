"""Runs and their profile files: where they are, in which order, and what each holds.

A *run* is a folder of ``.npz`` profile files: a logger's ``<log_dir>/profiles/`` (the run is then
named by ``<log_dir>`` relative to the root), or any folder that holds ``.npz`` files directly (files
saved by hand with ``Profiles.save``; the run is named by that folder). Nothing is ever written.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lightning_gradnap.profiles.result import FORMAT_VERSION

__all__ = ["Header", "ProfileFile", "RunIndex", "find_runs", "list_files", "open_profile_file", "read_header"]

#: ``epoch=NNN-step=NNNNNN.npz``, as the callback names its files.
FILE_NAME = re.compile(r"(?:epoch=(?P<epoch>\d+))?.*?step=(?P<step>\d+)")


#: Above this many folders the search for runs stops going deeper (a log directory is small).
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
    Every folder is walked, however many there are, and folder links are followed (each real
    folder once), as TensorBoard's own run list does. Hidden files (``.name.npz``) are no runs.
    """
    root = Path(root)
    if not root.is_dir():
        return {}
    runs: dict[str, Path] = {}
    for folder_path in _folders_with_profiles(root):
        owner = folder_path.parent if folder_path.name == "profiles" and folder_path != root else folder_path
        runs[_run_name(root, owner)] = folder_path
    return dict(sorted(runs.items()))


def has_runs(root: str | os.PathLike) -> bool:
    """Whether any folder under ``root`` holds a profile file (stops at the first)."""
    if not root or not Path(root).is_dir():
        return False
    return next(_folders_with_profiles(Path(root)), None) is not None


def _folders_with_profiles(root: Path) -> Iterator[Path]:
    """Folders under ``root`` (links followed, each real folder once) that hold a visible ``.npz`` file."""
    seen: set[str] = set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up, or a second link to one folder
            subfolders.clear()
            continue
        seen.add(real)
        subfolders.sort()
        if any(name.endswith(".npz") and not name.startswith(".") for name in names):
            yield Path(folder)


def _run_name(root: Path, folder: Path) -> str:
    """The run's name as the page shows it; bytes that are not UTF-8 in a folder's name read as U+FFFD."""
    return printable_name(_run_folder_name(root, folder))


def printable_name(name: str) -> str:
    """A file or folder name as text: bytes that are not UTF-8 read as U+FFFD (they cannot go into a page)."""
    return os.fsencode(name).decode("utf-8", "replace")


def _run_folder_name(root: Path, folder: Path) -> str:
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


@dataclass
class _Listing:
    stamp: int  # the folder's mtime
    at: float  # when it was listed (time.monotonic)
    files: list[ProfileFile]
    headers: dict[Path, Header]


class RunIndex:
    """The runs under ``root``, their files and headers, looked at again when needed.

    A run's folder is listed again when its mtime changes (``Profiles.save`` renames a new file
    into it) or after ``recheck_seconds`` (a file rewritten in place). Between those, a request
    costs one ``stat`` of the folder instead of one per file: under TensorBoard every system call
    gives up the GIL, and a busy thread (a first clustering) makes each one slow to come back.

    Args:
        root: The log directory (or folder of files).
        cache: Where headers are kept (checked against each file's mtime when listed).
        recheck_seconds: Longest time a listing is trusted.
    """

    def __init__(self, root: Path, cache: Any, recheck_seconds: float = 1.0) -> None:
        self.root = root
        self.cache = cache
        self.recheck_seconds = recheck_seconds
        self._runs: tuple[float, dict[str, Path]] | None = None
        self._listings: dict[Path, _Listing] = {}
        self._lock = threading.Lock()

    def runs(self, fresh: bool = False) -> dict[str, Path]:
        """Run name -> folder (searched again if ``fresh`` or older than ``recheck_seconds``)."""
        now = time.monotonic()
        if fresh or self._runs is None or now - self._runs[0] > self.recheck_seconds:
            self._runs = (now, find_runs(self.root))
        return self._runs[1]

    def files(self, run: str) -> list[ProfileFile]:
        """The run's files in step order.

        Raises:
            KeyError: for an unknown run (lists the runs).
        """
        runs = self.runs()
        if run not in runs:
            runs = self.runs(fresh=True)
        if run not in runs:
            raise KeyError(f"no run {run!r}; runs: {list(runs)}")
        folder = runs[run]
        try:
            stamp = folder.stat().st_mtime_ns
        except FileNotFoundError:
            raise KeyError(f"the folder of run {run!r} is gone: {str(folder)!r}") from None
        with self._lock:
            listing = self._listings.get(folder)
        if listing is None or listing.stamp != stamp or time.monotonic() - listing.at > self.recheck_seconds:
            started = time.monotonic()
            files = list_files(folder)
            listing = _Listing(stamp, started, files, {file.path: self.cache.header(file.path) for file in files})
            with self._lock:
                self._listings[folder] = listing
        return listing.files

    def header(self, file: ProfileFile) -> Header:
        """The file's header, from the run's listing when it holds it."""
        listing = self._listings.get(file.path.parent)
        if listing is not None and file.path in listing.headers:
            return listing.headers[file.path]
        return self.cache.header(file.path)


def open_profile_file(path: Path) -> Any:
    """``numpy.load`` of a profile file (lazy per key); a ``ValueError`` naming the file if it is unreadable."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{str(path)!r} is not a readable profile file ({type(error).__name__}: {error})") from error


def read_header(path: Path) -> Header:
    """The file's :class:`Header`, reading only its small arrays."""
    try:
        with open_profile_file(path) as data:
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
