"""Frame maps found by probing equal the ones worked out by hand from the layers' geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from example_asr.model import Wav2Letter
from lightning_gradnap import ProfileBatch, compute_profiles
from lightning_gradnap.engine.engine import OUTPUT, ProfileEngine
from lightning_gradnap.recording.frame_maps import CustomFrameMap, FrameMap
from lightning_gradnap.recording.objectives import default_output_transform
from lightning_gradnap.recording.probe import find_frame_maps
from tests.helpers.masked_models import PooledDilated

W2L_LAYERS = ["input_conv", "conv1", "conv2", "wide_conv", "dense"]


def probe(
    model: nn.Module, layers: list[str], frames: int = 50, features: int = 4, with_lengths: bool = True, **options
):
    x = torch.randn(2, features, frames, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([frames, frames - 7])
    batch = ProfileBatch((x, lengths) if with_lengths else x, torch.zeros(2, frames, dtype=torch.long), lengths)
    options.setdefault("output_transform", default_output_transform)
    return find_frame_maps(model, batch, layers, {}, **options)


def test_reference_model_with_input_kernel_11() -> None:
    # input_conv: kernel 11, stride 2, padding 4 -> frame t reads input frames 2t - 4 .. 2t + 6 (centre
    # 2t + 1), and an utterance of L frames has (L + 8 - 11) // 2 + 1 = (L - 1) // 2 of them. The
    # stride-1 blocks after it keep both (odd kernels, centred padding).
    model = Wav2Letter(n_features=4, channels=6, num_layers=2, wide_channels=6, input_kernel=11, wide_kernel=7)
    maps = probe(model.eval(), W2L_LAYERS)
    assert maps == {name: FrameMap(2, 1.0, -1) for name in [*W2L_LAYERS, OUTPUT]}


def test_reference_model_with_input_kernel_48_and_an_even_wide_kernel() -> None:
    # input_conv: kernel 48, stride 2, padding 23 -> input frames 2t - 23 .. 2t + 24, centre 2t + 0.5,
    # L // 2 frames. wide_conv (kernel 32, padded 15 left and 16 right) moves the centre half a frame
    # of its input later: 2 * 0.5 more input frames, so 2t + 1.5 from there on.
    model = Wav2Letter(n_features=4, channels=6, num_layers=2, wide_channels=6, input_kernel=48, wide_kernel=32)
    maps = probe(model.eval(), W2L_LAYERS)
    early, late = FrameMap(2, 0.5, 0), FrameMap(2, 1.5, 0)
    assert maps == {"input_conv": early, "conv1": early, "conv2": early, "wide_conv": late, "dense": late, OUTPUT: late}
    assert maps["wide_conv"].input_frames(3).tolist() == [1, 3, 5]


def test_stride_3_pooling_and_an_asymmetric_dilated_convolution() -> None:
    # pool frame t covers conv0 frames 3t .. 3t + 2, input frames 3t - 2 .. 3t + 4 (centre 3t + 1),
    # floor(L / 3) of them. The dilated conv's frame t covers pool frames t - 3, t - 1, t + 1, input
    # frames 3t - 11 .. 3t + 7: centre 3t - 2 (frames 0 and 1 lie before the input), same count.
    maps = probe(PooledDilated().eval(), ["conv0", "pool", "dilated", "out"], frames=60)
    pooled, dilated = FrameMap(3, 1.0, 0), FrameMap(3, -2.0, 0)
    assert maps == {"conv0": FrameMap(1, 0.0, 0), "pool": pooled, "dilated": dilated, "out": dilated, OUTPUT: dilated}
    valid = dilated.valid(torch.tensor([30, 9]), 10)
    assert valid[0].tolist() == [False] * 1 + [True] * 9  # centres -2, 1, 4, ...: frame 0 lies before the input
    assert valid[1].tolist() == [False, True, True] + [False] * 7  # 9 // 3 = 3 frames, centres -2, 1, 4


def test_probing_has_no_side_effects() -> None:
    model = Wav2Letter(n_features=4, channels=6, num_layers=1, wide_channels=6, input_kernel=11, wide_kernel=7).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    probe(model.train(), ["input_conv", "conv1"])
    assert model.training and all(m.training for m in model.modules())  # modes restored
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # batch-norm statistics untouched
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(not m._forward_hooks for m in model.modules())


class ChannelsFirstGRU(nn.Module):
    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(channels, hidden, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T] -> [B, 2 * hidden, T]
        return self.gru(x.transpose(1, 2))[0].transpose(1, 2)


class Recurrent(nn.Module):
    """A strided conv, then a bidirectional GRU over its frames: the GRU sees the whole input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 4, stride=2, padding=1)
        self.gru = ChannelsFirstGRU(6, 5)
        self.out = nn.Conv1d(10, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.gru(self.conv(x)))


