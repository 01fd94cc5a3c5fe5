"""The vectorised engine against the brute-force loops of tests/helpers/reference.py on random cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lightning_gradnap import compute_profiles
from lightning_gradnap.profiles.result import group_means
from tests.helpers import reference

pytestmark = pytest.mark.filterwarnings("ignore:.*groups have no frames")

LAYERS = ["conv0", "relu0", "conv1", "out"]


def random_model(seed: int, stride: int, channels: int = 5, classes: int = 4) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential()
    model.add_module("conv0", nn.Conv1d(3, channels, kernel_size=5, stride=stride, padding=2))
    model.add_module("relu0", nn.ReLU())
    model.add_module("conv1", nn.Conv1d(channels, channels, kernel_size=3, stride=stride, padding=1))
    model.add_module("relu1", nn.ReLU())
    model.add_module("out", nn.Conv1d(channels, classes, kernel_size=1))
    return model.double().eval()


def layer_maps(stride: int) -> dict[str, tuple[int, float, int]]:
    """Stated by hand from the convolutions: conv0 (kernel 5, padding 2) centres frame t on input
    frame stride * t and an utterance of L frames has (L - 1) // stride + 1 of them; conv1 (kernel 3,
    padding 1) does the same on conv0's frames, so stride**2 in all; relu and out keep them."""
    first, second = (stride, 0.0, stride - 1), (stride**2, 0.0, stride**2 - 1)
    return {"conv0": first, "relu0": first, "conv1": second, "out": second}


def random_case(seed: int, batch: int, frames: int, groups: int, with_lengths: bool):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, frames, generator=generator, dtype=torch.float64)
    labels = torch.randint(-1, groups, (batch, frames), generator=generator)
    lengths = torch.randint(1, frames + 1, (batch,), generator=generator) if with_lengths else None
    return x, labels, lengths


