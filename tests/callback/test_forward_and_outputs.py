"""Which forward the callback profiles, and how it finds the scores: batch-first models
(``channels_last``, ``class_dim``), a LightningModule without ``forward``, dict outputs and
``output_transform`` given by its dotted path."""

from __future__ import annotations

import warnings

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from lightning_gradnap import GradNAPCallback, ProfileBatch, Profiles, compute_profiles
from tests.helpers.callback import (
    GROUPS,
    LOW_RELIABILITY,
    LossSteps,
    TinyFrameData,
    TinyFrameModel,
    event_steps,
    frame_batches,
    trainer,
)
from tests.helpers.views import view_warnings

pytestmark = [
    LOW_RELIABILITY,
    # resumed runs write their checkpoints to one folder
    pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty:UserWarning"),
    # a setting that never profiles
    pytest.mark.filterwarnings("ignore:You passed in a `val_dataloader` but have no `validation_step`:UserWarning"),
]


# ---------------------------------------------------------------- batch-first models
class BatchFirstTagger(LossSteps, L.LightningModule):
    """Linear + GRU over [B, T, 3] features; scores [B, T, K]."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3, 6)
        self.gru = nn.GRU(6, 5, batch_first=True)
        self.head = nn.Linear(5, len(GROUPS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.gru(torch.tanh(self.embed(x)))
        return self.head(hidden)

    def _loss(self, batch) -> torch.Tensor:
        return F.cross_entropy(self(batch["features"]).transpose(1, 2), batch["labels"], ignore_index=-1)


def batch_first(batches: list[dict]) -> list[dict]:
    return [{**batch, "features": batch["features"].transpose(1, 2).contiguous()} for batch in batches]


@pytest.mark.parametrize("window", [None, 3], ids=["frames", "time_resolved"])
def test_a_batch_first_gru_equals_compute_profiles(window, tmp_path) -> None:
    train, val = batch_first(frame_batches(3, seed=1)), batch_first(frame_batches(2, seed=2))
    callback = GradNAPCallback(
        layers=["embed", "gru"],
        labels="labels",
        group_names=GROUPS,
        channels_last=True,
        class_dim=2,
        window=window,
        window_center="salient",
        views=["profile", "groups_2d"],
        max_batches=2,
    )
    torch.manual_seed(0)
    model = BatchFirstTagger()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = trainer(tmp_path, [callback], max_epochs=1)
        run.fit(model, DataLoader(train, batch_size=None), DataLoader(val, batch_size=None))
    assert view_warnings(caught) == []  # the heatmap of a time-resolved profile orders its channels
    assert event_steps(run.logger.log_dir, "images", "gradnap/profile/01_gru") == [0, 3]
    saved = Profiles.load(sorted(tmp_path.glob("**/profiles/*.npz"))[-1])
    expected = compute_profiles(
        model.eval(),
        [ProfileBatch(b["features"], b["labels"], b["feature_lengths"]) for b in val],
        ["embed", "gru"],
        len(GROUPS),
        channels_last=True,
        class_dim=2,
        window=window,
        window_center="salient",
    )
    for layer, channels in (("embed", 6), ("gru", 5)):
        assert saved[layer].profile.shape == (4, channels) + ((3,) if window else ())
        np.testing.assert_allclose(saved[layer].means, expected[layer].means, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(saved[layer].counts, expected[layer].counts)


def test_output_transform_path_that_cannot_be_imported_says_what_to_give() -> None:
    with pytest.raises(
        ValueError, match=r"`output_transform`='nowhere.scores': no module of that path can be imported"
    ):
        GradNAPCallback(output_transform="nowhere.scores")
    with pytest.raises(
        ValueError, match=r"module 'tests' \(the longest part that imports\) has no callable 'nowhere.scores'"
    ):
        GradNAPCallback(output_transform="tests.nowhere.scores")
    with pytest.raises(
        ValueError, match=r"module 'tests.callback.test_forward_and_outputs' .* has no callable 'nothing'"
    ):
        GradNAPCallback(output_transform="tests.callback.test_forward_and_outputs.nothing")
    with pytest.raises(ValueError, match="should be a callable or its dotted path"):
        GradNAPCallback(output_transform="scores")


# ---------------------------------------------------------------- no forward; dict outputs
class ScoresNet(nn.Module):
    def __init__(self, dict_output: bool) -> None:
        super().__init__()
        self.net = TinyFrameModel().net
        self.dict_output = dict_output

    def forward(self, x: torch.Tensor):
        scores = self.net(x)
        return {"scores": scores, "hidden": x} if self.dict_output else scores


def scores_of(output: dict) -> torch.Tensor:
    """Picks the scores of :class:`ScoresNet` (an ``output_transform`` given by its dotted path)."""
    return output["scores"]


class NoForward(LossSteps, L.LightningModule):
    """A LightningModule without forward: its steps call ``self.model``."""

    def __init__(self, dict_output: bool = False) -> None:
        super().__init__()
        self.model = ScoresNet(dict_output)

    def _loss(self, batch) -> torch.Tensor:
        output = self.model(batch["features"])
        scores = output["scores"] if isinstance(output, dict) else output
        return F.cross_entropy(scores, batch["labels"][:, ::2].clamp(min=0))


@pytest.mark.parametrize("dict_output", [False, True], ids=["tensor_output", "dict_output_with_output_transform"])
def test_a_module_without_forward_is_profiled_through_the_model_its_steps_call(dict_output, tmp_path) -> None:
    callback = GradNAPCallback(
        layers=["model.net.conv1", "model.net.conv2"],
        labels="labels",
        max_batches=2,
        views=["profile"],
        output_transform="tests.callback.test_forward_and_outputs.scores_of" if dict_output else None,
    )
    torch.manual_seed(0)
    module, data = NoForward(dict_output), TinyFrameData()
    trainer(tmp_path, [callback], max_epochs=1).fit(module, data)
    saved = Profiles.load(next(tmp_path.glob("**/profiles/*.npz")))
    batches = [ProfileBatch(b["features"], b["labels"], b["feature_lengths"]) for b in data.val[:2]]
    expected = compute_profiles(
        module.model.eval(), batches, ["net.conv1", "net.conv2"], 4, output_transform=scores_of if dict_output else None
    )
    for layer in ("conv1", "conv2"):
        np.testing.assert_allclose(
            saved[f"model.net.{layer}"].means, expected[f"net.{layer}"].means, rtol=1e-6, atol=1e-9
        )


def test_a_dict_output_without_output_transform_says_to_give_one(tmp_path) -> None:
    callback = GradNAPCallback(layers=["model.net.conv1"], labels="labels", max_batches=1, views=[])
    with pytest.raises(TypeError, match="cannot find the scores in a model output of type dict.*output_transform"):
        trainer(tmp_path, [callback], max_epochs=1).fit(NoForward(dict_output=True), TinyFrameData())


class TwoParts(NoForward):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Conv1d(len(GROUPS), len(GROUPS), 1)


def test_a_module_without_forward_whose_layers_lie_in_two_submodules_is_told_what_to_add(tmp_path) -> None:
    callback = GradNAPCallback(layers=["model.net.conv1", "head"], labels="labels")
    with pytest.raises(ValueError, match=r"TwoParts has no forward\(\).*\['model', 'head'\].*def forward\(self, x\)"):
        trainer(tmp_path, [callback], max_epochs=1).fit(TwoParts(), TinyFrameData())
