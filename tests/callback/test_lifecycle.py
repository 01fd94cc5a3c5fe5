"""The callback over a fit's life: an error in a profiled forward, validate() after fit or twice,
resuming from a checkpoint (with the same or other layers). Each case gives a correct result or an
error that says what to change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from lightning_gradnap import GradNAPCallback, Profiles, compute_profiles
from tests.helpers.callback import LOW_RELIABILITY, TinyFrameData, TinyFrameModel, event_steps, frame_batches, trainer

pytestmark = [
    LOW_RELIABILITY,
    # resumed runs write their checkpoints to one folder
    pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty:UserWarning"),
    # a setting that never profiles
    pytest.mark.filterwarnings("ignore:You passed in a `val_dataloader` but have no `validation_step`:UserWarning"),
]


def profile_names(tmp_path: Path) -> list[str]:
    return sorted(path.name for path in tmp_path.glob("**/profiles/*.npz"))


# ---------------------------------------------------------------- grad mode after an error
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


# ---------------------------------------------------------------- validate() after fit, or twice
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
    assert names[:3] == ["epoch=000-step=000000.npz", "epoch=000-step=000003.npz", "epoch=001-step=000006.npz"]
    assert [name.split("-", 2)[-1] for name in names[3:]] == ["validate-1.npz", "validate-2.npz"]
    log_dir = run.logger.log_dir
    assert event_steps(log_dir, "images", "gradnap/profile/00_net.conv1") == [0, 3, 6]
    assert event_steps(log_dir, "images", "gradnap-validate-1/profile/00_net.conv1") == [6]
    assert event_steps(log_dir, "images", "gradnap-validate-2/profile/00_net.conv1") == [6]
    assert callback.history["steps"] == [0, 3, 6]  # fit's history only (0: the untrained network)
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
    resumed.load_state_dict(first.state_dict())  # as a resumed fit does, with steps 0 (init) and 3 profiled
    trainer(tmp_path / "resumed", [resumed], max_epochs=2).fit(TinyFrameModel(), TinyFrameData())
    assert resumed.history["steps"] == [0, 3, 6]
    assert profile_names(tmp_path / "resumed") == ["epoch=001-step=000006.npz"]


# ---------------------------------------------------------------- resume with other layers
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
    assert resumed.history["steps"] == [0, 3, 6, 9, 12]
    assert not any(name.startswith("net.conv1/") for name in resumed.metrics)
    stability = resumed.metrics["net.conv2/stability"]
    assert (
        len(stability) == 5 and np.isnan(stability[0]) and np.isfinite(stability[1:]).all()
    )  # compared across the resume
    assert len(resumed.metrics["net.out/ami"]) == 5 and np.isnan(resumed.metrics["net.out/stability"][:4]).all()
