"""Layouts found per layer by probing: [B, C, T], [B, T, C], [T, B, C] and a 4-D [B, C, F, T] layer in
one model, against a brute-force reference with the layouts and centres stated by hand; an
ambiguous axis is an error that names the layer, its shape and the option."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_gradnap import compute_profiles
from lightning_gradnap.recording.layouts import Layout as FoundLayout
from tests.helpers.brute_force import Layout, Utterance, assert_profiles_match, brute_force_profiles, conv_centres

FEATURES, GROUPS = 6, 3


class Permute(nn.Module):
    def __init__(self, *order: int) -> None:
        super().__init__()
        self.order = order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.order)


class Mixed(nn.Module):
    """[B, F, T] -> conv2d over [B, 1, F, T] (4-D, stride 2 in time) -> [B, C*F, T'] -> Linear over [B, T', C]
    -> time-first [T', B, C] -> 1x1 conv -> scores [B, K, T']."""

    def __init__(self) -> None:
        super().__init__()
        self.conv2d = nn.Conv2d(1, 2, (3, 5), stride=(1, 2), padding=(1, 2))
        self.to_bct = Permute(0, 2, 1)
        self.proj = nn.Linear(2 * FEATURES, 8)
        self.time_first = Permute(1, 0, 2)
        self.mix = nn.Linear(8, 8)
        self.out = nn.Conv1d(8, GROUPS, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        planes = torch.relu(self.conv2d(x[:, None]))  # [B, 2, F, T']
        frames = self.proj(self.to_bct(planes.flatten(1, 2)))  # [B, T', 8]
        mixed = torch.tanh(self.mix(self.time_first(frames)))  # [T', B, 8]
        return self.out(mixed.permute(1, 2, 0))


def test_four_layouts_in_one_model_equal_the_reference() -> None:
    torch.manual_seed(0)
    model = Mixed().eval()
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, FEATURES, 40, generator=generator)
    labels = torch.randint(-1, GROUPS, (3, 40), generator=generator)
    centres = conv_centres([5], [2], [2])
    layers = [
        Layout("conv2d", 0, 3, centres),
        Layout("proj", 0, 1, centres),
        Layout("mix", 1, 0, centres),
    ]
    reference = brute_force_profiles(
        model,
        [Utterance((x[b : b + 1],), labels[b], 40) for b in range(3)],
        layers,
        Layout("<output>", 0, 2, centres),
        GROUPS,
    )
    engine_options = dict(channels_last=None, class_dim=None)
    profiles = compute_profiles(model, [(x, labels)], ["conv2d", "proj", "mix"], GROUPS, **engine_options)
    assert_profiles_match(profiles, reference)
    assert profiles["conv2d"].profile.shape == (GROUPS, 2 * FEATURES)  # channel x frequency


def test_an_ambiguous_time_axis_names_the_layer_and_the_option() -> None:
    class Square(nn.Module):  # [B, T, T]: two axes grow with the input
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.transpose(1, 2) @ x

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.square = Square()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.square(x)[:, :GROUPS]

    x, labels = torch.randn(2, 4, 20), torch.randint(0, GROUPS, (2, 20))
    with pytest.raises(ValueError, match=r"cannot tell the time axis of 'square'.*channels_last=\{'square'"):
        compute_profiles(Model().eval(), [(x, labels)], ["square"], GROUPS, channels_last=None)


def test_to_bct_folds_extra_axes_into_neurons() -> None:
    tensor = torch.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # [B, C, T, F]
    folded = FoundLayout(0, 2, 4).to_bct(tensor)
    assert folded.shape == (2, 15, 4)
    assert torch.equal(folded[1, :, 2], tensor[1, :, 2, :].flatten())
    time_first = torch.arange(24).reshape(4, 2, 3)  # [T, B, C]
    assert torch.equal(FoundLayout(1, 0, 3).to_bct(time_first), time_first.permute(1, 2, 0))
