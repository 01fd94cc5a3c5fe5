"""Tiny randomly initialised HuggingFace ``transformers`` speech and text models, as a user trains them.

Each :class:`Case` holds a model built from a config (no weights, no downloads), a small generated
data set with the keys a user's data module would have, the callback options a user would set from
the README, and, worked out by hand from the model's geometry, each profiled layer's layout and its
frames' receptive-field centres for the brute-force reference (:mod:`tests.helpers.brute_force`).

Convolutions with kernels ``k_i``, strides ``s_i`` and paddings ``p_i`` (no dilation): layer ``n``'s
frame ``t`` spans input steps ``t * J_n - P_n .. t * J_n - P_n + R_n - 1`` with ``J_n = s_1 ... s_n``,
``P_n = sum_i p_i J_{i-1}``, ``R_n = 1 + sum_i (k_i - 1) J_{i-1}``; its centre is
``floor(t J_n - P_n + (R_n - 1) / 2)``. Attention layers keep the frames of the convolution before
them. Lengths are in input steps (samples, feature frames, tokens); labels come at ``label_rate``
input steps each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
import transformers
from torch import nn
from torch.utils.data import DataLoader
from transformers.models.speech_to_text.modeling_speech_to_text import Speech2TextEncoder
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from tests.helpers.brute_force import Layout, Utterance, conv_centres

GROUPS = ["a", "e", "s", "t", "n"]
SAMPLES_PER_LABEL = 160  # 10 ms labels of 16 kHz audio


class FrameModule(L.LightningModule):
    """A LightningModule around a HF network: ``forward(*inputs) -> logits [B, T, K]``; trained on
    the frame labels, nearest-resampled to the output frames (any loss would do)."""

    group_names = GROUPS

    def __init__(self, network: nn.Module, input_keys: list[str], head: nn.Module | None = None) -> None:
        super().__init__()
        self.network = network
        self.head = head
        self.input_keys = input_keys

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        output = self.network(inputs[0], attention_mask=inputs[1] if len(inputs) > 1 else None)
        return output.logits if self.head is None else self.head(output.last_hidden_state)

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self(*(batch[key] for key in self.input_keys))
        labels = batch["frame_labels"][:, None].float()
        targets = F.interpolate(labels, size=logits.shape[1], mode="nearest")[:, 0].long()
        return F.cross_entropy(logits.transpose(1, 2), targets.clamp(max=logits.shape[2] - 1), ignore_index=-1)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("val_loss", loss, batch_size=len(batch["frame_labels"]))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


@dataclass
class Case:
    """One model of the matrix.

    Attributes:
        name: Test id.
        module: Builds the seeded :class:`FrameModule`.
        utterances: Builds the data set: a list of unpadded examples (dicts of 1-D or 2-D tensors).
        input_keys: The batch keys of ``forward``'s positional inputs.
        lengths: Batch key of the input steps of each example, or None (equal lengths).
        label_rate: Input steps per label.
        layers: The profiled layers' layouts and centres (names as in the LightningModule).
        output: The logits' layout and centres.
        masks_padding: The model gives each utterance the same outputs in any padded batch.
        frame_maps: The engine's ``(stride, offset, length_offset)`` of each layer, worked out by hand,
            to check the reference against today's engine (``channels_last`` layers are ``[B, T, C]``).
        channels_last: The layers whose output is ``[B, T, C]``.
    """

    name: str
    module: Callable[[], FrameModule]
    utterances: Callable[[], list[dict[str, torch.Tensor]]]
    input_keys: list[str]
    lengths: str | None
    label_rate: int
    layers: list[Layout]
    output: Layout
    masks_padding: bool
    frame_maps: dict[str, tuple[float, float, int]]
    channels_last: set[str] = field(default_factory=set)

    def callback_options(self) -> dict[str, Any]:
        """What a user sets from the README: layers, batch keys, the label rate (the engine finds the
        layouts of layers, input and scores)."""
        return dict(
            layers=[layer.name for layer in self.layers],
            labels="frame_labels",
            inputs=self.input_keys if len(self.input_keys) > 1 else self.input_keys[0],
            lengths=self.lengths,
            label_rate=self.label_rate,
        )

    def reference_utterances(self, data: list[dict[str, torch.Tensor]]) -> list[Utterance]:
        return [
            Utterance(tuple(item[key][None] for key in self.input_keys), item["frame_labels"], int(item["length"]))
            for item in data
        ]


def pad_batch(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pad every key along its time axis (the last for 1-D, the first for ``[T, F]`` features, the
    last for ``[F, T]`` ones, told by ``time_axis``): inputs and masks with 0, labels with -1."""
    batch: dict[str, torch.Tensor] = {}
    for key in items[0]:
        if key in ("length", "time_axis"):
            continue
        axis = int(items[0]["time_axis"]) if items[0][key].dim() == 2 else 0
        longest = max(item[key].shape[axis] for item in items)
        fill = -1 if key == "frame_labels" else 0
        padded = []
        for item in items:
            missing = longest - item[key].shape[axis]
            pad = [0, missing] if axis == item[key].dim() - 1 else [0, 0, 0, missing]
            padded.append(F.pad(item[key], pad, value=fill))
        batch[key] = torch.stack(padded)
    batch["input_lengths"] = torch.tensor([int(item["length"]) for item in items])
    return batch


