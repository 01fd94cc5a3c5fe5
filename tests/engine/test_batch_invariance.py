"""A profile is a function of the data only: the same utterances batched as 16, as 4 in reverse
order and one by one give equal profiles (counts exactly, means to 1e-5 of their largest value)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pad_sequence

from example_asr.model import Wav2Letter
from lightning_gradnap import ProfileBatch
from lightning_gradnap.engine.engine import ProfileEngine
from tests.helpers.masked_models import PooledDilated

GROUPS, FEATURES, UTTERANCES = 5, 8, 16


def utterances(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """(features [F, T], frame labels [T] in runs of 2 to 8 frames, utterance label), unequal T."""
    generator = torch.Generator().manual_seed(seed)
    result = []
    for index in range(UTTERANCES):
        frames = int(torch.randint(40, 121, (), generator=generator))
        runs = torch.randint(2, 9, (frames,), generator=generator)
        groups = torch.randint(-1, GROUPS, (frames,), generator=generator)
        labels = groups.repeat_interleave(runs)[:frames]
        features = torch.randn(FEATURES, frames, generator=generator)
        result.append((features, labels, index % GROUPS))
    return result


def batches(items, size: int, reverse: bool = False, utterance_labels: bool = False) -> list[ProfileBatch]:
    order = list(range(len(items)))[::-1] if reverse else list(range(len(items)))
    result = []
    for start in range(0, len(order), size):
        chosen = [items[i] for i in order[start : start + size]]
        features = pad_sequence([f.T for f, _, _ in chosen], batch_first=True).transpose(1, 2)  # zero padding
        lengths = torch.tensor([f.shape[1] for f, _, _ in chosen])
        if utterance_labels:
            labels = torch.tensor([u for _, _, u in chosen])
        else:
            labels = pad_sequence([frame_labels for _, frame_labels, _ in chosen], batch_first=True, padding_value=-1)
        result.append(ProfileBatch((features, lengths), labels, lengths))  # the model masks with lengths
    return result


def profile(model, layers, batched, **options) -> tuple[dict, object]:
    engine = ProfileEngine(layers, GROUPS, **options)
    recorder = engine.recorder(model)
    for batch in batched:
        assert engine.run_batch(model, batch, recorder=recorder)
    profiles = engine.result()
    return {
        name: (profiles[name].counts, profiles[name].means, profiles[name].half_counts) for name in layers
    }, engine.feature_views()


def assert_same(result, reference) -> None:
    for name, (counts, means, half_counts) in reference[0].items():
        other_counts, other_means, other_half_counts = result[0][name]
        np.testing.assert_array_equal(other_counts, counts, err_msg=name)
        np.testing.assert_array_equal(other_half_counts, half_counts, err_msg=name)  # the split-half split too
        scale = np.nanmax(np.abs(means))
        np.testing.assert_allclose(other_means, means, rtol=0, atol=1e-5 * scale, err_msg=name)
    if reference[1] is not None:
        np.testing.assert_array_equal(result[1].counts, reference[1].counts)
        for field in ("means", "weighted_means", "overall"):
            expected = getattr(reference[1], field)
            if expected is not None:
                np.testing.assert_allclose(
                    getattr(result[1], field), expected, rtol=0, atol=1e-5 * np.nanmax(np.abs(expected))
                )


def demo_model() -> tuple[torch.nn.Module, list[str]]:
    torch.manual_seed(0)
    model = Wav2Letter(n_features=FEATURES, channels=16, num_layers=3, wide_channels=24, input_kernel=11, wide_kernel=7)
    for module in model.modules():  # batch-norm statistics of a trained model, not the identity
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval(), ["input_conv", "conv1", "conv3", "wide_conv", "dense"]


def pooled_model() -> tuple[torch.nn.Module, list[str]]:
    torch.manual_seed(1)
    return PooledDilated(features=FEATURES).eval(), ["conv0", "pool", "dilated"]


CASES = {
    "gradnap-frame": dict(method="gradnap"),
    "nap-frame": dict(method="nap"),
    "gradnap-utterance": dict(method="gradnap", label_level="utterance"),
    "nap-utterance": dict(method="nap", label_level="utterance"),
    "window-segment": dict(method="gradnap", window=5, window_center="segment"),
    "window-salient": dict(method="gradnap", window=5, window_center="salient"),
    "feature-view": dict(method="gradnap", input_window=7),
}


@pytest.mark.parametrize("make_model", [demo_model, pooled_model], ids=["demo", "pool3-dilated"])
@pytest.mark.parametrize("case", list(CASES))
def test_profiles_do_not_depend_on_batching(make_model, case: str) -> None:
    model, layers = make_model()
    options = CASES[case]
    items = utterances()
    if options.get("window_center") == "salient":
        # The salient frame is an arg-max: float32 rounding, which differs with the padded length,
        # can flip it between two frames within 1e-7 of each other. In float64 no near-tie is left.
        model = model.double()
        items = [(features.double(), labels, label) for features, labels, label in items]
    by_utterance = options.get("label_level") == "utterance"
    reference = profile(model, layers, batches(items, 16, utterance_labels=by_utterance), **options)
    for size, reverse in ((4, True), (1, False)):
        assert_same(profile(model, layers, batches(items, size, reverse, by_utterance), **options), reference)
