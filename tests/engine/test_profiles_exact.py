"""Exact profiles of a tiny hand-weighted Conv1d model, worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lightning_gradnap import compute_profiles

# x = [1, -2, 3, 5], frames labelled [0, 0, 1, 1]
X = torch.tensor([[[1.0, -2.0, 3.0, 5.0]]])
LABELS = torch.tensor([[0, 0, 1, 1]])


def hand_weighted(inplace: bool) -> nn.Sequential:
    """conv1: a = [x, -x]; relu; out: identity 1x1 -> scores [relu(x), relu(-x)]."""
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv1d(1, 2, kernel_size=1, bias=False))
    model.add_module("relu", nn.ReLU(inplace=inplace))
    model.add_module("out", nn.Conv1d(2, 2, kernel_size=1, bias=False))
    with torch.no_grad():
        model.conv1.weight.copy_(torch.tensor([[[1.0]], [[-1.0]]]))
        model.out.weight.copy_(torch.eye(2)[:, :, None])
    return model.eval()


@pytest.mark.parametrize("inplace", [False, True])
def test_nap_is_the_mean_activation_of_the_layer_itself(inplace: bool) -> None:
    profiles = compute_profiles(hand_weighted(inplace), [(X, LABELS)], ["conv1"], num_groups=2, method="nap")
    # conv1 outputs [x, -x] (before the ReLU, even an in-place one): group 0 -> [-0.5, 0.5], group 1 -> [4, -4]
    np.testing.assert_array_equal(profiles["conv1"].means, [[-0.5, 0.5], [4.0, -4.0]])
    np.testing.assert_array_equal(profiles["conv1"].profile, [[-2.25, 2.25], [2.25, -2.25]])
    np.testing.assert_array_equal(profiles["conv1"].counts, [2, 2])


@pytest.mark.parametrize("inplace", [False, True])
def test_gradnap_weights_activations_by_the_predicted_logit_gradient(inplace: bool) -> None:
    model = hand_weighted(inplace)
    profiles = compute_profiles(model, [(X, LABELS)], ["conv1", "out"], num_groups=2)
    # y = sum_t max(relu(x), relu(-x)); dy/da = 1 on the channel that wins, 0 elsewhere:
    # a*g per frame: x=1 -> [1, 0]; x=-2 -> [0, 2]; x=3 -> [3, 0]; x=5 -> [5, 0]
    expected_means = [[0.5, 1.0], [4.0, 0.0]]
    np.testing.assert_array_equal(profiles["conv1"].means, expected_means)
    np.testing.assert_array_equal(profiles["conv1"].profile, [[-1.75, 0.5], [1.75, -0.5]])
    np.testing.assert_array_equal(profiles["out"].means, expected_means)
    assert profiles.metadata["method"] == "gradnap"


def test_absolute_and_utterance_level_by_hand() -> None:
    model = hand_weighted(inplace=True)
    nap = compute_profiles(model, [(X, LABELS)], ["conv1"], num_groups=2, method="nap", absolute=True)
    np.testing.assert_array_equal(nap["conv1"].means, [[1.5, 1.5], [4.0, 4.0]])
    # utterance level: the one example (label 1) averages a*g over its 3 valid frames
    utterance = compute_profiles(
        model, [(X, torch.tensor([1]), torch.tensor([3]))], ["conv1"], num_groups=2, label_level="utterance"
    )
    np.testing.assert_allclose(utterance["conv1"].means[1], [4.0 / 3.0, 2.0 / 3.0])
    assert np.isnan(utterance["conv1"].means[0]).all()


def test_strided_layer_maps_frames_and_lengths() -> None:
    # a stride-2 identity conv sees input frames 0 and 2 of 4: layer frame t is centred on input frame 2t
    model = nn.Sequential()
    model.add_module("down", nn.Conv1d(1, 1, kernel_size=1, stride=2, bias=False))
    with torch.no_grad():
        model.down.weight.fill_(1.0)
    x = torch.tensor([[[1.0, 10.0, 100.0, 1000.0]], [[2.0, 20.0, 200.0, 2000.0]]])
    labels = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])  # input frame 1 is not a centre: its label is never read
    profiles = compute_profiles(model.eval(), [(x, labels, torch.tensor([4, 2]))], ["down"], 2, method="nap")
    # the layer's frames hold x[0] and x[2] and take their labels from there (the centres of their fields):
    # example 0 -> (1, group 0), (100, group 1); example 1 -> (2, group 1), its frame 1 (centre 2) is past length 2
    np.testing.assert_array_equal(profiles["down"].means[:, 0], [1.0, 51.0])
    np.testing.assert_array_equal(profiles["down"].counts, [1, 2])


def test_time_resolved_window_by_hand() -> None:
    model = hand_weighted(inplace=False)
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    labels = torch.tensor([[-1, 0, 0, 0, -1]])  # one segment, frames 1..3, centre 2
    profiles = compute_profiles(model, [(x, labels)], ["conv1"], 1, method="nap", window=3)
    np.testing.assert_array_equal(profiles["conv1"].means[0], [[2.0, 3.0, 4.0], [-2.0, -3.0, -4.0]])
    edge = compute_profiles(model, [(x, torch.tensor([[0, -1, -1, -1, -1]]))], ["conv1"], 1, method="nap", window=3)
    np.testing.assert_array_equal(edge["conv1"].means[0, 0], [0.0, 1.0, 2.0])  # zero-padded at the edge
