"""Tests of the eSpeak NG binding, the phoneme map, the sentences and the synthetic corpus."""

from __future__ import annotations

import pickle
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from example_asr.corpora.synthetic import espeak
from example_asr.corpora.synthetic.corpus import SyntheticSpeechCorpus
from example_asr.corpora.synthetic.sentences import SPLITS, generate_sentences, load_words, sentence_split
from example_asr.corpora.synthetic.specs import SPLIT_VOICES
from example_asr.phonetics.arpabet import ARPABET_INVENTORY
from example_asr.phonetics.phonemes import ESPEAK_INVENTORY, ESPEAK_TO_INVENTORY, normalize_espeak_phoneme
from example_asr.utterance import PHONETIC_CATEGORIES, SAMPLE_RATE

FRAME = SAMPLE_RATE // 100  # 10 ms
Corpora = dict[str, SyntheticSpeechCorpus]


def build(root: Path, split: str = "train", n: int = 16, seed: int = 0, **kwargs) -> SyntheticSpeechCorpus:
    kwargs.setdefault("num_workers", 1)
    return SyntheticSpeechCorpus(root, split=split, num_utterances=n, seed=seed, progress=False, **kwargs)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> Corpora:
    root = tmp_path_factory.mktemp("espeak_cache")
    return {split: build(root, split, n=40 if split == "train" else 16) for split in SPLITS}


def assert_same(a: SyntheticSpeechCorpus, b: SyntheticSpeechCorpus) -> None:
    assert len(a) == len(b)
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert x.utterance_id == y.utterance_id and x.transcript == y.transcript
        np.testing.assert_array_equal(x.waveform, y.waveform)
        assert x.phonemes == y.phonemes
        np.testing.assert_array_equal(x.phoneme_starts, y.phoneme_starts)
        np.testing.assert_array_equal(x.phoneme_ends, y.phoneme_ends)


def sound_frames(waveform: np.ndarray, threshold_db: float = -45.0) -> np.ndarray:
    """Boolean per 10 ms frame: louder than ``threshold_db`` below the loudest frame."""
    n = len(waveform) // FRAME
    rms = np.sqrt((waveform[: n * FRAME].astype(np.float64).reshape(n, FRAME) ** 2).mean(axis=1))
    return rms >= rms.max() * 10 ** (threshold_db / 20)


# ------------------------------------------------------------------ eSpeak binding
def test_synthesize_is_deterministic_and_reports_phonemes() -> None:
    wave1, events1 = espeak.synthesize("hello world", voice="en-us", rate=160, pitch=50)
    espeak.synthesize("something else in between", voice="en+m3", rate=200, pitch=20)
    wave2, events2 = espeak.synthesize("hello world", voice="en-us", rate=160, pitch=50)
    assert wave1.dtype == np.float32 and np.abs(wave1).max() <= 1.0
    np.testing.assert_array_equal(wave1, wave2)
    assert events1 == events2
    names = [m for m, _ in events1]
    assert names[:4] == ["h", "@", "l", "'oU"] and names[-2:] == ["_:", "_"]
    starts = [s for _, s in events1]
    assert starts == sorted(starts) and starts[0] >= 0 and starts[-1] <= len(wave1)
    assert 0.5 < len(wave1) / SAMPLE_RATE < 1.5


def test_rate_pitch_and_voice_change_the_audio() -> None:
    slow, _ = espeak.synthesize("the quick brown fox", rate=120)
    fast, _ = espeak.synthesize("the quick brown fox", rate=300)
    assert len(fast) < 0.7 * len(slow)
    low, _ = espeak.synthesize("the quick brown fox", pitch=10)
    high, _ = espeak.synthesize("the quick brown fox", pitch=90)
    assert not np.array_equal(low[: len(high)], high[: len(low)])


def test_bad_voice_rate_pitch_raise() -> None:
    with pytest.raises(ValueError, match="no voice"):
        espeak.synthesize("hello", voice="xx-nonexistent")
    with pytest.raises(ValueError, match="no voice variant"):
        espeak.synthesize("hello", voice="en-us+nonexistent")
    with pytest.raises(ValueError, match="rate"):
        espeak.synthesize("hello", rate=10)
    with pytest.raises(ValueError, match="pitch"):
        espeak.synthesize("hello", pitch=101)
    espeak.synthesize("hello", voice="en-us")  # the engine still works afterwards


