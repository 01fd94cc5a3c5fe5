"""Profiles split by the model's correctness (``split_by_correctness``) against a brute-force split, on tiny
models whose predictions the test sets: a CTC-like frame model and a classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lightning_gradnap import ProfileEngine, compute_profiles
from lightning_gradnap.config import EngineOptions
from lightning_gradnap.profiles.groups import split_group_names
from tests.helpers.brute_force import (
    Layout,
    Utterance,
    assert_profiles_match,
    brute_force_profiles,
    conv_centres,
    correctness_labels,
)

GROUPS, CLASSES, FRAMES = 3, 4, 24  # classes: the blank (0) and one per group (group g is class g + 1)


class SteeredCTC(nn.Module):
    """Scores ``[B, K, T/2]`` whose best path is what the input says: ``10 x`` at the even input frames,
    plus a small learned part (so every layer has a gradient). ``x`` is ``[B, K, T]``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv1d(CLASSES, 6, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv1d(6, 5, 3, padding=1)
        self.out = nn.Conv1d(5, CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.01 * self.out(self.conv2(self.relu(self.conv1(x)))) + 10 * x[:, :, ::2]


def steered_batch(seed: int = 0, batch: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs that set the best path, frame labels in runs (some ignored), and the path itself ``[B, T/2]``."""
    generator = torch.Generator().manual_seed(seed)
    path = torch.randint(0, CLASSES, (batch, FRAMES // 2), generator=generator)
    path[:, ::3] = 0  # blanks, as a CTC model's best path has many
    inputs = 0.1 * torch.randn(batch, CLASSES, FRAMES, generator=generator)
    inputs[:, :, ::2] += 3 * nn.functional.one_hot(path, CLASSES).permute(0, 2, 1)
    runs = torch.randint(-1, GROUPS, (batch, FRAMES // 4), generator=generator)
    labels = runs.repeat_interleave(4, dim=1)
    return inputs, labels, path


LAYOUTS = [
    Layout("conv1", 0, 2, conv_centres([3], [2], [1])),
    Layout("conv2", 0, 2, conv_centres([3, 3], [2, 1], [1, 1])),
]
OUTPUT = Layout("<output>", 0, 2, conv_centres([3, 3, 1], [2, 1, 1], [1, 1, 0]))
CTC_CLASSES = [(g + 1,) for g in range(GROUPS)]


@pytest.mark.parametrize("blank_frames", ["segment", "wrong", "ignore"])
@pytest.mark.parametrize("method", ["gradnap", "nap"])
def test_ctc_frame_split_equals_brute_force(blank_frames: str, method: str) -> None:
    model = SteeredCTC().eval()
    inputs, labels, path = steered_batch()
    assert torch.equal(model(inputs).argmax(dim=1), path)  # the errors are the ones the test chose
    profiles = compute_profiles(
        model, [(inputs, labels)], ["conv1", "conv2"], GROUPS, method=method, split_by_correctness=True,
        blank_frames=blank_frames, group_names=["a", "b", "c"],
    )  # fmt: skip
    utterances = [Utterance((inputs[i : i + 1],), labels[i], FRAMES) for i in range(len(inputs))]
    relabel = correctness_labels(CTC_CLASSES, blank=0, blank_frames=blank_frames)
    reference = brute_force_profiles(model, utterances, LAYOUTS, OUTPUT, 2 * GROUPS, method=method, relabel=relabel)
    assert_profiles_match(profiles, reference)
    assert (
        profiles.group_names
        == split_group_names(["a", "b", "c"])
        == ["a correct", "a wrong", "b correct"]
        + [
            "b wrong",
            "c correct",
            "c wrong",
        ]
    )
    assert profiles.metadata["split_by_correctness"] is True and profiles.metadata["blank_frames"] == blank_frames
    counts = profiles["conv2"].counts
    assert counts[0::2].sum() > 0 and counts[1::2].sum() > 0  # both sides hold frames


def test_split_sides_add_up_to_the_unsplit_groups() -> None:
    """Without ignored blanks, each group's right and wrong sums are its sums unsplit; the state is 2G x C."""
    model = SteeredCTC().eval()
    inputs, labels, _ = steered_batch(seed=1)
    split = ProfileEngine(["conv1", "conv2"], GROUPS, split_by_correctness=True, blank_frames="wrong")
    plain = ProfileEngine(["conv1", "conv2"], GROUPS)
    for engine in (split, plain):
        engine.run_batch(model, (inputs, labels))
    for layer in ("conv1", "conv2"):
        split_sums, split_counts = split.state()[layer]
        plain_sums, plain_counts = plain.state()[layer]
        assert split_sums.shape == (2, 2 * GROUPS, split_sums.shape[-1])  # 2 halves x 2G x C
        assert split_counts.shape == (2, 2 * GROUPS)
        torch.testing.assert_close(split_sums.view(2, GROUPS, 2, -1).sum(dim=2), plain_sums)
        torch.testing.assert_close(split_counts.view(2, GROUPS, 2).sum(dim=2), plain_counts)


class SteeredClassifier(nn.Module):
    """Scores ``[B, K]`` whose arg-max is the arg-max of the input's first ``K`` features."""

    def __init__(self, features: int = 6, classes: int = GROUPS) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.classes = classes
        self.fc1 = nn.Linear(features, 5)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(5, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.01 * self.fc2(self.relu(self.fc1(x))) + 10 * x[:, : self.classes]


def brute_force_classifier(model: SteeredClassifier, x: torch.Tensor, labels: torch.Tensor) -> dict[str, np.ndarray]:
    """Per example, alone: ``r = a * dy/da`` of ``fc1`` into group ``2 label + wrong``, in explicit loops."""
    sums, counts = np.zeros((2 * GROUPS, 5)), np.zeros(2 * GROUPS)
    kept: dict[str, torch.Tensor] = {}
    handle = model.fc1.register_forward_hook(lambda _m, _i, out: kept.update(a=out))
    try:
        for i in range(len(x)):
            scores = model(x[i : i + 1])[0]
            (gradient,) = torch.autograd.grad(scores.max(), [kept["a"]])
            predicted, label = int(scores.argmax()), int(labels[i])
            group = 2 * label + int(predicted != label)
            sums[group] += (kept["a"] * gradient)[0].double().detach().numpy()
            counts[group] += 1
    finally:
        handle.remove()
    assert not model.fc1._forward_hooks
    return {"sums": sums, "counts": counts}


def test_classifier_split_equals_brute_force() -> None:
    model = SteeredClassifier().eval()
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(12, 6, generator=generator)
    labels = torch.randint(0, GROUPS, (12,), generator=generator)
    labels[:4] = x[:4, :GROUPS].argmax(dim=1)  # some right for sure
    labels[4:8] = (x[4:8, :GROUPS].argmax(dim=1) + 1) % GROUPS  # some wrong for sure
    profiles = compute_profiles(
        model, [(x, labels)], ["fc1"], GROUPS, label_level="utterance", split_by_correctness=True
    )
    expected = brute_force_classifier(model, x, labels)
    np.testing.assert_array_equal(profiles["fc1"].counts, expected["counts"])
    present = expected["counts"] > 0
    means = expected["sums"][present] / expected["counts"][present, None]
    np.testing.assert_allclose(profiles["fc1"].means[present], means, rtol=1e-5, atol=1e-7)
    assert profiles.group_names[:2] == ["0 correct", "0 wrong"]


def test_option_errors() -> None:
    with pytest.raises(ValueError, match="needs split_by_correctness=True"):
        EngineOptions(group_classes=[1, 2, 3])
    with pytest.raises(ValueError, match="blank_frames"):
        EngineOptions(split_by_correctness=True, blank_frames="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"group_classes`\[1\]"):
        EngineOptions(split_by_correctness=True, group_classes=[1, [], 3])
    with pytest.raises(ValueError, match="3 entries, but there are 2 groups"):
        ProfileEngine(["conv1"], 2, split_by_correctness=True, group_classes=[1, 2, 3])
    model, (inputs, labels, _) = SteeredCTC().eval(), steered_batch()
    engine = ProfileEngine(["conv1"], 2, split_by_correctness=True)  # 4 classes for 2 groups: which is which?
    with pytest.raises(ValueError, match="give `group_classes`"):
        engine.run_batch(model, (inputs, labels.clamp(max=1)))
    engine = ProfileEngine(["conv1"], 3, split_by_correctness=True, group_classes=[1, 2, 7])
    with pytest.raises(ValueError, match="output class 7 for group 2"):
        engine.run_batch(model, (inputs, labels))
    engine = ProfileEngine(["conv1"], 3, split_by_correctness=True, label_level="utterance")
    with pytest.raises(ValueError, match="one predicted class per example"):
        engine.run_batch(model, (inputs, labels[:, 0]))


def test_group_classes_with_several_classes_per_group() -> None:
    """A group that accepts two classes is right at frames of either (here group 0 accepts the blank's
    neighbour 1 and class 2): counted as the brute force counts them."""
    model = SteeredCTC().eval()
    inputs, labels, _ = steered_batch(seed=3)
    classes = [(1, 2), (2,), (3,)]
    profiles = compute_profiles(
        model, [(inputs, labels)], ["conv2"], GROUPS, split_by_correctness=True, group_classes=classes
    )
    utterances = [Utterance((inputs[i : i + 1],), labels[i], FRAMES) for i in range(len(inputs))]
    relabel = correctness_labels(classes, blank=0, blank_frames="segment")
    reference = brute_force_profiles(model, utterances, LAYOUTS[1:], OUTPUT, 2 * GROUPS, relabel=relabel)
    assert_profiles_match(profiles, reference)
