"""SpeechBrain's CRDNN and Conformer encoder, tiny and randomly initialised, profiled by the callback as a
user adds it.

SpeechBrain's layers are batch-first, ``[B, T, F, C]`` after 2-D convolutions. Receptive-field
centres, by hand (``conv_centres``: frame ``t`` of a stack of convolutions with kernels ``k_i``,
strides ``s_i``, paddings ``p_i`` sits at ``floor(J t - P + (R - 1) / 2)``, ``J = s_1 ... s_n``,
``P = sum_i p_i J_{i-1}``, ``R = 1 + sum_i (k_i - 1) J_{i-1}``); "same" padding is ``k // 2`` a side.
Recurrent, attention and per-frame layers have the frames of the local layer that feeds them.
"""

from __future__ import annotations

import logging
import sys

import pytest
import torch
from speechbrain.lobes.models.convolution import ConvolutionFrontEnd
from speechbrain.lobes.models.CRDNN import CRDNN
from speechbrain.lobes.models.transformer.TransformerASR import TransformerASR
from speechbrain.utils.importutils import LazyModule
from torch import nn

from tests.helpers.brute_force import Layout, conv_centres
from tests.helpers.model_matrix import QUIET, Case, check_against_reference, check_reference_with_frame_maps, fitted

pytestmark = QUIET
FEATURES, CLASSES = 16, 4
IDENTITY = conv_centres([1], [1])
logging.getLogger("speechbrain").setLevel(logging.ERROR)


def drop_lazy_modules() -> None:
    """SpeechBrain puts lazy modules in ``sys.modules`` (e.g. its k2 integration, which needs k2): a
    tool that reads every module's ``__file__`` imports them and fails (Hypothesis does, after
    collection, which breaks the whole suite). Those not imported yet leave; importing one later
    still works."""
    for name, module in list(sys.modules.items()):
        if isinstance(module, LazyModule) and module.lazy_module is None:
            del sys.modules[name]


drop_lazy_modules()


@pytest.fixture(autouse=True, scope="module")
def _no_lazy_modules_left():
    yield
    drop_lazy_modules()  # those a fit registered


def batch_first_features(x: torch.Tensor) -> torch.Tensor:  # [B, F, T] -> [B, T, F]
    return x.transpose(1, 2)


class CRDNNNet(nn.Module):
    """``[B, T, F]`` -> SpeechBrain ``CRDNN`` (a 2-D CNN block of kernel 3 x 3 with frequency pooling,
    time pooling 2, a bidirectional LiGRU, a DNN block) -> Linear: ``[B, T / 2, K]``."""

    def __init__(self) -> None:
        super().__init__()
        self.crdnn = CRDNN(
            input_shape=[None, None, FEATURES],
            cnn_blocks=1,
            cnn_channels=[4],
            cnn_kernelsize=(3, 3),
            time_pooling=True,
            time_pooling_size=2,
            inter_layer_pooling_size=[2],
            rnn_layers=1,
            rnn_neurons=8,
            rnn_bidirectional=True,
            dnn_blocks=1,
            dnn_neurons=8,
            dropout=0.0,
        )
        self.head = nn.Linear(8, CLASSES)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.crdnn(features))


class ConformerNet(nn.Module):
    """``[B, T, F]`` and relative ``wav_lens`` -> ``ConvolutionFrontEnd`` (two 2-D blocks of stride 2) ->
    ``TransformerASR``'s Conformer encoder (relative positions, d_model 16) -> Linear: ``[B, T / 4, K]``."""

    def __init__(self) -> None:
        super().__init__()
        self.front = ConvolutionFrontEnd(
            input_shape=(None, None, FEATURES),
            num_blocks=2,
            num_layers_per_block=1,
            out_channels=[4, 4],
            kernel_sizes=[3, 3],
            strides=[2, 2],
            residuals=[False, False],
            dropout=0.0,
        )
        self.transformer = TransformerASR(
            tgt_vocab=CLASSES,
            input_size=4 * FEATURES // 4,
            d_model=16,
            nhead=2,
            num_encoder_layers=2,
            num_decoder_layers=0,
            d_ffn=32,
            dropout=0.0,
            encoder_module="conformer",
            attention_type="RelPosMHAXL",
            kernel_size=3,
            causal=False,
            normalize_before=True,
        )
        self.head = nn.Linear(16, CLASSES)

    def forward(self, features: torch.Tensor, wav_lens: torch.Tensor) -> torch.Tensor:
        return self.head(self.transformer.encode(self.front(features), wav_lens))


POOLED = conv_centres([2], [2])  # max-pooling 2 in time: 2t
FRONT = conv_centres([3, 3], [2, 2], [1, 1])  # 4t

CASES = [
    Case(
        "crdnn",
        CRDNNNet,
        "features",
        ["features"],
        [Layout("net.crdnn.CNN.block_0", 0, 1, IDENTITY), Layout("net.crdnn.DNN.block_0", 0, 1, POOLED)],
        Layout("<output>", 0, 1, POOLED),
        lengths=[20],
        channels=FEATURES,
        layout=batch_first_features,
        class_dim=2,
        lengths_key=None,
        frame_maps={
            "net.crdnn.CNN.block_0": (1, 0.0, 0),
            "net.crdnn.DNN.block_0": (2, 0.5, 0),
            "<output>": (2, 0.5, 0),
        },
        flat_layouts={"net.crdnn.DNN.block_0": True},
    ),
    Case(  # its front end and convolution modules read padded frames: equal lengths, wav_lens all 1
        "conformer",
        ConformerNet,
        "features",
        ["features", "wav_lens"],
        [Layout("net.front", 0, 1, FRONT), Layout("net.transformer.encoder.layers.1", 0, 1, FRONT)],
        Layout("<output>", 0, 1, FRONT),
        lengths=[28],
        channels=FEATURES,
        layout=batch_first_features,
        class_dim=2,
        lengths_key="wav_lens",
        relative_key="wav_lens",
        frame_maps=dict.fromkeys(["net.front", "net.transformer.encoder.layers.1", "<output>"], (4, 0.0, 3)),
        flat_layouts={"net.transformer.encoder.layers.1": True},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_fit_profiles_equal_brute_force(case: Case, tmp_path) -> None:
    check_against_reference(case, fitted(case, str(tmp_path)))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_reference_agrees_with_the_engine_given_frame_maps(case: Case) -> None:
    check_reference_with_frame_maps(case)
