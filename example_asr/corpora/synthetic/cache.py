"""Synthesis of the synthetic corpus' specs and its on-disk cache.

A corpus is synthesised once and cached as one ``.npz`` file (int16 audio and alignments,
concatenated, with offsets), named by a hash of everything its content depends on: the specs
(:mod:`example_asr.corpora.synthetic.specs`), the eSpeak version and the phoneme inventory. Changing
any of them synthesises a new file. Files are written atomically; a file that cannot be read is
synthesised again, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from example_asr.corpora.synthetic import espeak
from example_asr.corpora.synthetic.espeak_binding import espeak_version
from example_asr.corpora.synthetic.specs import UtteranceSpec
from example_asr.phonetics.phonemes import ESPEAK_INVENTORY

__all__ = ["PCM_SCALE", "cache_path", "load_or_synthesize", "read_cache"]

_CACHE_FORMAT = 1
_CHUNK = 25  # utterances per multiprocessing task
#: int16 audio in the cache is ``round(waveform * PCM_SCALE)``.
PCM_SCALE = 32767.0


def _cache_key(specs: Sequence[UtteranceSpec]) -> str:
    """Hash of everything the cached content depends on."""
    digest = hashlib.sha256()
    header = {
        "format": _CACHE_FORMAT,
        "espeak": espeak_version(),
        "inventory": ESPEAK_INVENTORY.names,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for spec in specs:
        digest.update(json.dumps(asdict(spec), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def cache_path(root: Path, split: str, seed: int, specs: Sequence[UtteranceSpec]) -> Path:
    """The cache file of ``specs`` (a split's ``len(specs)`` utterances for ``seed``) in ``root``."""
    return root / f"espeak-{split}-n{len(specs)}-seed{seed}-{_cache_key(specs)}.npz"


def _synthesize_specs(
    specs: Sequence[UtteranceSpec], num_workers: int, mp_context: str | None, progress: bool, desc: str
) -> list[espeak.AlignedSpeech]:
    """Synthesise and align every spec, in order, optionally in a process pool."""
    requests = [(s.text, s.voice, s.rate, s.pitch) for s in specs]
    chunks = [requests[i : i + _CHUNK] for i in range(0, len(requests), _CHUNK)]
    results: list[espeak.AlignedSpeech] = []
    with tqdm(total=len(requests), desc=desc, unit="utt", disable=not progress) as bar:
        if num_workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                results.extend(espeak.synthesize_aligned_batch(chunk))
                bar.update(len(chunk))
        else:
            if mp_context is None:  # fork: fast, needs no __main__ guard; the workers only use eSpeak
                mp_context = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            context = multiprocessing.get_context(mp_context)
            with context.Pool(min(num_workers, len(chunks))) as pool:
                for chunk_result in pool.imap(espeak.synthesize_aligned_batch, chunks):
                    results.extend(chunk_result)
                    bar.update(len(chunk_result))
    return results


def _synthesize_arrays(
    specs: Sequence[UtteranceSpec], num_workers: int, mp_context: str | None, progress: bool, desc: str
) -> dict[str, np.ndarray]:
    """The cache's arrays for ``specs``: synthesised, padded with their silences, concatenated."""
    results = _synthesize_specs(specs, num_workers, mp_context, progress, desc)
    for result, spec in zip(results, specs, strict=True):
        result.waveform = np.pad(result.waveform, (spec.pad_start, spec.pad_end))
        result.starts = result.starts + spec.pad_start
        result.ends = result.ends + spec.pad_start
    lengths = np.array([len(r.waveform) for r in results], dtype=np.int64)
    counts = np.array([len(r.phonemes) for r in results], dtype=np.int64)
    waveforms = np.concatenate([r.waveform for r in results])
    return {
        "waveforms": np.round(np.clip(waveforms, -1.0, 1.0) * PCM_SCALE).astype(np.int16),
        "wave_offsets": np.concatenate([[0], np.cumsum(lengths)]),
        "phoneme_ids": np.array([ESPEAK_INVENTORY.index(p) for r in results for p in r.phonemes], dtype=np.int16),
        "phoneme_starts": np.concatenate([r.starts for r in results]).astype(np.int64),
        "phoneme_ends": np.concatenate([r.ends for r in results]).astype(np.int64),
        "phoneme_offsets": np.concatenate([[0], np.cumsum(counts)]),
        "utterance_ids": np.array([s.utterance_id for s in specs]),
    }


def read_cache(path: Path, specs: Sequence[UtteranceSpec]) -> dict[str, np.ndarray]:
    """The arrays of the cache file ``path``, checked against ``specs`` and each other.

    Raises:
        ValueError: The arrays do not match ``specs`` or each other (or other read errors:
            ``OSError``, ``KeyError``, ``EOFError``, ``zipfile.BadZipFile``).
    """
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    n = len(specs)
    wave_offsets, phone_offsets = arrays["wave_offsets"], arrays["phoneme_offsets"]
    ok = (
        str(arrays["utterance_ids"][-1]) == specs[-1].utterance_id
        and len(arrays["utterance_ids"]) == n
        and wave_offsets.shape == (n + 1,)
        and phone_offsets.shape == (n + 1,)
        and wave_offsets[-1] == len(arrays["waveforms"])
        and phone_offsets[-1] == len(arrays["phoneme_ids"])
        and len(arrays["phoneme_starts"]) == len(arrays["phoneme_ends"]) == len(arrays["phoneme_ids"])
    )
    if not ok:
        raise ValueError("its arrays do not match this corpus' parameters or each other")
    return arrays


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the cache atomically: a temporary file in its folder, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_or_synthesize(
    path: Path,
    specs: Sequence[UtteranceSpec],
    num_workers: int,
    mp_context: str | None,
    progress: bool,
    desc: str,
) -> dict[str, np.ndarray]:
    """The cached arrays of ``specs`` at ``path``; synthesised and written there if absent or unreadable.

    Args:
        path: The cache file (see :func:`cache_path`).
        specs: What to synthesise.
        num_workers: Processes used to synthesise (1: in this process).
        mp_context: Multiprocessing start method; ``None``: ``"fork"`` where available.
        progress: Show a progress bar while synthesising.
        desc: Its label.

    Returns:
        ``waveforms`` (int16, concatenated), ``wave_offsets``, ``phoneme_ids``, ``phoneme_starts``,
        ``phoneme_ends``, ``phoneme_offsets``, ``utterance_ids``.
    """
    if path.exists():
        try:
            return read_cache(path, specs)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            warnings.warn(
                f"cannot read the synthetic speech cache {path} ({error}); synthesising it again",
                RuntimeWarning,
                stacklevel=3,
            )
    arrays = _synthesize_arrays(specs, num_workers, mp_context, progress, desc)
    _write_cache(path, arrays)
    return arrays
