"""Key and label mistakes show before training (at the sanity check, or on the first validation batch when there
is none), not at the first profiled validation batch after a whole epoch; negative labels are all "ignore", labels
are checked inside the valid frames only, and duplicate group names are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightning_gradnap import GradNAPCallback, Profiles
from tests.helpers.callback import CATEGORIES, GROUPS, TinyFrameData, TinyFrameModel, trainer


def fit(tmp_path, data: TinyFrameData, sanity_steps: int, **options):
    """Fit the tiny model with the callback; the Trainer (its ``global_step`` says whether training started)."""
    torch.manual_seed(0)
    run = trainer(tmp_path, [GradNAPCallback(max_batches=2, views=[], **options)], num_sanity_val_steps=sanity_steps)
    try:
        run.fit(TinyFrameModel(), data)
    finally:
        torch.set_grad_enabled(True)
    return run


def relabelled(change) -> TinyFrameData:
    """Data whose validation labels are ``change(labels, valid)`` (``valid``: the frames inside the lengths)."""
    data = TinyFrameData()
    for batch in data.val:
        valid = torch.arange(batch["labels"].shape[1])[None, :] < batch["feature_lengths"][:, None]
        batch["labels"] = change(batch["labels"], valid)
    return data


def last_profiles(tmp_path) -> Profiles:
    return Profiles.load(sorted(tmp_path.glob("**/profiles/*.npz"))[-1])


MISTAKES = {
    "a misspelled labels key": ({"labels": "label"}, KeyError, "no key 'label'"),
    "a misspelled inputs key": ({"labels": "labels", "inputs": "feature"}, KeyError, "no input key 'feature'"),
}


@pytest.mark.parametrize("sanity_steps", [2, 0])
@pytest.mark.parametrize("case", list(MISTAKES))
def test_a_key_mistake_is_raised_before_training(tmp_path, case: str, sanity_steps: int) -> None:
    options, error, message = MISTAKES[case]
    run = None
    with pytest.raises(error, match=message):
        run = trainer(
            tmp_path, [GradNAPCallback(max_batches=2, views=[], **options)], num_sanity_val_steps=sanity_steps
        )
        run.fit(TinyFrameModel(), TinyFrameData())
    assert run is not None and run.global_step == 0  # not one training step was spent


@pytest.mark.parametrize("sanity_steps", [2, 0])
def test_labels_at_or_above_num_groups_in_valid_frames_are_raised_before_training(tmp_path, sanity_steps) -> None:
    data = relabelled(
        lambda labels, valid: torch.where(valid, labels, -1).index_fill(1, torch.tensor([0]), len(GROUPS))
    )
    run = None
    with pytest.raises(ValueError, match=rf"labels range from .* to {len(GROUPS)}, but must lie in -1 \.\. 3"):
        run = trainer(
            tmp_path, [GradNAPCallback(labels="labels", max_batches=2, views=[])], num_sanity_val_steps=sanity_steps
        )
        run.fit(TinyFrameModel(), data)
    assert run is not None and run.global_step == 0


def test_labels_of_minus_100_and_out_of_range_padding_are_ignored(tmp_path) -> None:
    # three groups: label 3 is out of their range, yet the model's own loss (four classes) takes it
    three = {"labels": "labels", "group_names": GROUPS[:3], "group_categories": CATEGORIES[:3]}
    fit(tmp_path / "reference", relabelled(lambda labels, valid: torch.where(valid, labels % 3, -1)), 2, **three)
    fit(tmp_path / "minus_100", relabelled(lambda labels, valid: torch.where(valid, labels % 3, -100)), 2, **three)
    fit(tmp_path / "padding", relabelled(lambda labels, valid: torch.where(valid, labels % 3, 3)), 0, **three)
    reference = last_profiles(tmp_path / "reference")
    assert reference.num_groups == 3 and all(reference[layer].counts.sum() > 0 for layer in reference.layer_names)
    for other in ("minus_100", "padding"):
        profiles = last_profiles(tmp_path / other)
        for layer in reference.layer_names:
            np.testing.assert_array_equal(profiles[layer].counts, reference[layer].counts)
            np.testing.assert_allclose(profiles[layer].means, reference[layer].means, rtol=1e-6, atol=1e-9)


def test_duplicate_group_names_are_refused(tmp_path) -> None:
    names = ["aa", "iy", "p", "aa"]
    with pytest.raises(ValueError, match=r"group names must differ: 'aa' is given 2 times"):
        fit(tmp_path, TinyFrameData(), 0, labels="labels", group_names=names)
