"""The causal check of the profiles (engine/faithfulness.py): a hand-built model whose relevant neurons are
known exactly, and the one-pass per-frame masking against a loop over groups."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.engine.faithfulness import (
    ablated,
    faithfulness_ratio,
    frame_selection,
    in_output_layout,
    layer_selections,
    measure_drops,
    random_neurons,
    top_neurons,
)
from lightning_gradnap.profiles.from_state import profiles_of_method
from lightning_gradnap.recording.batch import ProfileBatch
from lightning_gradnap.recording.layouts import Layout

GROUPS = 4


class KnownNeurons(nn.Module):
    """``hidden`` has ``2G`` channels: channel ``j`` is the input's channel ``j`` and feeds class ``j``'s score
    (weight 1, the others 0.05); channel ``G + j`` is 5 times the same input, more active, but feeds every
    score with 0.05 only. So the neurons that matter for class ``j`` are ``j``; the most active, ``G + j``."""

    def __init__(self, per_example: bool = False) -> None:
        super().__init__()
        layer = (
            (lambda i, o: nn.Linear(i, o, bias=False)) if per_example else (lambda i, o: nn.Conv1d(i, o, 1, bias=False))
        )
        self.hidden = layer(GROUPS, 2 * GROUPS)
        self.relu = nn.ReLU()
        self.out = layer(2 * GROUPS, GROUPS)
        with torch.no_grad():
            eye = torch.eye(GROUPS)
            weights = torch.full((GROUPS, 2 * GROUPS), 0.05)
            weights[:, :GROUPS] += 0.95 * eye
            self.hidden.weight.copy_(torch.cat([eye, 5 * eye]).reshape(self.hidden.weight.shape))
            self.out.weight.copy_(weights.reshape(self.out.weight.shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.relu(self.hidden(x)))


def known_batch(seed: int) -> ProfileBatch:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, GROUPS, (3, 16), generator=generator)
    labels[0, :3] = -1  # unlabelled frames
    x = 2 * nn.functional.one_hot(labels.clamp(min=0), GROUPS).movedim(2, 1).float()
    x = x + 0.1 * torch.rand(3, GROUPS, 16, generator=generator)
    return ProfileBatch(inputs=x, labels=labels, lengths=torch.tensor([16, 16, 11]))


def test_the_check_finds_the_neurons_that_feed_each_class() -> None:
    model = KnownNeurons().eval()
    engine = ProfileEngine(["hidden"], GROUPS, method=["gradnap", "nap"])
    batches = [known_batch(seed) for seed in range(2)]
    for batch in batches:
        engine.run_batch(model, batch)
    profiles = {m: profiles_of_method(engine.state(), engine.contents, m)["hidden"].profile for m in ("gradnap", "nap")}
    selections = layer_selections(profiles, k=1, seed=0)
    assert selections["gradnap"].nonzero()[:, 1].tolist() == list(range(GROUPS))  # class j: neuron j
    assert selections["nap"].nonzero()[:, 1].tolist() == list(range(GROUPS, 2 * GROUPS))  # the most active
    assert selections["random"].sum(dim=1).tolist() == [1] * GROUPS
    drops = {"gradnap": 0.0, "nap": 0.0, "random": 0.0}
    for batch in batches:
        measured = measure_drops(engine, model, {"hidden": model.hidden}, batch, {"hidden": selections})["hidden"]
        assert measured["frames"] == int(((batch.labels >= 0) & (torch.arange(16) < batch.lengths[:, None])).sum())
        drops = {kind: drops[kind] + measured[kind] for kind in drops}
    frames = sum(int(((b.labels >= 0) & (torch.arange(16) < b.lengths[:, None])).sum()) for b in batches)
    # zeroing neuron j at class j's frames takes its score from about 2 to the next class's (about 0.7)
    assert drops["gradnap"] / frames > 1.0
    assert 0 < drops["random"] < drops["gradnap"] / 2 and drops["nap"] < drops["gradnap"] / 2
    assert faithfulness_ratio(drops["gradnap"], drops["random"]) > 2
    assert faithfulness_ratio(drops["gradnap"], drops["random"]) > faithfulness_ratio(drops["nap"], drops["random"])
    assert not model.hidden._forward_hooks  # every ablation's hook is gone


def test_utterance_labels_on_a_layer_without_time() -> None:
    """A classifier (``[B, C]`` layers, one label per example): the same neurons are found, and an example
    without a label is neither ablated nor counted."""
    model = KnownNeurons(per_example=True).eval()
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(24) % GROUPS
    x = 2 * nn.functional.one_hot(labels, GROUPS).float() + 0.1 * torch.rand(24, GROUPS, generator=generator)
    engine = ProfileEngine(["hidden"], GROUPS, method=["gradnap", "nap"], label_level="utterance")
    engine.run_batch(model, ProfileBatch(inputs=x, labels=labels))
    profiles = {m: profiles_of_method(engine.state(), engine.contents, m)["hidden"].profile for m in ("gradnap", "nap")}
    selections = layer_selections(profiles, k=1, seed=0)
    assert selections["gradnap"].nonzero()[:, 1].tolist() == list(range(GROUPS))
    unlabelled = ProfileBatch(inputs=x, labels=torch.where(labels == 0, -1, labels))
    drops = measure_drops(engine, model, {"hidden": model.hidden}, unlabelled, {"hidden": selections})["hidden"]
    assert drops["frames"] == 18  # the 6 examples of group 0 are unlabelled here
    with torch.no_grad():
        clean = model(x).max(dim=1).values
        hidden = model.relu(model.hidden(x))
        hidden[torch.arange(24), labels] = torch.where(labels == 0, hidden[torch.arange(24), labels], 0)
        ablated_scores = model.out(hidden).max(dim=1).values
    expected = float((clean - ablated_scores)[labels != 0].sum())
    assert drops["gradnap"] == pytest.approx(expected, rel=1e-6)


def test_only_each_groups_own_frames_are_ablated() -> None:
    """Ablating neuron j at class j's frames changes the layer's output there only, by exactly neuron j."""
    model = KnownNeurons().eval()
    batch = known_batch(0)
    selected = torch.eye(GROUPS, 2 * GROUPS, dtype=torch.bool)
    labels = batch.labels
    seen = {}
    model.relu.register_forward_hook(lambda module, inputs, output: seen.update(out=output))
    with torch.no_grad():
        clean = model.hidden(batch.inputs).relu()
        with ablated(
            model.hidden, lambda output: in_output_layout(frame_selection(selected, labels), output, lambda t: t)
        ):
            model(batch.inputs)
    expected = clean.clone()
    for b, t in (labels >= 0).nonzero().tolist():
        expected[b, labels[b, t], t] = 0
    assert torch.equal(seen["out"], expected)


def loop_mask(selected: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``[B, C, T]``: a loop over groups, frames and neurons."""
    batch_size, frames = labels.shape
    mask = torch.zeros(batch_size, selected.shape[1], frames, dtype=torch.bool)
    for group in range(selected.shape[0]):
        for b in range(batch_size):
            for t in range(frames):
                if labels[b, t] == group:
                    mask[b, :, t] |= selected[group]
    return mask


