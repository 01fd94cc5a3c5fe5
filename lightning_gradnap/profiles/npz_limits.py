"""Size limits of ``.npz`` profile files: what a file declares is checked before anything is loaded.

A zip entry's declared inflated size bounds what ``zipfile`` reads of it, and an ``.npy`` header's
shape is what ``numpy`` allocates: so a zip bomb (an entry that inflates a thousand times) and a
header that lies about its shape (``(4, 10**12)`` in a few bytes) are refused (:class:`RefusedFile`)
before they cost memory. It imports nothing of the package.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BOMB_MIN_BYTES",
    "MAX_ARRAY_BYTES",
    "MAX_INFLATION",
    "CheckedNpzFile",
    "MalformedFile",
    "RefusedFile",
    "declared_shape",
]

#: Largest array a file may declare (inflated bytes); larger ones are refused before anything is read.
MAX_ARRAY_BYTES = 8 << 30
#: An array that inflates more than this many times its compressed size, above :data:`BOMB_MIN_BYTES`, is refused
#: (the callback's files are stored uncompressed; float data deflates by 1-3x).
MAX_INFLATION = 100
BOMB_MIN_BYTES = 64 << 20


class MalformedFile(ValueError):
    """A readable ``.npz`` archive that is no profile file of this format.

    Attributes:
        name: The file's name (no folder: route error texts name no server paths).
        reason: What is wrong with it.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"{str(path)!r} is not a readable profile file ({reason}); "
            "it may be truncated, corrupt or written by other code: write it again with Profiles.save"
        )
        self.name = path.name
        self.reason = reason


class RefusedFile(MalformedFile):
    """A file refused before loading: it declares arrays larger than it holds, or than :data:`MAX_ARRAY_BYTES`."""

    def __init__(self, path: Path, reason: str) -> None:
        ValueError.__init__(self, f"{str(path)!r} is refused: {reason}")
        self.name = path.name
        self.reason = f"refused: {reason}"


class CheckedNpzFile(np.lib.npyio.NpzFile):
    """``numpy``'s lazy archive, refusing (:class:`RefusedFile`) an array before reading it when its sizes lie or
    exceed the limits: the zip entries' declared sizes at opening, each ``.npy`` header's shape at reading."""

    def __init__(self, path: Path) -> None:
        file = open(path, "rb")  # noqa: SIM115 (the archive owns and closes it)
        try:
            super().__init__(file, own_fid=True, allow_pickle=False)
        except BaseException:
            file.close()
            raise
        self.path = path
        self.archive: zipfile.ZipFile = self.zip  # type: ignore[assignment]  # open until close()
        try:
            for info in self.archive.infolist():
                _check_entry(path, info)
        except RefusedFile:
            self.close()
            raise

    def __getitem__(self, key: str) -> Any:
        member = key if key.endswith(".npy") else f"{key}.npy"
        if member in self.archive.NameToInfo:
            declared_shape(self, self.path, member)
        return super().__getitem__(key)


def _check_entry(path: Path, info: zipfile.ZipInfo) -> None:
    """Refuse a zip entry that would inflate beyond :data:`MAX_ARRAY_BYTES`, or a zip bomb's ratio."""
    if info.file_size > MAX_ARRAY_BYTES:
        raise RefusedFile(path, f"{info.filename!r} inflates to {info.file_size:,} bytes, over {MAX_ARRAY_BYTES:,}")
    if info.file_size > BOMB_MIN_BYTES and info.file_size > MAX_INFLATION * max(info.compress_size, 1):
        raise RefusedFile(
            path,
            f"{info.filename!r} inflates {info.file_size / max(info.compress_size, 1):,.0f} times "
            f"(from {info.compress_size:,} to {info.file_size:,} bytes): a zip bomb, not a profile",
        )


def declared_shape(data: Any, path: Path, member: str) -> tuple[int, ...] | None:
    """The shape in a member's ``.npy`` header, refused if its bytes exceed what the entry holds (None: no header
    numpy's readers know; numpy then says what is wrong)."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    with data.zip.open(member) as opened:
        reader = readers.get(np.lib.format.read_magic(opened))
        if reader is None:
            return None
        shape, _, dtype = reader(opened)
        header_bytes = opened.tell()
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    holds = data.zip.getinfo(member).file_size - header_bytes
    if declared > holds:
        raise RefusedFile(
            path, f"{member!r} declares shape {tuple(shape)} ({declared:,} bytes) but holds {holds:,} bytes"
        )
    return tuple(shape)