def test_a_layer_that_sees_the_whole_input_keeps_its_input_frames_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="'gru' sees the whole input"):
        maps = probe(Recurrent().eval(), ["conv", "gru"], with_lengths=False)
    assert maps["conv"] == FrameMap(2, 0.5, 0)  # kernel 4, stride 2, padding 1: input 2t - 1 .. 2t + 2, L // 2 frames
    assert maps["gru"].stride == 2 and maps["gru"].input_frames(3).tolist() == [0, 2, 4]


def test_given_maps_override_probing_and_unknown_names_are_errors() -> None:
    model = PooledDilated().eval()
    x, labels = torch.randn(1, 4, 30), torch.zeros(1, 30, dtype=torch.long)
    engine = ProfileEngine(["pool"], 1, method="nap", frame_maps={"pool": (3, 0.0, 0)})
    engine.run_batch(model, (x, labels))
    assert engine.frame_maps["pool"] == FrameMap(3, 0.0, 0) and OUTPUT in engine.frame_maps
    custom = ProfileEngine(["pool"], 1, method="nap", frame_maps={"pool": lambda frames: torch.arange(frames) * 3 + 2})
    custom.run_batch(model, (x, labels))
    np.testing.assert_array_equal(custom.sums["pool"].counts.numpy(), [10])
    with pytest.raises(ValueError, match=r"`frame_maps` names \['conv9'\], which are not profiled"):
        ProfileEngine(["pool"], 1, frame_maps={"conv9": (1, 0)})
    with pytest.raises(ValueError, match=r"frame_maps\['pool'\] should be \(stride, offset"):
        ProfileEngine(["pool"], 1, frame_maps={"pool": "three"})


def test_a_batch_first_model_without_channels_last_is_named() -> None:
    class BatchFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 6)
            self.out = nn.Linear(6, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, T, F] -> scores [B, T, K]
            return self.out(self.proj(x))

    x, labels = torch.randn(2, 20, 4), torch.randint(0, 3, (2, 20))
    with pytest.raises(
        ValueError, match=r"labels have 20 frames but the input's time axis .* has 4.*channels_last=True"
    ):
        compute_profiles(BatchFirst().eval(), [(x, labels)], ["proj"], 3)
    profiles = compute_profiles(BatchFirst().eval(), [(x, labels)], ["proj"], 3, channels_last=True, class_dim=-1)
    assert profiles["proj"].profile.shape == (3, 6)


def test_a_batch_first_layer_inside_a_channels_first_model_is_named() -> None:
    class Mixed(nn.Module):  # input [B, F, T], but the layer outputs [B, T, C]
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 6)
            self.out = nn.Conv1d(6, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.proj(x.transpose(1, 2)).transpose(1, 2))

    x, labels = torch.randn(2, 4, 20), torch.randint(0, 3, (2, 20))
    with pytest.raises(
        ValueError, match=r"time axis of 'proj' \(size 6\) does not follow the input's length.*channels_last=True"
    ):
        compute_profiles(Mixed().eval(), [(x, labels)], ["proj"], 3)


def test_a_custom_frame_map_finds_the_nearest_layer_frame_as_the_frame_map_it_spells_out() -> None:
    every_other = CustomFrameMap(lambda frames: 2 * torch.arange(frames))  # layer frame t at input frame 2 t
    doubled = torch.tensor([0, 3, 4, 9, 13])  # input positions 0, 1.5, 2, 4.5, 6.5 (no ties)
    assert every_other.nearest_frame(doubled).tolist() == FrameMap(2).nearest_frame(doubled).tolist() == [0, 1, 1, 2, 3]
    assert every_other.nearest_frame(torch.zeros(0, dtype=torch.long)).tolist() == []
    # the window around each segment's centre, through a layer whose frame map is a callable
    model = PooledDilated().eval()
    x = torch.randn(1, 4, 30, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([[0] * 12 + [1] * 10 + [2] * 8])  # centres 6, 17, 26: layer frames 1, 5, 8 (no ties)
    options = {"method": "nap", "window": 3}
    spelled = compute_profiles(model, [(x, labels)], ["pool"], 3, frame_maps={"pool": (3, 2.0, None)}, **options)
    custom = compute_profiles(
        model, [(x, labels)], ["pool"], 3, frame_maps={"pool": lambda frames: torch.arange(frames) * 3 + 2}, **options
    )
    assert custom["pool"].profile.shape[-1] == 3  # time-resolved: one column per window frame
    np.testing.assert_array_equal(custom["pool"].profile, spelled["pool"].profile)
