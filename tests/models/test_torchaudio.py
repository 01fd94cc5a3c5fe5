"""torchaudio's speech models, tiny and randomly initialised, profiled by the callback as a user adds it.

Receptive-field centres, worked out by hand: a stack of 1-D convolutions (kernels ``k_i``, strides
``s_i``, paddings ``p_i``) puts frame ``t`` at ``floor(J t - P + (R - 1) / 2)`` with the jump
``J = s_1 ... s_n``, the padding carried back ``P = sum_i p_i J_{i-1}`` and the span
``R = 1 + sum_i (k_i - 1) J_{i-1}`` (``conv_centres``). A layer that sees the whole utterance
(attention, recurrence) has the frames of the local layer that feeds it, so the same centres.
"""

from __future__ import annotations

import pytest
import torch
import torchaudio
from torch import nn

from tests.helpers.brute_force import Layout, conv_centres
from tests.helpers.model_matrix import (
    QUIET,
    Case,
    assert_batching_invariant,
    check_against_reference,
    check_reference_with_frame_maps,
    fitted,
)

pytestmark = QUIET
FEATURES, CLASSES = 8, 4
IDENTITY = conv_centres([1], [1])


def batch_first_features(x: torch.Tensor) -> torch.Tensor:  # [B, F, T] -> [B, T, F]
    return x.transpose(1, 2)


class ConformerNet(nn.Module):
    """``[B, T, F]`` features -> Conv1d (kernel 3, stride 2, padding 1) -> torchaudio ``Conformer``
    (time-first inside) -> Linear: ``[B, T', K]``. Depthwise kernel 1: torchaudio's convolution module
    does not mask the padding, so a wider kernel reads padded frames into an utterance's last frames."""

    def __init__(self) -> None:
        super().__init__()
        self.frontend = nn.Conv1d(FEATURES, 16, 3, stride=2, padding=1)
        self.conformer = torchaudio.models.Conformer(16, 2, 32, 2, depthwise_conv_kernel_size=1)
        self.head = nn.Linear(16, CLASSES)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.frontend(features.transpose(1, 2)).transpose(1, 2)
        x, _ = self.conformer(x, torch.div(lengths - 1, 2, rounding_mode="floor") + 1)
        return self.head(x)


class EmformerNet(nn.Module):
    """``[B, T, F]`` -> Linear -> torchaudio ``Emformer`` (segments of 4, unlimited left context, no right
    context: every frame sees the whole past, time-first inside) -> Linear: ``[B, T, K]``."""

    def __init__(self) -> None:
        super().__init__()
        self.frontend = nn.Linear(FEATURES, 16)
        self.emformer = torchaudio.models.Emformer(
            16, 2, 32, 2, segment_length=4, left_context_length=4096, right_context_length=0, max_memory_size=0
        )
        self.head = nn.Linear(16, CLASSES)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x, _ = self.emformer(self.frontend(features), lengths)
        return self.head(x)


def wav2vec2() -> nn.Module:
    """torchaudio ``wav2vec2_model``: conv extractor (16, 10, 5), (16, 3, 2), (16, 3, 2) with layer norms
    (the group-norm extractor normalises over the padded length), a 2-layer encoder of width 32."""
    return torchaudio.models.wav2vec2_model(
        extractor_mode="layer_norm",
        extractor_conv_layer_config=[(16, 10, 5), (16, 3, 2), (16, 3, 2)],
        extractor_conv_bias=False,
        encoder_embed_dim=32,
        encoder_projection_dropout=0.0,
        encoder_pos_conv_kernel=8,
        encoder_pos_conv_groups=4,
        encoder_num_layers=2,
        encoder_num_heads=2,
        encoder_attention_dropout=0.0,
        encoder_ff_interm_features=64,
        encoder_ff_interm_dropout=0.0,
        encoder_dropout=0.0,
        encoder_layer_norm_first=False,
        encoder_layer_drop=0.0,
        aux_num_out=CLASSES,
    )


FRONTEND = conv_centres([3], [2], [1])  # 2t
# The encoder's frames: those of the positional convolution (kernel 8, padding 4, its last frame cut) on
# the extractor's, half an extractor frame earlier than the extractor's own centre 20t + 19.5.
W2V_FIRST, W2V = conv_centres([10], [5]), conv_centres([10, 3, 3, 8], [5, 2, 2, 1], [0, 0, 0, 4])  # 5t + 4; 20t + 9
W2L_KERNELS, W2L_STRIDES, W2L_PADDINGS = [250, 48] + [7] * 7 + [32], [160, 2] + [1] * 8, [45, 23] + [3] * 7 + [16]
W2L_FIRST = conv_centres(W2L_KERNELS[:1], W2L_STRIDES[:1], W2L_PADDINGS[:1])  # 160t + 79
W2L_LAST = conv_centres(W2L_KERNELS, W2L_STRIDES, W2L_PADDINGS)  # 320t - 1: frame 0 lies before the input

