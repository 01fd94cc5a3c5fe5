"""One row of the model matrix: a tiny real model, its data, the callback a user would add, and the
hand-worked layouts and receptive-field centres its brute-force reference needs.

Checks: the profiles that ``fit`` saved equal the reference on the model after ``fit`` (1e-5); for a
model that masks its padding, the same utterances profiled batched and one by one agree (1e-5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from lightning_gradnap import GradNAPCallback, Profiles, compute_profiles
from tests.helpers.brute_force import Layout, assert_profiles_match, brute_force_profiles
from tests.helpers.speech_fit import (
    GROUPS,
    FrameTask,
    InputLayout,
    batches,
    fit_and_profile,
    make_examples,
    time_last,
    utterances,
    validate_and_profile,
)

__all__ = [
    "QUIET",
    "Case",
    "assert_batching_invariant",
    "check_against_reference",
    "check_reference_with_frame_maps",
    "fitted",
]

#: Warnings these models give by design: a few utterances give profiles of low split-half
#: reliability; attention and recurrent layers take the frame map of the local module that feeds them.
QUIET = [
    pytest.mark.filterwarnings("ignore:GradNAPCallback. the profiles of .* split-half reliability:UserWarning"),
    pytest.mark.filterwarnings("ignore:.* sees the whole input .*its frames take the frame map of:UserWarning"),
]


@dataclass
class Case:
    """A model of the matrix.

    Attributes:
        name: Test id.
        build: Makes the network (seeded inside the test).
        input_key: Batch key of the generated input.
        net_inputs: Batch keys of the network's positional inputs (e.g. ``[waveforms, lengths]``).
        layers: Reference layouts of the profiled layers, by name in the LightningModule (``net.``...).
        output: Reference layout of the scores.
        lengths: Utterance lengths in input steps (one value: equal lengths).
        channels: Feature channels of the generated input (``None``: a waveform).
        label_rate: Input steps per label.
        layout: The batch's input layout, from the generated time-last ``[B, ..., T]``.
        class_dim: Axis of the classes in the scores (for the loss and the engine given frame maps; the
            callback finds it).
        lengths_key: The callback's ``lengths`` (``None``: equal lengths, no padding).
        masks_padding: Whether the model masks its padding (then batched and one by one agree).
        relative_key: Batch key of SpeechBrain-style relative lengths, if the model takes them.
        frame_maps: ``(stride, offset, length_offset)`` of every layer and ``"<output>"``, by hand, for
            checking the reference against the engine told them (:func:`check_reference_with_frame_maps`).
        flat_layouts: The layers whose layout the engine took before it found layouts itself:
            ``False`` for ``[B, C, T]``, ``True`` for ``[B, T, C]`` (time-first and 4-D layers are absent).
    """

    name: str
    build: Callable[[], nn.Module]
    input_key: str
    net_inputs: list[str]
    layers: list[Layout]
    output: Layout
    lengths: Sequence[int]
    channels: int | None
    label_rate: int = 1
    layout: InputLayout = time_last
    class_dim: int = 1
    lengths_key: str | None = "lengths"
    masks_padding: bool = False
    relative_key: str | None = None
    train_examples: int = 8
    val_examples: int = 8
    batch_size: int = 4
    frame_maps: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    flat_layouts: dict[str, bool] = field(default_factory=dict)

    def callback(self) -> GradNAPCallback:
        """The callback as a user writes it from the README: layers, batch keys, and the label rate
        where labels come coarser than the input. No frame maps, no layout options, no class axis."""
        options: dict[str, Any] = dict(
            layers=[layer.name for layer in self.layers],
            labels="frame_labels",
            inputs=self.net_inputs if len(self.net_inputs) > 1 else self.net_inputs[0],
            lengths=self.lengths_key,
            max_batches=None,
            views=["scalars"],
            background_figures=False,
            profile_init=False,  # one profiling per fit here; test_transformers checks the init's against brute force
        )
        if self.label_rate != 1:
            options["label_rate"] = self.label_rate
        return GradNAPCallback(**options)

    def examples(self, count: int, seed: int):
        return make_examples(count, self.lengths, self.channels, self.label_rate, seed)

    def batches(self, examples, batch_size: int) -> list[dict[str, torch.Tensor]]:
        return batches(examples, batch_size, self.input_key, self.layout, self.relative_key)


@dataclass
class Fitted:
    task: FrameTask
    profiles: Profiles
    val: list


def fitted(case: Case, root: str) -> Fitted:
    """``case``'s model after a one-epoch ``fit`` with the callback, and the profiles it saved."""
    torch.manual_seed(0)
    task = FrameTask(case.build(), case.net_inputs, case.class_dim)
    train = case.batches(case.examples(case.train_examples, seed=1), case.batch_size)
    val = case.examples(case.val_examples, seed=2)
    profiles = fit_and_profile(task, train, case.batches(val, case.batch_size), root, case.callback())
    return Fitted(task, profiles, val)


def check_against_reference(case: Case, result: Fitted) -> None:
    """The saved profiles equal the brute-force reference on the model after ``fit`` (eval mode)."""
    result.task.eval()
    alone = utterances(result.val, case.input_key, case.net_inputs, case.layout)
    reference = brute_force_profiles(result.task, alone, case.layers, case.output, len(GROUPS), case.label_rate)
    assert set(reference) == set(result.profiles.layer_names)
    assert all(layer.counts.sum() > 0 for layer in reference.values())
    assert_profiles_match(result.profiles, reference, rtol=1e-5)


def assert_batching_invariant(case: Case, result: Fitted, root: str) -> None:
    """The same utterances one per batch (``validate`` with a fresh callback) give the fit's profiles."""
    alone = validate_and_profile(result.task, case.batches(result.val, 1), root, case.callback())
    for name in result.profiles.layer_names:
        batched, single = result.profiles[name], alone[name]
        np.testing.assert_array_equal(single.counts, batched.counts, err_msg=name)
        scale = np.nanmax(np.abs(batched.means))
        for what in ("means", "profile"):
            np.testing.assert_allclose(
                getattr(single, what), getattr(batched, what), rtol=1e-5, atol=1e-5 * scale, err_msg=f"{name} {what}"
            )


def check_reference_with_frame_maps(case: Case) -> None:
    """The reference of the model at its initial weights agrees with ``compute_profiles`` on padded
    batches given the frame maps by hand, labels repeated to one per input step, one call per layout."""
    torch.manual_seed(0)
    task = FrameTask(case.build(), case.net_inputs, case.class_dim).eval()
    val = case.examples(case.val_examples, seed=2)
    alone = utterances(val, case.input_key, case.net_inputs, case.layout)
    reference = brute_force_profiles(task, alone, case.layers, case.output, len(GROUPS), case.label_rate)
    engine_batches = [
        {
            "inputs": tuple(batch[key] for key in case.net_inputs),
            "labels": batch["frame_labels"].repeat_interleave(case.label_rate, dim=1),
            "lengths": batch["lengths"] if case.lengths_key else None,
        }
        for batch in case.batches(val, case.batch_size)
    ]
    for channels_last in (False, True):
        names = [name for name, last in case.flat_layouts.items() if last == channels_last]
        if names:
            frame_maps = {name: case.frame_maps[name] for name in [*names, "<output>"]}
            profiles = compute_profiles(
                task,
                engine_batches,
                names,
                len(GROUPS),
                class_dim=case.class_dim,
                channels_last=channels_last,
                frame_maps=frame_maps,
            )
            assert_profiles_match(profiles, {name: reference[name] for name in names}, rtol=1e-5)
