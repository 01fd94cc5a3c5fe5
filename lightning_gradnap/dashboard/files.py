"""Runs and their profile files: where they are, in which order, and what each holds.

A *run* is a folder of ``.npz`` profile files: a logger's ``<log_dir>/profiles/`` (the run is then
named by ``<log_dir>`` relative to the root), or any folder that holds ``.npz`` files directly (files
saved by hand with ``Profiles.save``; the run is named by that folder). Nothing is ever written.
File names and headers are read through :mod:`lightning_gradnap.profiles.npz`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_gradnap.profiles.npz import Header, MalformedFile, parse_file_name, repeat_of

__all__ = ["ProfileFile", "RunIndex", "find_runs", "has_runs", "list_files", "printable_name"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProfileFile:
    """One profiling of a run.

    Attributes:
        path: The ``.npz`` file.
        step: Global step (from the file name; files saved by hand count 0, 1, ... in name order).
        epoch: Epoch from the file name, or None.
        repeat: The repeat's name (``"validate-1"``: ``validate()`` again at that step, perhaps on other
            data), ``""`` for the first profiling at its step; a file is identified by step and repeat.
    """

    path: Path
    step: int
    epoch: int | None
    repeat: str = ""

    @property
    def of_fit(self) -> bool:
        """Whether ``fit`` wrote it (not a ``validate()`` repeat, which may be of other data)."""
        return not self.repeat.startswith("validate")


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


def has_runs(root: str | os.PathLike[str]) -> bool:
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
    """The run's profile files, by step and then repeat (the callback's names), else in name order."""
    paths = sorted(path for path in folder.glob("*.npz") if not path.name.startswith("."))
    parsed = [parse_file_name(path) for path in paths]
    if paths and all(name is not None for name in parsed):
        files = [
            ProfileFile(path, name.step, name.epoch, repeat_of(path))
            for path, name in zip(paths, parsed, strict=True)
            if name is not None
        ]
        return sorted(files, key=lambda file: (file.step, file.repeat != "", file.path.name))
    return [ProfileFile(path, index, None) for index, path in enumerate(paths)]


@dataclass
class _Listing:
    stamp: int  # the folder's mtime
    at: float  # when it was listed (time.monotonic)
    files: list[ProfileFile]
    headers: dict[Path, Header]
    skipped: dict[Path, tuple[ProfileFile, MalformedFile]]


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

    Attributes:
        warn: Says which file was skipped, once per change (default: the logger; the report sets a
            ``warnings.warn``).
    """

    def __init__(self, root: Path, cache: Any, recheck_seconds: float = 1.0) -> None:
        self.root = root
        self.cache = cache
        self.recheck_seconds = recheck_seconds
        self.warn: Callable[[str], None] = logger.warning
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
            listing = self._list(folder, stamp, listing)
        return listing.files

    def skipped(self, run: str) -> list[tuple[ProfileFile, MalformedFile]]:
        """The run's files left out of :meth:`files` (malformed or refused), with why."""
        self.files(run)
        listing = self._listings.get(self.runs()[run])
        return list(listing.skipped.values()) if listing is not None else []

    def _list(self, folder: Path, stamp: int, previous: _Listing | None) -> _Listing:
        """List ``folder`` again; a malformed or refused file is left out with a warning (once) that names it."""
        started = time.monotonic()
        files, headers, skipped = [], {}, {}
        for file in list_files(folder):
            try:
                headers[file.path] = self.cache.header(file.path)
                files.append(file)
            except MalformedFile as error:
                skipped[file.path] = (file, error)
                if previous is None or str(previous.skipped.get(file.path, (None, ""))[1]) != str(error):
                    self.warn(f"GradNAP dashboard: skipped {error.name!r}: {error.reason}")
        listing = _Listing(stamp, started, files, headers, skipped)
        with self._lock:
            self._listings[folder] = listing
        return listing

    def header(self, file: ProfileFile) -> Header:
        """The file's header, from the run's listing when it holds it."""
        listing = self._listings.get(file.path.parent)
        if listing is not None and file.path in listing.headers:
            return listing.headers[file.path]
        return self.cache.header(file.path)