def loader(data: list[dict[str, torch.Tensor]], batch_size: int = 4) -> DataLoader:
    return DataLoader(data, batch_size=batch_size, collate_fn=pad_batch)


def _labels(num_labels: int, generator: torch.Generator) -> torch.Tensor:
    """Runs of 1-3 labels of one group, some ignored (-1)."""
    runs = []
    while sum(map(len, runs)) < num_labels:
        group = int(torch.randint(-1, len(GROUPS), (1,), generator=generator))
        runs.append([group] * int(torch.randint(1, 4, (1,), generator=generator)))
    return torch.tensor(sum(runs, []))[:num_labels]


def waveforms(lengths: list[int], with_mask: bool, label_rate: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Utterances of ``lengths`` samples: noise plus a tone per label, a label every ``label_rate`` samples."""
    generator = torch.Generator().manual_seed(seed)
    data = []
    for length in lengths:
        labels = _labels(length // label_rate, generator)
        tone = torch.sin(torch.arange(length) * 0.05 * (labels.clamp(min=0) + 1).repeat_interleave(label_rate))
        item = {"input_values": tone + 0.3 * torch.randn(length, generator=generator), "frame_labels": labels}
        if with_mask:
            item["attention_mask"] = torch.ones(length, dtype=torch.long)
        data.append({**item, "length": torch.tensor(length), "time_axis": torch.tensor(0)})
    return data


def features(lengths: list[int], num_features: int, label_rate: int, time_first: bool, seed: int = 0):
    """Log-mel-like features ``[T, F]`` (``time_first``) or ``[F, T]``, with an all-ones attention mask."""
    generator = torch.Generator().manual_seed(seed)
    data = []
    for length in lengths:
        labels = _labels(length // label_rate, generator)
        x = torch.randn(length, num_features, generator=generator) + labels.repeat_interleave(label_rate)[:, None]
        item = {"input_features": x if time_first else x.T.contiguous(), "frame_labels": labels}
        item["attention_mask"] = torch.ones(length, dtype=torch.long)
        data.append({**item, "length": torch.tensor(length), "time_axis": torch.tensor(0 if time_first else 1)})
    return data


def tokens(lengths: list[int], vocab_size: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Token ids (0 = padding) with one label per token."""
    generator = torch.Generator().manual_seed(seed)
    return [
        {
            "input_ids": torch.randint(1, vocab_size, (length,), generator=generator),
            "attention_mask": torch.ones(length, dtype=torch.long),
            "frame_labels": _labels(length, generator),
            "length": torch.tensor(length),
            "time_axis": torch.tensor(0),
        }
        for length in lengths
    ]


def identity(num_frames: int) -> list[int]:
    return list(range(num_frames))


# ---------------------------------------------------------------------------- the models
TINY_CONV = dict(conv_dim=(16, 16, 16), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3))
BASE_CONV = dict(conv_dim=(8,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2))
ENCODER = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    vocab_size=12,
    num_conv_pos_embeddings=4,
    num_conv_pos_embedding_groups=2,
    mask_time_prob=0.0,  # no SpecAugment: the profiled validation forward is deterministic anyway
    layerdrop=0.0,
)
CONV_LAYOUT = dict(batch_axis=0, time_axis=2)  # a conv front end: [B, C, T]
ENCODER_LAYOUT = dict(batch_axis=0, time_axis=1)  # Transformer layers and logits: [B, T, C]


