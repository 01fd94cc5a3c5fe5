"""Ordinary but unusual inputs to the core: each gives a correct result or an error that says what to change."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from lightning_gradnap import GradNAPCallback, ProfileBatch, compute_profiles
from lightning_gradnap.engine.engine import ProfileEngine
from tests.helpers.callback import TinyFrameData, TinyFrameModel, trainer
from tests.helpers.frame_models import frame_batch, frame_model

pytestmark = pytest.mark.filterwarnings("ignore:.*groups have no frames")


def assert_equal_profiles(a, b) -> None:
    for layer in a.layer_names:
        np.testing.assert_array_equal(a[layer].counts, b[layer].counts)
        np.testing.assert_allclose(a[layer].means, b[layer].means, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32])
def test_labels_of_any_integer_dtype(dtype: torch.dtype) -> None:
    x, labels, lengths = frame_batch()
    expected = compute_profiles(frame_model(), [(x, labels, lengths)], ["conv"], 3)
    assert_equal_profiles(compute_profiles(frame_model(), [(x, labels.to(dtype), lengths)], ["conv"], 3), expected)


@pytest.mark.parametrize("kind", ["list", "numpy"])
def test_lengths_as_a_list_or_a_numpy_array(kind: str) -> None:
    x, labels, lengths = frame_batch()
    expected = compute_profiles(frame_model(), [(x, labels, lengths)], ["conv"], 3)
    given = lengths.tolist() if kind == "list" else lengths.numpy()
    assert_equal_profiles(compute_profiles(frame_model(), [(x, labels, given)], ["conv"], 3), expected)


@pytest.mark.parametrize("objective", ["predicted_logit", "predicted_logprob"])
@pytest.mark.parametrize("padding", [float("nan"), float("-inf")])
def test_nan_or_inf_only_in_padded_frames_keeps_the_batch(objective: str, padding: float) -> None:
    x, labels, lengths = frame_batch()
    padded = x.clone()
    padded[torch.arange(12)[None, None, :].expand_as(x) >= lengths[:, None, None]] = padding  # e.g. log(0)
    expected = compute_profiles(frame_model(), [(x, labels, lengths)], ["conv", "relu"], 3, objective=objective)
    engine = ProfileEngine(["conv", "relu"], 3, objective=objective)
    assert engine.run_batch(frame_model(), (padded, labels, lengths))  # not skipped
    assert_equal_profiles(engine.result(), expected)


class Diverged(TinyFrameModel):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * float("nan")


def test_every_batch_skipped_as_non_finite_says_so(tmp_path) -> None:
    x, labels, lengths = frame_batch()
    with (
        pytest.warns(RuntimeWarning, match="skipped a batch"),
        pytest.raises(ValueError, match=r"\(1 skipped as NaN or inf\)"),
    ):
        compute_profiles(frame_model().double().eval(), [(x.double() * float("nan"), labels, lengths)], ["conv"], 3)
    callback = GradNAPCallback(labels="labels", max_batches=2, views=[])
    with pytest.warns(
        UserWarning, match="all 2 profiled validation batches were skipped because their relevance was NaN"
    ):
        trainer(tmp_path, [callback], max_epochs=1).validate(Diverged(), TinyFrameData())


def test_feature_view_error_names_the_callback_option() -> None:
    x, labels, lengths = frame_batch()
    half = (0.5, 0.0)  # labels for every second input frame: the maps are given, the feature view cannot cut windows
    engine = ProfileEngine(["conv"], 3, input_window=3, frame_maps={"conv": half, "<output>": half})
    with pytest.raises(ValueError, match=r"input_window=None \(GradNAPCallback: leave 'features' out of `views`\)"):
        engine.run_batch(frame_model(), ProfileBatch(x, labels[:, ::2], None))


class AuxLossAndLogits(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = frame_model()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.body(x)
        return logits.pow(2).mean(), logits  # (aux_loss, logits)


def test_a_tuple_of_aux_loss_and_logits_profiles_the_logits() -> None:
    x, labels, lengths = frame_batch()
    model = AuxLossAndLogits().eval()
    expected = compute_profiles(model.body, [(x, labels, lengths)], ["conv"], 3)
    result = compute_profiles(model, [(x, labels, lengths)], ["body.conv"], 3)
    np.testing.assert_allclose(result["body.conv"].means, expected["conv"].means, rtol=1e-6)


def test_a_dict_output_under_another_key_works_through_output_transform() -> None:
    x, labels, lengths = frame_batch()

    class DictOutput(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = frame_model()

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"scores": self.body(x)}

    with pytest.raises(TypeError, match=r"with keys \['scores'\]: pass output_transform"):
        compute_profiles(DictOutput().eval(), [(x, labels, lengths)], ["body.conv"], 3)
    result = compute_profiles(
        DictOutput().eval(), [(x, labels, lengths)], ["body.conv"], 3, output_transform=lambda out: out["scores"]
    )
    assert np.isfinite(result["body.conv"].means).all()


class Checkpointed(nn.Module):
    def __init__(self, reentrant: bool) -> None:
        super().__init__()
        self.body = frame_model()
        self.reentrant = reentrant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return checkpoint(self.body, x, use_reentrant=self.reentrant)


def test_reentrant_activation_checkpointing_is_named_with_the_fix() -> None:
    x, labels, lengths = frame_batch()
    with pytest.raises(RuntimeError, match=r"use_reentrant=True does not give: use .*use_reentrant=False"):
        compute_profiles(Checkpointed(reentrant=True).eval(), [(x, labels, lengths)], ["body.conv"], 3)
    expected = compute_profiles(frame_model(), [(x, labels, lengths)], ["conv"], 3)
    result = compute_profiles(Checkpointed(reentrant=False).eval(), [(x, labels, lengths)], ["body.conv"], 3)
    np.testing.assert_allclose(result["body.conv"].means, expected["conv"].means, rtol=1e-6)
