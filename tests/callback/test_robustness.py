"""Robustness, round two (issue 12), callback side: each case gives a correct result or an error
that says what to change."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from lightning_gradnap import (
    FeatureViews,
    GradNAPCallback,
    LayerProfile,
    ProfileBatch,
    Profiles,
    analyze,
    compute_profiles,
)
from lightning_gradnap.figures import plots
from lightning_gradnap.profiles.result import normalize_profiles
from lightning_gradnap.summary.step_views import VIEWS
from lightning_gradnap.summary.views import write_views
from tests.helpers.callback import (
    CATEGORIES,
    GROUPS,
    LOW_RELIABILITY,
    LossSteps,
    TinyFrameData,
    TinyFrameModel,
    event_steps,
    frame_batches,
    trainer,
)

pytestmark = [
    LOW_RELIABILITY,
    # resumed runs write their checkpoints to one folder
    pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty:UserWarning"),
    # a setting that never profiles
    pytest.mark.filterwarnings("ignore:You passed in a `val_dataloader` but have no `validation_step`:UserWarning"),
]


def profile_names(tmp_path: Path) -> list[str]:
    return sorted(path.name for path in tmp_path.glob("**/profiles/*.npz"))


def view_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "view of" in str(w.message)]


# ---------------------------------------------------------------- 1. grad mode after an error
class FailsInValidation(TinyFrameModel):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            raise RuntimeError("forward failed in validation")
        return super().forward(x)


def test_an_error_in_a_profiled_forward_leaves_grad_mode_on(tmp_path) -> None:
    model = FailsInValidation()
    callback = GradNAPCallback(labels="labels", max_batches=1, views=[])
    try:
        with pytest.raises(RuntimeError, match="forward failed in validation"):
            trainer(tmp_path, [callback], max_epochs=1, num_sanity_val_steps=0).fit(model, TinyFrameData())
        assert torch.is_grad_enabled()
        weight = torch.ones(3, requires_grad=True)
        (weight * 2).sum().backward()  # a later backward works
        assert torch.equal(weight.grad, torch.full((3,), 2.0))
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    finally:
        torch.set_grad_enabled(True)  # never leave it off for the other tests


# ---------------------------------------------------------------- 2. one channel, one or two groups
def small_profiles(channels: int, present: int) -> tuple[Profiles, FeatureViews]:
    rng = np.random.default_rng(0)
    counts = np.zeros(len(GROUPS))
    counts[:present] = 5
    layers = {}
    for name in ("a", "b"):
        means = rng.normal(size=(len(GROUPS), channels))
        means[counts == 0] = np.nan
        layers[name] = LayerProfile(normalize_profiles(means, counts), means, counts)
    features = FeatureViews(rng.normal(size=(4, 3, 5)), rng.normal(size=(4, 3, 5)), counts, rng.normal(size=(3, 5)))
    return Profiles(layers, GROUPS, CATEGORIES, {"method": "gradnap"}), features


@pytest.mark.parametrize("embedding", ["pca", "tsne"])
@pytest.mark.parametrize(
    "channels, present", [(1, 4), (8, 1), (8, 2)], ids=["one_channel", "one_present_group", "two_present_groups"]
)
def test_every_view_copes_with_one_channel_one_or_two_groups(channels, present, embedding, tmp_path) -> None:
    profiles, features = small_profiles(channels, present)
    writer = SummaryWriter(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_views(writer, profiles, analyze(profiles, 3), 7, 0, VIEWS, features, embedding=embedding)
    writer.close()
    assert view_warnings(caught) == []
    for layer in ("00_a", "01_b"):
        assert event_steps(str(tmp_path), "images", f"gradnap/profile/{layer}") == [7]
        assert event_steps(str(tmp_path), "images", f"gradnap/profile_clustered/{layer}") == [7]
        drawn = [7] if present >= 2 else []  # a tree and a map need two groups
        assert event_steps(str(tmp_path), "images", f"gradnap/dendrogram/{layer}") == drawn
        assert event_steps(str(tmp_path), "images", f"gradnap/groups_2d/{layer}") == drawn
    assert event_steps(str(tmp_path), "images", "gradnap/agreement/layers") == [7]
    assert event_steps(str(tmp_path), "images", "gradnap/features/input") == [7]


class OneChannelLayer(TinyFrameModel):
    def __init__(self) -> None:
        super().__init__()
        self.net.conv2 = nn.Conv1d(8, 1, 3, stride=2, padding=1)
        self.net.out = nn.Conv1d(1, len(GROUPS), 1)


def test_a_one_channel_layer_does_not_crash_fit(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=2, feature_window=5)  # every view, drawn in the background
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = trainer(tmp_path, [callback])
        run.fit(OneChannelLayer(), TinyFrameData())
    assert view_warnings(caught) == []
    for view in ("profile", "dendrogram", "groups_2d"):
        assert event_steps(run.logger.log_dir, "images", f"gradnap/{view}/01_net.conv2") == [3, 6]


def test_a_failing_view_is_a_warning_naming_it_and_the_other_views_are_logged(tmp_path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise ValueError("cannot draw this")

    monkeypatch.setattr(plots, "groups_2d_figure", broken)
    callback = GradNAPCallback(labels="labels", max_batches=2, views=["profile", "groups_2d", "scalars"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = trainer(tmp_path, [callback])
        run.fit(TinyFrameModel(), TinyFrameData())  # figures in the background thread
    failed = view_warnings(caught)
    assert any(
        "'groups_2d' view of layer 'net.conv2' failed at step 6" in m and "cannot draw this" in m for m in failed
    )
    assert event_steps(run.logger.log_dir, "images", "gradnap/profile/01_net.conv2") == [3, 6]
    assert event_steps(run.logger.log_dir, "scalars", "gradnap/stability/01_net.conv2") == [6]
    assert event_steps(run.logger.log_dir, "images", "gradnap/groups_2d/01_net.conv2") == []


# ---------------------------------------------------------------- 3. batch-first models
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
    assert event_steps(run.logger.log_dir, "images", "gradnap/profile/01_gru") == [3]
    saved = Profiles.load(next(tmp_path.glob("**/profiles/*.npz")))
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
    with pytest.raises(ValueError, match=r"module 'tests.callback.test_robustness' .* has no callable 'nothing'"):
        GradNAPCallback(output_transform="tests.callback.test_robustness.nothing")
    with pytest.raises(ValueError, match="should be a callable or its dotted path"):
        GradNAPCallback(output_transform="scores")


# ---------------------------------------------------------------- 4. validate() after fit, or twice
def test_validate_after_fit_and_again_profiles_under_names_of_its_own(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=1, views=["profile"])
    torch.manual_seed(0)
    model, data = TinyFrameModel(), TinyFrameData()
    run = trainer(tmp_path, [callback])
    run.fit(model, data)
    other = TinyFrameData()
    other.val = frame_batches(2, seed=7)  # other data, the same step
    run.validate(model, other)
    run.validate(model, other)
    names = profile_names(tmp_path)
    assert names[:2] == ["epoch=000-step=000003.npz", "epoch=001-step=000006.npz"]
    assert [name.split("-", 2)[-1] for name in names[2:]] == ["validate-1.npz", "validate-2.npz"]
    log_dir = run.logger.log_dir
    assert event_steps(log_dir, "images", "gradnap/profile/00_net.conv1") == [3, 6]
    assert event_steps(log_dir, "images", "gradnap-validate-1/profile/00_net.conv1") == [6]
    assert event_steps(log_dir, "images", "gradnap-validate-2/profile/00_net.conv1") == [6]
    assert callback.history["steps"] == [3, 6]  # fit's history only
    repeat = Profiles.load(next(tmp_path.glob("**/profiles/*validate-1.npz")))
    first = other.val[0]
    expected = compute_profiles(
        model.eval(), [(first["features"], first["labels"], first["feature_lengths"])], ["net.conv1", "net.conv2"], 4
    )
    np.testing.assert_allclose(repeat["net.conv2"].means, expected["net.conv2"].means, rtol=1e-6, atol=1e-9)


def test_a_resumed_fit_skips_only_the_steps_its_checkpoint_profiled(tmp_path) -> None:
    first = GradNAPCallback(labels="labels", max_batches=1, views=[])
    trainer(tmp_path / "first", [first], max_epochs=1).fit(TinyFrameModel(), TinyFrameData())
    resumed = GradNAPCallback(labels="labels", max_batches=1, views=[])
    resumed.load_state_dict(first.state_dict())  # as a resumed fit does, with step 3 profiled
    trainer(tmp_path / "resumed", [resumed], max_epochs=2).fit(TinyFrameModel(), TinyFrameData())
    assert resumed.history["steps"] == [3, 6]
    assert profile_names(tmp_path / "resumed") == ["epoch=001-step=000006.npz"]


# ---------------------------------------------------------------- 6. no forward; dict outputs
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
        output_transform="tests.callback.test_robustness.scores_of" if dict_output else None,
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


# ---------------------------------------------------------------- 7. resume with other layers
def test_resume_with_other_layers_keeps_the_history_of_the_layers_still_profiled(tmp_path) -> None:
    logger = TensorBoardLogger(str(tmp_path), name="tb", version=0)
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    first = GradNAPCallback(layers=["net.conv1", "net.conv2"], labels="labels", max_batches=1, views=["scalars"])
    torch.manual_seed(0)
    trainer(tmp_path, [first, checkpoints], logger=logger, enable_checkpointing=True).fit(
        TinyFrameModel(), TinyFrameData()
    )
    resumed = GradNAPCallback(layers=["net.conv2", "net.out"], labels="labels", max_batches=1, views=["scalars"])
    run = trainer(
        tmp_path,
        [resumed, checkpoints],
        logger=TensorBoardLogger(str(tmp_path), name="tb", version=0),
        max_epochs=4,
        enable_checkpointing=True,
    )
    with pytest.warns(
        UserWarning, match=r"Dropped the history of \['net.conv1'\].*history starts now for \['net.out'\]"
    ):
        run.fit(TinyFrameModel(), TinyFrameData(), ckpt_path=str(tmp_path / "ckpt" / "epoch=1-step=6.ckpt"))
    assert resumed.history["steps"] == [3, 6, 9, 12]
    assert not any(name.startswith("net.conv1/") for name in resumed.metrics)
    stability = resumed.metrics["net.conv2/stability"]
    assert (
        len(stability) == 4 and np.isnan(stability[0]) and np.isfinite(stability[1:]).all()
    )  # compared across the resume
    assert len(resumed.metrics["net.out/ami"]) == 4 and np.isnan(resumed.metrics["net.out/stability"][:3]).all()


# ---------------------------------------------------------------- 8. every_n_epochs
def test_every_n_epochs_counts_validation_runs_not_training_epochs(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=1, every_n_epochs=2, views=[])
    trainer(tmp_path, [callback], max_epochs=4, check_val_every_n_epoch=2).fit(TinyFrameModel(), TinyFrameData())
    assert callback.history["epochs"] == [3]  # validations after epochs 1 and 3: the second is profiled


class NoValidationStep(TinyFrameModel):
    validation_step = L.LightningModule.validation_step


@pytest.mark.parametrize(
    "settings, model, message",
    [
        (
            dict(max_epochs=4, check_val_every_n_epoch=2),
            TinyFrameModel,
            "every_n_epochs=3 counts validation runs, and this fit makes at most 2",
        ),
        (dict(limit_val_batches=0), TinyFrameModel, "limit_val_batches=0 runs no validation"),
        (dict(), NoValidationStep, "NoValidationStep has no validation_step"),
    ],
    ids=["every_n_epochs_beyond_the_validations", "limit_val_batches_0", "no_validation_step"],
)
def test_settings_that_never_profile_warn_at_setup(settings, model, message, tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=1, every_n_epochs=3, views=[])
    with pytest.warns(UserWarning, match=f"GradNAPCallback will profile nothing in this fit: {message}"):
        trainer(tmp_path, [callback], **settings).fit(model(), TinyFrameData())
    assert callback.history["steps"] == []


def test_a_fit_that_profiles_gives_no_never_profiles_warning(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=1, every_n_epochs=2, views=[])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer(tmp_path, [callback], max_epochs=2).fit(TinyFrameModel(), TinyFrameData())
    assert not [w for w in caught if "profile nothing" in str(w.message)]
    assert callback.history["epochs"] == [1]


# ---------------------------------------------------------------- 9. .npz files that are not profiles
def test_a_npy_file_is_refused_at_load(tmp_path) -> None:
    np.save(tmp_path / "profile.npy", np.zeros((4, 8)))
    with pytest.raises(ValueError, match=r"profile.npy' holds a single array \(a .npy file\), not a profile file"):
        Profiles.load(tmp_path / "profile.npy")


def saved_arrays(tmp_path: Path) -> dict[str, np.ndarray]:
    profiles, _ = small_profiles(8, 4)
    with np.load(profiles.save(tmp_path / "good.npz")) as data:
        return dict(data)


def test_a_non_numeric_format_version_is_refused_at_load(tmp_path) -> None:
    np.savez(tmp_path / "bad.npz", **{**saved_arrays(tmp_path), "format_version": np.array("one")})
    with pytest.raises(
        ValueError, match="bad.npz' is not a readable profile file.*format_version should be one integer"
    ):
        Profiles.load(tmp_path / "bad.npz")


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"group_names": np.array(GROUPS[:3]), "group_categories": np.array(CATEGORIES[:3])},
            r"layer 'a': profile of shape \(4, 8\), expected \[3, channels\]",
        ),
        ({"counts_0": np.ones(3)}, r"layer 'a': \(3,\) counts, expected one per group \(4,\)"),
        ({"means_1": np.zeros((4, 5))}, r"layer 'b': means of shape \(4, 5\), its profile \(4, 8\)"),
        ({"group_categories": np.array(CATEGORIES[:2])}, "2 group categories for 4 group names"),
    ],
    ids=[
        "group_names_shorter_than_the_profile",
        "counts_of_the_wrong_length",
        "means_of_another_shape",
        "categories_of_the_wrong_length",
    ],
)
def test_an_inconsistent_file_is_refused_at_load(change, message, tmp_path) -> None:
    np.savez(tmp_path / "bad.npz", **{**saved_arrays(tmp_path), **change})
    with pytest.raises(ValueError, match=message):
        Profiles.load(tmp_path / "bad.npz")