def _ctc_case(family: str, prefix: str, conv: dict[str, tuple[int, ...]], base: bool = False) -> Case:
    """A ``<family>ForCTC``: the first convolution (kernel 10, stride 5: centre ``5t + 4.5``; with
    wav2vec2-base's group norm over time, that of the convolution inside it) and the last encoder
    layer, which keeps the frames of the encoder's input (stride ``J``, see ``last``)."""
    kernels, strides = conv["conv_kernel"], conv["conv_stride"]
    # The encoder adds a positional convolution (kernel 4, padding 2, its last frame cut) to its input:
    # frame t reads conv frames t - 2 .. t + 1, so its field starts 2 frames earlier and ends 1 later,
    # half a conv frame before the conv's own centre: tiny 20t + 19.5 - 10, base 320t + 199.5 - 160.
    positional = ENCODER["num_conv_pos_embeddings"]
    last = conv_centres([*kernels, positional], [*strides, 1], [0] * len(kernels) + [positional // 2])
    jump, span = 1, 1
    for kernel, stride in zip(kernels, strides, strict=True):
        span, jump = span + (kernel - 1) * jump, jump * stride
    offset = (span - 1) / 2 - jump / 2
    keys = ["input_values"] if base else ["input_values", "attention_mask"]
    norm = "group" if base else "layer"  # wav2vec2-base: group norm, no attention mask, equal lengths

    def module() -> FrameModule:
        torch.manual_seed(0)
        config = getattr(transformers, f"{family}Config")(**ENCODER, **conv, feat_extract_norm=norm)
        return FrameModule(getattr(transformers, f"{family}ForCTC")(config), keys)

    # frames of an utterance of L samples alone: conv 0 (L - 5) // 5; the last ((L - 20) // 20, base (L - 80) // 320)
    last_frames = -20 if not base else -80
    # 10 ms labels (160 samples) cannot tell centres apart that differ by less than a label; the base
    # geometry and HuBERT take labels every 64 and 48 samples, so that a centre off by a few samples
    # changes labels. Lengths: 0.25-0.1 s, multiples of the label rate; base: 4928 = 15 * 320 + 128, where
    # (L - 80) // 320 frames differ from other plausible counts.
    label_rate = 64 if base else 48 if family == "Hubert" else SAMPLES_PER_LABEL
    lengths = [4928] * 8 if base else [n * 160 // label_rate * label_rate for n in (10, 6, 8, 5, 9, 7, 10, 4)]
    return Case(
        name=f"{family}{'-base-geometry' if base else ''}",
        module=module,
        utterances=lambda: waveforms(lengths, with_mask=not base, label_rate=label_rate),
        input_keys=keys,
        lengths=None if base else "input_lengths",
        label_rate=label_rate,
        layers=[
            Layout(f"network.{prefix}.feature_extractor.conv_layers.0", centres=conv_centres([10], [5]), **CONV_LAYOUT),
            Layout(f"network.{prefix}.encoder.layers.1", centres=last, **ENCODER_LAYOUT),
        ],
        output=Layout("<output>", centres=last, **ENCODER_LAYOUT),
        masks_padding=not base,
        frame_maps={
            f"network.{prefix}.feature_extractor.conv_layers.0": (5, 4.5, -5),
            f"network.{prefix}.encoder.layers.1": (jump, offset, last_frames),
            "<output>": (jump, offset, last_frames),
        },
        channels_last={f"network.{prefix}.encoder.layers.1", "<output>"},
    )


def _whisper() -> Case:
    """Whisper's encoder (input ``[B, mels, 2 * max_source_positions]``, fixed) under a linear head:
    conv1 (kernel 3, padding 1): centre ``t``; conv2 (kernel 3, stride 2, padding 1) and the layers
    after it: centre ``2t - 2 + 2 = 2t``. Labels every 2 mel frames."""
    config = dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64)

    def module() -> FrameModule:
        torch.manual_seed(0)
        encoder = WhisperEncoder(transformers.WhisperConfig(**config, num_mel_bins=20, max_source_positions=16))
        return FrameModule(encoder, ["input_features"], head=nn.Linear(32, 7))

    return Case(
        name="WhisperEncoder",
        module=module,
        utterances=lambda: features([32] * 8, 20, label_rate=2, time_first=False),
        input_keys=["input_features"],
        lengths=None,
        label_rate=2,
        layers=[
            Layout("network.conv1", centres=conv_centres([3], [1], [1]), **CONV_LAYOUT),
            Layout("network.layers.1", centres=conv_centres([3, 3], [1, 2], [1, 1]), **ENCODER_LAYOUT),
        ],
        output=Layout("<output>", centres=conv_centres([3, 3], [1, 2], [1, 1]), **ENCODER_LAYOUT),
        masks_padding=False,
        frame_maps={"network.conv1": (1, 0.0, 0), "network.layers.1": (2, 0.0, 1), "<output>": (2, 0.0, 1)},
        channels_last={"network.layers.1", "<output>"},
    )


def _speech2text() -> Case:
    """Speech2Text's encoder over ``[B, T, F]`` features: two convolutions (kernel 5, stride 2,
    padding 2): centres ``2t`` and ``4t - 6 + 6 = 4t``; its convolutions read padding, so equal lengths."""
    config = dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, vocab_size=12)

    def module() -> FrameModule:
        torch.manual_seed(0)
        conv = dict(input_feat_per_channel=16, input_channels=1, conv_channels=16, conv_kernel_sizes=(5, 5))
        encoder = Speech2TextEncoder(transformers.Speech2TextConfig(**config, **conv, max_source_positions=64))
        return FrameModule(encoder, ["input_features", "attention_mask"], head=nn.Linear(32, 7))

    late = conv_centres([5, 5], [2, 2], [2, 2])
    return Case(
        name="Speech2TextEncoder",
        module=module,
        utterances=lambda: features([40] * 8, 16, label_rate=1, time_first=True),
        input_keys=["input_features", "attention_mask"],
        lengths=None,
        label_rate=1,
        layers=[
            Layout("network.conv.conv_layers.0", centres=conv_centres([5], [2], [2]), **CONV_LAYOUT),
            Layout("network.layers.1", centres=late, **ENCODER_LAYOUT),
        ],
        output=Layout("<output>", centres=late, **ENCODER_LAYOUT),
        masks_padding=False,
        frame_maps={
            "network.conv.conv_layers.0": (2, 0.0, 1),
            "network.layers.1": (4, 0.0, 3),
            "<output>": (4, 0.0, 3),
        },
        channels_last={"network.layers.1", "<output>"},
    )


def _bert() -> Case:
    """``BertForTokenClassification``: integer token ids, one frame per token everywhere."""
    config = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)

    def module() -> FrameModule:
        torch.manual_seed(0)
        bert = transformers.BertConfig(vocab_size=50, max_position_embeddings=64, num_labels=7, **config)
        return FrameModule(transformers.BertForTokenClassification(bert), ["input_ids", "attention_mask"])

    return Case(
        name="BertForTokenClassification",
        module=module,
        utterances=lambda: tokens([14, 9, 12, 6, 11, 14, 7, 10], 50),
        input_keys=["input_ids", "attention_mask"],
        lengths="input_lengths",
        label_rate=1,
        layers=[
            Layout("network.bert.embeddings", centres=identity, **ENCODER_LAYOUT),
            Layout("network.bert.encoder.layer.1", centres=identity, **ENCODER_LAYOUT),
        ],
        output=Layout("<output>", centres=identity, **ENCODER_LAYOUT),
        masks_padding=True,
        frame_maps={
            "network.bert.embeddings": (1, 0.0, 0),
            "network.bert.encoder.layer.1": (1, 0.0, 0),
            "<output>": (1, 0.0, 0),
        },
        channels_last={"network.bert.embeddings", "network.bert.encoder.layer.1", "<output>"},
    )


CASES = [
    _ctc_case("Wav2Vec2", "wav2vec2", TINY_CONV),
    _ctc_case("Hubert", "hubert", TINY_CONV),
    _ctc_case("WavLM", "wavlm", TINY_CONV),
    _ctc_case("Wav2Vec2", "wav2vec2", BASE_CONV, base=True),
    _whisper(),
    _speech2text(),
    _bert(),
]