CASES = [
    Case(
        "conformer",
        ConformerNet,
        "features",
        ["features", "lengths"],
        [Layout("net.frontend", 0, 2, FRONTEND), Layout("net.conformer.conformer_layers.1", 1, 0, FRONTEND)],
        Layout("<output>", 0, 1, FRONTEND),
        lengths=[17, 24, 20, 13],
        channels=FEATURES,
        layout=batch_first_features,
        class_dim=2,
        masks_padding=True,
        frame_maps=dict.fromkeys(["net.frontend", "net.conformer.conformer_layers.1", "<output>"], (2, 0.0, 1)),
        flat_layouts={"net.frontend": False},
    ),
    Case(
        "emformer",
        EmformerNet,
        "features",
        ["features", "lengths"],
        [Layout("net.frontend", 0, 1, IDENTITY), Layout("net.emformer.emformer_layers.1", 1, 0, IDENTITY)],
        Layout("<output>", 0, 1, IDENTITY),
        lengths=[18, 24, 11, 15],
        channels=FEATURES,
        layout=batch_first_features,
        class_dim=2,
        masks_padding=True,
        frame_maps=dict.fromkeys(["net.frontend", "net.emformer.emformer_layers.1", "<output>"], (1, 0.0, 0)),
        flat_layouts={"net.frontend": True},
    ),
    Case(
        "wav2vec2_model",
        wav2vec2,
        "waveforms",
        ["waveforms", "lengths"],
        [
            Layout("net.feature_extractor.conv_layers.0", 0, 2, W2V_FIRST),
            Layout("net.encoder.transformer.layers.1", 0, 1, W2V),
        ],
        Layout("<output>", 0, 1, W2V),
        lengths=[600, 440, 520, 380],
        channels=None,
        label_rate=10,  # finer than the encoder's stride: its centres 20t + 9 and 20t + 19 get other labels
        class_dim=2,
        masks_padding=True,
        frame_maps={
            "net.feature_extractor.conv_layers.0": (5, 4.5, -5),
            "net.encoder.transformer.layers.1": (20, 9.5, -20),
            "<output>": (20, 9.5, -20),
        },
        flat_layouts={"net.feature_extractor.conv_layers.0": False, "net.encoder.transformer.layers.1": True},
    ),
    Case(
        "deepspeech",
        lambda: torchaudio.models.DeepSpeech(FEATURES, n_hidden=16, n_class=CLASSES, dropout=0.0),
        "features",
        ["features"],
        [Layout("net.fc1", 0, 2, IDENTITY), Layout("net.bi_rnn", 1, 0, IDENTITY)],
        Layout("<output>", 0, 1, IDENTITY),
        lengths=[20],
        channels=FEATURES,
        layout=lambda x: x.transpose(1, 2)[:, None],  # [B, 1, T, F]
        class_dim=2,
        lengths_key=None,
    ),
    Case(  # a batch of 12 utterances of 12 frames: the time-first RNN's [T, B, C] is [12, 12, C]
        "deepspeech_batch_size_equals_frames",
        lambda: torchaudio.models.DeepSpeech(FEATURES, n_hidden=16, n_class=CLASSES, dropout=0.0),
        "features",
        ["features"],
        [Layout("net.fc1", 0, 2, IDENTITY), Layout("net.bi_rnn", 1, 0, IDENTITY)],
        Layout("<output>", 0, 1, IDENTITY),
        lengths=[12],
        channels=FEATURES,
        layout=lambda x: x.transpose(1, 2)[:, None],
        class_dim=2,
        lengths_key=None,
        train_examples=12,
        val_examples=12,
        batch_size=12,
    ),
    Case(
        "wav2letter_waveform",
        lambda: torchaudio.models.Wav2Letter(CLASSES, input_type="waveform", num_features=1),
        "waveforms",
        ["waveforms"],
        [Layout("net.acoustic_model.0.0", 0, 2, W2L_FIRST), Layout("net.acoustic_model.1.16", 0, 2, W2L_LAST)],
        Layout("<output>", 0, 2, W2L_LAST),
        lengths=[16 * 160],
        channels=None,
        label_rate=160,
        layout=lambda x: x[:, None],  # [B, 1, T]
        lengths_key=None,
        train_examples=4,
        val_examples=4,
        frame_maps={
            "net.acoustic_model.0.0": (160, 79.5, 0),
            "net.acoustic_model.1.16": (320, -0.5, 320),
            "<output>": (320, -0.5, 320),
        },
        flat_layouts={"net.acoustic_model.0.0": False, "net.acoustic_model.1.16": False},
    ),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    cache = {}

    def get(case: Case):
        if case.name not in cache:
            cache[case.name] = fitted(case, str(tmp_path_factory.mktemp(case.name)))
        return cache[case.name]

    return get


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_fit_profiles_equal_brute_force(case: Case, results) -> None:
    check_against_reference(case, results(case))


@pytest.mark.parametrize("case", [c for c in CASES if c.masks_padding], ids=[c.name for c in CASES if c.masks_padding])
def test_batched_equals_one_by_one(case: Case, results, tmp_path) -> None:
    assert_batching_invariant(case, results(case), str(tmp_path))


FLAT = [case for case in CASES if case.flat_layouts]


@pytest.mark.parametrize("case", FLAT, ids=[case.name for case in FLAT])
def test_reference_agrees_with_the_engine_given_frame_maps(case: Case) -> None:
    check_reference_with_frame_maps(case)