# ------------------------------------------------------------------ phonemes
def test_inventory_is_arpabet_with_valid_categories() -> None:
    assert ESPEAK_INVENTORY == ARPABET_INVENTORY and len(ESPEAK_INVENTORY) == 39
    assert set(ESPEAK_INVENTORY.categories) == set(PHONETIC_CATEGORIES)
    assert set(ESPEAK_TO_INVENTORY.values()) == set(ESPEAK_INVENTORY.names)


@pytest.mark.parametrize(
    ("mnemonic", "expected"),
    [
        ("'oU", "OW"),
        (",i:", "IY"),
        ("t#", "T"),
        ("?", "T"),
        (";", "Y"),
        ("@2", "AH"),
        ("3:", "ER"),
        ("dZ", "JH"),
        ("N", "NG"),
        ("@L", "L"),
        ("_:", None),
        ("_", None),
        ("_!", None),
        ("zz", None),
    ],
)
def test_normalize_espeak_phoneme(mnemonic: str, expected: str | None) -> None:
    assert normalize_espeak_phoneme(mnemonic) == expected


def test_emitted_mnemonics_all_map_to_the_inventory() -> None:
    voices = [v for split in SPLITS for v in SPLIT_VOICES[split]] + ["en-gb-x-rp", "en-gb-scotland", "en-029"]
    counts: Counter[str] = Counter()
    unmapped: Counter[str] = Counter()
    for i, text in enumerate(generate_sentences(60, seed=7)):
        _, events = espeak.synthesize(text, voice=voices[i % len(voices)], rate=170)
        for mnemonic, _ in events:
            counts[mnemonic] += 1
            if normalize_espeak_phoneme(mnemonic) is None and not mnemonic.startswith("_"):
                unmapped[mnemonic] += 1
    assert sum(counts.values()) > 1000
    assert not unmapped, f"eSpeak mnemonics without an inventory phoneme: {dict(unmapped)}"


# ------------------------------------------------------------------ words and sentences
def test_word_list_has_thousands_of_valid_words() -> None:
    words = load_words()
    assert len(set(words)) == len(words) >= 3000
    assert all(re.fullmatch(r"[a-z']+", w) for w in words)
    assert {"the", "and", "people", "water"} <= set(words)


def test_sentences_are_deterministic_and_split_disjoint() -> None:
    first = generate_sentences(50, seed=3, split="train")
    assert first == generate_sentences(50, seed=3, split="train")
    assert first != generate_sentences(50, seed=4, split="train")
    assert len(set(first)) == 50 and all(sentence_split(s) == "train" for s in first)
    held_out = set(generate_sentences(50, seed=3, split="validation"))
    held_out |= set(generate_sentences(50, seed=4, split="test"))
    assert not held_out & set(first)
    assert all(4 <= len(s.split()) <= 12 for s in first)


# ------------------------------------------------------------------ corpus
def test_corpus_items_and_transcripts(corpora: Corpora) -> None:
    corpus = corpora["train"]
    assert len(corpus) == 40 and corpus.inventory is ESPEAK_INVENTORY
    ids = set()
    for utterance in corpus:
        ids.add(utterance.utterance_id)
        assert re.fullmatch(r"[a-z']+( [a-z']+)*", utterance.transcript)
        assert utterance.waveform.dtype == np.float32 and utterance.waveform.ndim == 1
        assert np.abs(utterance.waveform).max() <= 1.0
        assert utterance.has_alignment
        assert all(ESPEAK_INVENTORY.index(p) >= 0 for p in utterance.phonemes)
        assert utterance.phoneme_starts.dtype == utterance.phoneme_ends.dtype == np.int64
    assert len(ids) == len(corpus)
    durations = corpus.durations
    assert durations.min() > 0.7 and durations.max() < 8.0 and 1.5 < np.median(durations) < 5.0


