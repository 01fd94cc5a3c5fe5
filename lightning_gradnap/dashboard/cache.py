"""Arrays of profile files, read on first use and kept while the file is unchanged.

Only the arrays a view needs are read (``numpy.load`` is lazy per key). Each is kept in a
byte-bounded LRU cache keyed by (path, key) and checked against the file's mtime and size, so a
file that a training run rewrites is read again; results computed from a file (orderings,
scores) are kept the same way.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lightning_gradnap.profiles.npz import Header, open_profile_file, read_header

__all__ = ["ArrayCache"]

T = TypeVar("T")


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
        return self.get(path, "<header>", lambda: read_header(path))

    def array(self, path: Path, key: str) -> np.ndarray:
        """One array of the file (cached; read-only)."""

        def read() -> np.ndarray:
            with open_profile_file(path) as data:
                if key not in data.files:
                    raise KeyError(f"{str(path)!r} has no array {key!r}")
                array = data[key]
            array.setflags(write=False)
            return array

        return self.get(path, key, read)

    def get(self, path: Path, key: str, compute: Callable[[], T]) -> T:
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
