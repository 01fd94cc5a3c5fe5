"""One-time cost of the probe (frame maps and layouts, found once at the first batch).

The reference model (torchaudio's full-size Wav2Letter on MFCCs, all 11 ReLU outputs, 8 x 800
frames) with the engine's default ``channels_last=False`` and with the callback's ``None``
(layouts probed); and a HF ``Wav2Vec2ForCTC`` (tiny encoder, wav2vec2-base conv geometry, stride
320) on 4 x 1 s of 16 kHz audio with an attention mask, labels every 10 ms.

    .venv/bin/python bench/bench_probe.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
import transformers
from torchaudio.models import Wav2Letter

from lightning_gradnap import ProfileEngine
from lightning_gradnap.recording.batch import as_profile_batch


def timed(engine_factory, model, batch, layers, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        engine = engine_factory()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine.prepare(model, as_profile_batch(batch), layers)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = Wav2Letter(num_classes=40, input_type="mfcc", num_features=40).eval()
    layers = [name for name, module in model.named_modules() if isinstance(module, torch.nn.ReLU)]
    x, labels = torch.randn(8, 40, 800), torch.randint(-1, 40, (8, 800))
    for option in (False, None):
        seconds = timed(
            lambda o=option: ProfileEngine(layers, 40, channels_last=o), model, (x, labels), None, args.repeats
        )
        print(f"reference Wav2Letter, channels_last={option}: {seconds:.2f} s")

    conv = dict(conv_dim=(32,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2))
    config = transformers.Wav2Vec2Config(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        vocab_size=32,
        feat_extract_norm="layer",
        **conv,
    )
    w2v = transformers.Wav2Vec2ForCTC(config).eval()
    audio, mask = torch.randn(4, 16000), torch.ones(4, 16000, dtype=torch.long)
    batch = {"inputs": (audio, mask), "labels": torch.randint(0, 5, (4, 100)), "lengths": torch.full((4,), 16000)}
    names = ["wav2vec2.feature_extractor.conv_layers.0", "wav2vec2.encoder.layers.1"]

    def engine() -> ProfileEngine:
        return ProfileEngine(names, 5, channels_last=None, class_dim=None, label_rate=160)

    print(
        "Wav2Vec2ForCTC (base conv geometry, tiny encoder), 4 x 16000 samples: "
        f"{timed(engine, w2v, batch, None, args.repeats):.2f} s"
    )


if __name__ == "__main__":
    main()