def test_alignment_is_ordered_inside_and_covers_the_speech(corpora: Corpora) -> None:
    for corpus in corpora.values():
        for utterance in corpus:
            starts, ends = utterance.phoneme_starts, utterance.phoneme_ends
            assert np.all(starts < ends), utterance.utterance_id
            assert np.all(ends[:-1] <= starts[1:]), utterance.utterance_id
            assert starts[0] >= 0 and ends[-1] <= len(utterance.waveform)
            sound = sound_frames(utterance.waveform)
            covered = np.zeros_like(sound)
            for start, end in zip(starts, ends, strict=True):
                covered[start // FRAME : -(-end // FRAME)] = True
            assert (sound & covered).sum() >= 0.9 * sound.sum(), utterance.utterance_id
            onset = int(np.flatnonzero(sound)[0]) * FRAME
            assert abs(int(starts[0]) - onset) <= 0.05 * SAMPLE_RATE, utterance.utterance_id
            assert starts[0] > 0.03 * SAMPLE_RATE  # leading silence before the speech


def test_held_out_splits_use_new_voices_and_sentences(corpora: Corpora) -> None:
    def variants(voices: tuple[str, ...]) -> set[str]:
        return {voice.partition("+")[2] or "default" for voice in voices}

    for held_out in ("validation", "test"):
        assert not set(SPLIT_VOICES[held_out]) & set(SPLIT_VOICES["train"])
        assert not variants(SPLIT_VOICES[held_out]) & variants(SPLIT_VOICES["train"])
        assert not set(corpora[held_out].transcripts) & set(corpora["train"].transcripts)
        assert {spec.voice for spec in corpora[held_out].specs} <= set(SPLIT_VOICES[held_out])
    assert {spec.voice for spec in corpora["train"].specs} <= set(SPLIT_VOICES["train"])
    assert not set(corpora["validation"].transcripts) & set(corpora["test"].transcripts)


def test_same_seed_is_identical_and_other_seed_differs(tmp_path: Path, corpora: Corpora) -> None:
    again = build(tmp_path / "a", "validation", n=16)
    assert_same(again, corpora["validation"])
    other = build(tmp_path / "b", "validation", n=16, seed=1)
    assert other.transcripts != again.transcripts
    assert other.cache_path.name != again.cache_path.name


def test_worker_processes_give_identical_results(tmp_path: Path, corpora: Corpora) -> None:
    forked = build(tmp_path / "fork", "train", n=40, num_workers=2, mp_context="fork")
    assert_same(forked, corpora["train"])
    spawned = build(tmp_path / "spawn", "test", n=16, num_workers=2, mp_context="spawn")
    assert_same(spawned, corpora["test"])


def test_cache_is_reused_without_synthesis(monkeypatch: pytest.MonkeyPatch, corpora: Corpora) -> None:
    corpus = corpora["test"]
    assert corpus.cache_path.exists()

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("synthesised although the cache exists")

    monkeypatch.setattr(espeak, "synthesize", fail)
    monkeypatch.setattr(espeak, "synthesize_aligned_batch", fail)
    assert_same(build(corpus.root, "test", n=16), corpus)
    with pytest.raises(AssertionError, match="synthesised"):
        build(corpus.root, "test", n=17)  # other parameters: a new cache file


def test_pickled_corpus_rereads_its_cache(corpora: Corpora) -> None:
    corpus = corpora["test"]
    payload = pickle.dumps(corpus)
    assert len(payload) < 100_000  # the audio stays in the cache file
    assert_same(pickle.loads(payload), corpus)


def test_corrupt_cache_is_rebuilt_with_a_warning_naming_it(tmp_path: Path) -> None:
    corpus = build(tmp_path, "test", n=4)
    corpus.cache_path.write_bytes(b"not a zip file")
    with pytest.warns(RuntimeWarning, match=re.escape(corpus.cache_path.name)):
        rebuilt = build(tmp_path, "test", n=4)
    assert_same(rebuilt, corpus)
    assert not list(tmp_path.glob("*.tmp"))  # written atomically, no leftovers


def test_noise_has_the_requested_snr_and_is_deterministic(tmp_path: Path, corpora: Corpora) -> None:
    clean = corpora["test"]
    noisy = build(clean.root, "test", n=16, snr_db=10.0)
    assert noisy.cache_path == clean.cache_path  # noise is applied on reading
    for i in range(4):
        x, y = clean[i], noisy[i]
        speech = slice(int(x.phoneme_starts[0]), int(x.phoneme_ends[-1]))
        noise = y.waveform[speech].astype(np.float64) - x.waveform[speech]
        snr = 10 * np.log10(np.mean(x.waveform[speech].astype(np.float64) ** 2) / np.mean(noise**2))
        assert abs(snr - 10.0) < 1.0
        np.testing.assert_array_equal(y.waveform, noisy[i].waveform)
        assert y.phonemes == x.phonemes
    ranged = build(clean.root, "test", n=16, snr_db=(5.0, 30.0))
    assert not np.array_equal(ranged[0].waveform, clean[0].waveform)


def test_invalid_arguments_say_what_to_change(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        build(tmp_path, "dev")
    with pytest.raises(ValueError, match="rate_range"):
        build(tmp_path, rate_range=(50, 100))
    with pytest.raises(ValueError, match="no voice variant"):
        build(tmp_path, voices=["en-us+nosuchvoice"], n=2)
    with pytest.raises(ValueError, match="no voice"):
        build(tmp_path, voices=["xx-nosuchlanguage"], n=2)
