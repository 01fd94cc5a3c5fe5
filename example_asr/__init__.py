"""A reference Wav2Letter-style CTC speech recogniser with an offline synthetic speech corpus.

Trains without ``lightning_gradnap``; it exposes what the profiler reads (phoneme frame labels
in each batch, group names and categories on the data module, default layers on the module).
"""

from example_asr.data import LibriSpeechData, SpeechDataModule, SyntheticSpeechData
from example_asr.model import Wav2Letter
from example_asr.module import SpeechRecognizer

__all__ = ["LibriSpeechData", "SpeechDataModule", "SpeechRecognizer", "SyntheticSpeechData", "Wav2Letter"]