@pytest.mark.parametrize(
    ("layout", "shape"),
    [
        (Layout(0, 2, 3), (3, 6, 9)),  # [B, C, T]
        (Layout(1, 0, 3), (9, 3, 6)),  # [T, B, C], time first
        (Layout(0, 1, 3), (3, 9, 6)),  # [B, T, C]
        (Layout(0, 2, 4), (3, 2, 9, 3)),  # [B, C, T, F]: neurons C * F, time in between
    ],
)
def test_one_pass_masking_equals_a_loop_over_groups(layout: Layout, shape: tuple[int, ...]) -> None:
    generator = torch.Generator().manual_seed(3)
    labels = torch.randint(-1, GROUPS, (3, 9), generator=generator)
    selected = torch.rand(GROUPS, 6, generator=generator) < 0.4
    output = torch.randn(shape, generator=generator)
    mask = frame_selection(selected, labels)
    assert torch.equal(mask, loop_mask(selected, labels))
    native = in_output_layout(mask, output, layout.to_bct)
    assert native.shape == output.shape
    assert torch.equal(layout.to_bct(native.float()).bool(), loop_mask(selected, labels))


def test_utterance_masks_hold_at_every_position_of_the_example() -> None:
    selected = torch.tensor([[True, False, False], [False, True, True]])
    labels = torch.tensor([1, -1, 0])
    mask = in_output_layout(frame_selection(selected, labels), torch.zeros(3, 3, 5), lambda t: t)
    assert torch.equal(mask[:, :, 0], torch.tensor([[False, True, True], [False, False, False], [True, False, False]]))
    assert torch.equal(mask, mask[:, :, :1].expand(3, 3, 5))


def test_selections() -> None:
    profile = np.array([[0.1, 0.9, -2.0, 0.3], [np.nan] * 4, [0.0, 0.0, 0.5, 0.5]])
    assert top_neurons(profile, 2).tolist() == [
        [False, True, False, True],
        [False] * 4,  # absent: none
        [False, False, True, True],
    ]
    present = np.array([True, False, True])
    first, again = random_neurons(present, 10, 3, seed=7), random_neurons(present, 10, 3, seed=7)
    assert torch.equal(first, again) and first.sum(dim=1).tolist() == [3, 0, 3]
    assert np.isnan(faithfulness_ratio(1.0, 0.0)) and np.isnan(faithfulness_ratio(1.0, -0.5))
    assert faithfulness_ratio(3.0, 1.5) == 2.0
