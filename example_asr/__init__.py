"""A reference Wav2Letter-style CTC speech recogniser with an offline synthetic speech corpus.

Trains without ``lightning_gradnap``; it exposes what the profiler reads (phoneme frame labels
in each batch, group names and categories on the data module, default layers on the module).
It needs the ``asr`` extra (``pip install 'lightning-gradnap[asr]'``): importing it without those
packages raises an :class:`ImportError` that names them.
"""

import importlib.util

#: What the ``asr`` extra installs, as (import name, distribution name) pairs (pyproject.toml).
ASR_EXTRA = (
    ("torchaudio", "torchaudio"),
    ("soundfile", "soundfile"),
    ("praatio", "praatio"),
    ("espeakng_loader", "espeakng-loader"),
    ("torchmetrics", "torchmetrics"),
)


def _missing_asr_packages() -> list[str]:
    """The distributions of the ``asr`` extra whose modules cannot be found."""
    missing = []
    for module, distribution in ASR_EXTRA:
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # an import hook that refuses the module
            found = False
        if not found:
            missing.append(distribution)
    return missing


if _missing := _missing_asr_packages():
    raise ImportError(
        f"example_asr needs the 'asr' extra, which is not installed (missing: {', '.join(_missing)}): "
        "pip install 'lightning-gradnap[asr]'",
        name="example_asr",
    )

from example_asr.data import LibriSpeechData, SpeechDataModule, SyntheticSpeechData  # noqa: E402
from example_asr.model import Wav2Letter  # noqa: E402
from example_asr.module import SpeechRecognizer  # noqa: E402

__all__ = ["LibriSpeechData", "SpeechDataModule", "SpeechRecognizer", "SyntheticSpeechData", "Wav2Letter"]