def reference_layers(model, x, lengths, objective="predicted_logit", targets=None, stride=1):
    lengths_list = None if lengths is None else lengths.tolist()
    output_map = layer_maps(stride)["out"]
    return reference.activations_and_gradients(model, x, lengths_list, objective, targets, output_map), lengths_list


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("method", ["gradnap", "nap"])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_frame_profiles_match_brute_force(stride: int, method: str, with_lengths: bool) -> None:
    model = random_model(stride, stride)
    x, labels, lengths = random_case(stride * 7 + with_lengths, batch=3, frames=23, groups=4, with_lengths=with_lengths)
    profiles = compute_profiles(model, [(x, labels, lengths)], LAYERS, num_groups=4, method=method)
    recorded, lengths_list = reference_layers(model, x, lengths, stride=stride)
    for name in LAYERS:
        activation, gradient = recorded[name]
        sums, counts = reference.frame_sums(
            activation, gradient, labels, lengths_list, 4, method, frame_map=layer_maps(stride)[name]
        )
        np.testing.assert_array_equal(profiles[name].counts, counts)
        np.testing.assert_allclose(profiles[name].means, group_means(sums, counts), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(
            profiles[name].profile, reference.centred(group_means(sums, counts), counts), rtol=1e-9, atol=1e-12
        )


def test_streaming_over_batches_equals_one_big_batch() -> None:
    model = random_model(0, 2)
    x, labels, lengths = random_case(1, batch=6, frames=19, groups=3, with_lengths=True)
    together = compute_profiles(model, [(x, labels, lengths)], LAYERS, 3)
    split = compute_profiles(
        model, [(x[i : i + 2], labels[i : i + 2], lengths[i : i + 2]) for i in (0, 2, 4)], LAYERS, 3
    )
    for name in LAYERS:
        np.testing.assert_allclose(split[name].means, together[name].means, rtol=1e-12)


@pytest.mark.parametrize("objective", ["predicted_logprob", "target_logprob"])
def test_other_objectives_match_brute_force(objective: str) -> None:
    model = random_model(3, 2)
    x, labels, lengths = random_case(4, batch=2, frames=17, groups=3, with_lengths=True)
    targets = torch.randint(-1, 4, labels.shape, generator=torch.Generator().manual_seed(5))
    batch = {"inputs": x, "labels": labels, "lengths": lengths, "targets": targets}
    profiles = compute_profiles(model, [batch], LAYERS, 3, objective=objective)
    recorded, lengths_list = reference_layers(model, x, lengths, objective, targets, stride=2)
    for name in LAYERS:
        sums, counts = reference.frame_sums(*recorded[name], labels, lengths_list, 3, frame_map=layer_maps(2)[name])
        np.testing.assert_allclose(profiles[name].means, group_means(sums, counts), rtol=1e-10, atol=1e-12)


def test_ctc_objective_gradient_equals_that_of_the_ctc_loss() -> None:
    model = random_model(6, 2)
    x, labels, _ = random_case(7, batch=2, frames=24, groups=3, with_lengths=False)
    lengths = torch.tensor([24, 17])
    targets, target_lengths = torch.tensor([[1, 2, 3], [2, 2, 0]]), torch.tensor([3, 2])
    batch = {"inputs": x, "labels": labels, "lengths": lengths, "targets": targets, "target_lengths": target_lengths}
    profiles = compute_profiles(model, [batch], ["conv1"], 3, objective="ctc")

    conv1_out = {}
    handle = model.conv1.register_forward_hook(lambda m, i, o: conv1_out.setdefault("a", o))
    scores = model(x)
    handle.remove()
    output_map = layer_maps(2)["out"]
    output_lengths = torch.tensor(
        [sum(reference.frame_valid(t, output_map, n) for t in range(6)) for n in lengths.tolist()]
    )
    loss = torch.nn.functional.ctc_loss(
        scores.log_softmax(1).permute(2, 0, 1), targets, output_lengths, target_lengths, reduction="sum"
    )
    (gradient,) = torch.autograd.grad(-loss, conv1_out["a"])
    sums, counts = reference.frame_sums(
        conv1_out["a"].detach(), gradient, labels, lengths.tolist(), 3, frame_map=layer_maps(2)["conv1"]
    )
    np.testing.assert_allclose(profiles["conv1"].means, group_means(sums, counts), rtol=1e-9)


def test_utterance_level_matches_brute_force() -> None:
    model = random_model(8, 2)
    x, _, lengths = random_case(9, batch=5, frames=20, groups=3, with_lengths=True)
    labels = torch.tensor([0, 2, 2, -1, 0])
    profiles = compute_profiles(model, [(x, labels, lengths)], LAYERS, 3, label_level="utterance")
    recorded, lengths_list = reference_layers(model, x, lengths, stride=2)
    for name in LAYERS:
        sums, counts = reference.utterance_sums(
            *recorded[name], labels, lengths_list, 20, 3, frame_map=layer_maps(2)[name]
        )
        np.testing.assert_array_equal(profiles[name].counts, [2, 0, 2])
        np.testing.assert_allclose(profiles[name].means, group_means(sums, counts), rtol=1e-10)


@pytest.mark.parametrize("center", ["segment", "salient"])
@pytest.mark.parametrize("stride", [1, 2])
def test_time_resolved_windows_match_brute_force(center: str, stride: int) -> None:
    model = random_model(10 + stride, stride)
    generator = torch.Generator().manual_seed(stride)
    x = torch.randn(3, 3, 30, generator=generator, dtype=torch.float64)
    labels = torch.randint(-1, 3, (3, 6), generator=generator).repeat_interleave(5, dim=1)  # runs of 5 frames
    lengths = torch.tensor([30, 22, 9])
    profiles = compute_profiles(model, [(x, labels, lengths)], LAYERS, 3, window=5, window_center=center)
    recorded, lengths_list = reference_layers(model, x, lengths, stride=stride)
    for name in LAYERS:
        sums, counts = reference.window_sums(
            *recorded[name], labels, lengths_list, 3, 5, center, layer_maps(stride)[name]
        )
        np.testing.assert_array_equal(profiles[name].counts, counts)
        np.testing.assert_allclose(profiles[name].means, group_means(sums, counts), rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 4),
    frames=st.integers(1, 30),
    groups=st.integers(1, 6),
    stride=st.integers(1, 3),
    seed=st.integers(0, 10_000),
    with_lengths=st.booleans(),
)
def test_property_accumulator_equals_brute_force(batch, frames, groups, stride, seed, with_lengths) -> None:
    model = random_model(seed, stride)
    x, labels, lengths = random_case(seed, batch, frames, groups, with_lengths)
    from lightning_gradnap.engine.engine import ProfileEngine

    engine = ProfileEngine(LAYERS, groups)
    engine.run_batch(model, (x, labels, lengths))
    recorded, lengths_list = reference_layers(model, x, lengths, stride=stride)
    for name in LAYERS:
        sums, counts = reference.frame_sums(
            *recorded[name], labels, lengths_list, groups, frame_map=layer_maps(stride)[name]
        )
        np.testing.assert_array_equal(engine.sums[name].counts.numpy(), counts)
        np.testing.assert_allclose(engine.sums[name].sums.numpy(), sums, rtol=1e-10, atol=1e-12)


def test_input_windows_match_brute_force() -> None:
    from lightning_gradnap.engine.engine import ProfileEngine

    model = random_model(21, 2)
    generator = torch.Generator().manual_seed(21)
    x = torch.randn(3, 3, 24, generator=generator, dtype=torch.float64)
    labels = torch.randint(-1, 3, (3, 8), generator=generator).repeat_interleave(3, dim=1)
    lengths = torch.tensor([24, 16, 7])
    engine = ProfileEngine(["conv1"], 3, input_window=5)
    engine.run_batch(model, (x, labels, lengths))
    views = engine.feature_views()

    leaf = x.clone().requires_grad_()
    reference.activations_and_gradients(
        model, leaf, lengths.tolist(), "predicted_logit", output_map=layer_maps(2)["out"]
    )
    ones = torch.ones_like(x)
    sums, counts = reference.window_sums(x, ones, labels, lengths.tolist(), 3, 5)
    weighted, _ = reference.window_sums(x, leaf.grad, labels, lengths.tolist(), 3, 5)
    np.testing.assert_array_equal(views.counts, counts)
    np.testing.assert_allclose(views.means, group_means(sums, counts), rtol=1e-12)
    np.testing.assert_allclose(views.weighted_means, group_means(weighted, counts), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(views.overall, sums.sum(axis=0) / counts.sum(), rtol=1e-12)
