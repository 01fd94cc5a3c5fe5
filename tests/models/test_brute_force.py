"""The brute-force reference itself: a profile known by hand, and the engine with frame maps given."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lightning_gradnap import compute_profiles
from tests.helpers.brute_force import Layout, Utterance, assert_profiles_match, brute_force_profiles, conv_centres

IDENTITY_CENTRES = conv_centres([1], [1])


def test_conv_centres_by_the_formula():
    # kernel 10 stride 5, then kernel 3 stride 2: spans 10 and 20 steps, jumps 5 and 10
    assert conv_centres([10], [5])(3) == [4, 9, 14]
    assert conv_centres([10, 3], [5, 2])(3) == [9, 19, 29]
    assert conv_centres([3, 3], [1, 2], [1, 1])(3) == [0, 2, 4]  # Whisper's front end


def test_identity_layer_profile_is_the_mean_input_per_group():
    """scores = x (one class, a 1x1 convolution with weight 1): y = sum_t x_t, dy/dx = 1, so the
    GradNAP and the NAP of the layer are x itself, and the means are x's mean per label."""
    model = nn.Sequential()
    model.add_module("conv", nn.Conv1d(1, 1, 1, bias=False))
    nn.init.ones_(model.conv.weight)
    generator = torch.Generator().manual_seed(0)
    utterances, values = [], {0: [], 1: [], 2: []}
    for length in (6, 8, 4):
        x = torch.randn(1, 1, length, generator=generator)
        labels = torch.randint(-1, 3, (length // 2,), generator=generator)  # one label per 2 steps
        utterances.append(Utterance((x,), labels, length))
        for step in range(length):
            if labels[step // 2] >= 0:
                values[int(labels[step // 2])].append(float(x[0, 0, step]))
    layout = Layout("conv", batch_axis=0, time_axis=2, centres=IDENTITY_CENTRES)
    for method in ("gradnap", "nap"):
        reference = brute_force_profiles(model, utterances, [layout], layout, 3, label_rate=2, method=method)
        np.testing.assert_array_equal(reference["conv"].counts, [len(values[g]) for g in range(3)])
        np.testing.assert_allclose(reference["conv"].means[:, 0], [np.mean(values[g]) for g in range(3)], rtol=1e-6)


def _conv_stack() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv1d(3, 6, 5, padding=2))
    model.add_module("relu1", nn.ReLU(inplace=True))
    model.add_module("conv2", nn.Conv1d(6, 6, 4, stride=2))
    model.add_module("relu2", nn.ReLU())
    model.add_module("out", nn.Conv1d(6, 4, 1))
    return model.eval()


def test_agrees_with_the_engine_given_frame_maps_on_a_padded_batch():
    """Strided convolutions, labels at 2 input steps each, lengths varied: the engine on one padded
    batch with frame maps stated by hand equals the reference run one utterance at a time."""
    model = _conv_stack()
    generator = torch.Generator().manual_seed(1)
    lengths = [16, 12, 20, 10]
    padded = max(lengths)
    x = torch.zeros(len(lengths), 3, padded)
    labels = torch.full((len(lengths), padded // 2), -1)
    utterances = []
    for b, length in enumerate(lengths):
        x[b, :, :length] = torch.randn(3, length, generator=generator)
        labels[b, : length // 2] = torch.randint(-1, 4, (length // 2,), generator=generator)
        utterances.append(Utterance((x[b : b + 1, :, :length],), labels[b, : length // 2], length))
    strided = conv_centres([5, 4], [1, 2], [2, 0])  # 2t + 1.5 -> floor
    layers = [Layout("conv1", 0, 2, conv_centres([5], [1], [2])), Layout("conv2", 0, 2, strided)]
    for method in ("gradnap", "nap"):
        reference = brute_force_profiles(model, utterances, layers, Layout("<output>", 0, 2, strided), 4, 2, method)
        batch = {"inputs": x, "labels": labels.repeat_interleave(2, dim=1), "lengths": torch.tensor(lengths)}
        frame_maps = {"conv1": (1, 0.0, 0), "conv2": (2, 1.5, -2), "<output>": (2, 1.5, -2)}
        profiles = compute_profiles(model, [batch], ["conv1", "conv2"], 4, method=method, frame_maps=frame_maps)
        assert_profiles_match(profiles, reference)


class PairLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return super().forward(x), None


class TupleBlock(nn.Module):
    """A ``[B, T, C]`` layer that returns a tuple, as HF encoder layers do, under a linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.block = PairLinear(3, 5)
        self.head = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.block(x.transpose(1, 2))
        return self.head(hidden).transpose(1, 2)


def test_channels_last_layer_by_hand():
    """y = sum_t max_k (W a_t + b)_k, so dy/da_t = W[k*_t]: the GradNAP of frame t is a_t * W[k*_t]."""
    model = TupleBlock()
    x = torch.randn(1, 3, 6, generator=torch.Generator().manual_seed(3))
    utterances = [Utterance((x,), torch.tensor([0, 1, 1, 0, -1, 1]), 6)]
    layout = Layout("block", batch_axis=0, time_axis=1, centres=IDENTITY_CENTRES)
    reference = brute_force_profiles(model, utterances, [layout], Layout("<output>", 0, 2, IDENTITY_CENTRES), 2)
    with torch.no_grad():
        a = model.block(x.transpose(1, 2))[0][0]  # [T, 5]
        relevance = a * model.head.weight[model.head(a).argmax(dim=1)]
    np.testing.assert_array_equal(reference["block"].counts, [2, 3])
    expected = np.stack([relevance[[0, 3]].mean(0).numpy(), relevance[[1, 2, 5]].mean(0).numpy()])
    np.testing.assert_allclose(reference["block"].means, expected, rtol=1e-6)
