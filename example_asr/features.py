"""Log-mel front end (torchaudio) and sample <-> frame bookkeeping."""

from __future__ import annotations

import numpy as np
import torch
import torchaudio
from torch import nn

from example_asr.utterance import SAMPLE_RATE, Utterance

__all__ = ["LogMelFrontend", "phoneme_frame_labels"]


class LogMelFrontend(nn.Module):
    """Waveform ``[num_samples]`` -> log-mel spectrogram ``[n_mels, T]``, normalised per utterance.

    Frames are ``hop_length`` samples apart and centred (frame ``i`` is centred on sample
    ``i * hop_length``), so ``T = num_samples // hop_length + 1``.

    Args:
        n_mels: Mel bands.
        win_length: Window in samples (25 ms at 16 kHz).
        hop_length: Frame shift in samples (10 ms at 16 kHz).
    """

    def __init__(self, n_mels: int = 40, win_length: int = 400, hop_length: int = 160) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.hop_length = hop_length
        self.melspec = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=512, win_length=win_length, hop_length=hop_length, n_mels=n_mels
        )

    def num_frames(self, num_samples: int) -> int:
        return num_samples // self.hop_length + 1

    @torch.no_grad()
    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        features = (self.melspec(waveform) + 1e-6).log()
        mean = features.mean(dim=-1, keepdim=True)
        std = features.std(dim=-1, keepdim=True).clamp(min=1e-5)
        return (features - mean) / std


def phoneme_frame_labels(
    utterance: Utterance, num_frames: int, hop_length: int, group_of: dict[str, int]
) -> np.ndarray:
    """Group index of the phoneme under each frame's centre sample, ``-1`` outside any phoneme.

    Args:
        utterance: With an alignment (``phonemes``, ``phoneme_starts``, ``phoneme_ends``).
        num_frames: Frames of its features.
        hop_length: Samples between frame centres.
        group_of: Phoneme name -> group index (names not in it get ``-1``).
    """
    labels = np.full(num_frames, -1, dtype=np.int64)
    if not utterance.has_alignment:
        return labels
    centres = np.arange(num_frames) * hop_length
    span = np.searchsorted(utterance.phoneme_starts, centres, side="right") - 1
    inside = (span >= 0) & (centres < utterance.phoneme_ends[np.clip(span, 0, None)])
    groups = np.array([group_of.get(name, -1) for name in utterance.phonemes], dtype=np.int64)
    labels[inside] = groups[span[inside]]
    return labels
