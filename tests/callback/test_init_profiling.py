"""The untrained-network baseline (issue 24, point 2): a profiling before the first training step, each
score's ``_init`` beside ``_chance`` and ``_input`` in the files and the scalars, kept across a resume,
and no effect on the training it watches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from lightning_gradnap import GradNAPCallback, Profiles
from tests.helpers.callback import LOW_RELIABILITY, TinyFrameData, TinyFrameModel, read_events, trainer

pytestmark = [
    LOW_RELIABILITY,
    pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty:UserWarning"),
]


def _files(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("**/profiles/*.npz"))


def _scores(path: Path, layer: str = "net.conv2") -> dict:
    return Profiles.load(path).metadata["scores"]["gradnap"][layer]


class FirstStepState(Callback):
    """What the training sees at its first step: the RNG state and every module's mode."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx == 0 and trainer.current_epoch == 0:
            self.rng = torch.get_rng_state().clone()
            self.modes = [m.training for m in pl_module.modules()]


def test_init_profiling_at_step_zero_is_every_later_scores_init(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", num_clusters=2, views=["scalars"])
    torch.manual_seed(0)
    run = trainer(tmp_path, [callback], max_epochs=2)
    run.fit(TinyFrameModel(), TinyFrameData())
    files = _files(tmp_path)
    assert [path.name for path in files] == [
        "epoch=000-step=000000.npz",  # the untrained network
        "epoch=000-step=000003.npz",
        "epoch=001-step=000006.npz",
    ]
    assert callback.history["steps"] == [0, 3, 6] and callback.history["init"]["step"] == 0
    init = _scores(files[0])
    assert np.isfinite(init["neighbour"]) and init["neighbour_init"] == init["neighbour"]
    for path in files[1:]:
        later = _scores(path)
        for name in ("silhouette", "neighbour"):
            assert later[f"{name}_init"] == init[name], (path.name, name)
    events = read_events(run.logger.log_dir)
    line = [(e.step, e.value) for e in events.Scalars("gradnap/neighbour_init/01_net.conv2")]
    assert [step for step, _ in line] == [0, 3, 6]
    np.testing.assert_allclose([value for _, value in line], init["neighbour"], rtol=1e-6)
    assert len(callback.metrics["net.conv2/neighbour"]) == 3  # the emergence maps' column at step 0


def test_init_profiling_changes_nothing_the_training_sees(tmp_path) -> None:
    states = {}
    for profile_init in (True, False):
        watcher = FirstStepState()
        callback = GradNAPCallback(labels="labels", num_clusters=2, views=[], profile_init=profile_init)
        torch.manual_seed(0)
        model = TinyFrameModel()
        trainer(tmp_path / str(profile_init), [callback, watcher], max_epochs=1, num_sanity_val_steps=0).fit(
            model, TinyFrameData()
        )
        states[profile_init] = (watcher.rng, watcher.modes, [p.detach().clone() for p in model.parameters()])
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    (rng, modes, weights), (rng_off, modes_off, weights_off) = states[True], states[False]
    assert torch.equal(rng, rng_off) and modes == modes_off and all(modes)
    for weight, weight_off in zip(weights, weights_off, strict=True):
        assert torch.equal(weight, weight_off)
    assert len(_files(tmp_path / "True")) == 2 and len(_files(tmp_path / "False")) == 1


def test_a_resumed_run_keeps_its_init_and_does_not_profile_it_again(tmp_path) -> None:
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    first = GradNAPCallback(labels="labels", num_clusters=2, views=["scalars"])
    torch.manual_seed(0)
    logger = TensorBoardLogger(str(tmp_path), name="tb", version=0)
    trainer(tmp_path, [first, checkpoints], logger=logger, max_epochs=1, enable_checkpointing=True).fit(
        TinyFrameModel(), TinyFrameData()
    )
    init = _scores(_files(tmp_path)[0])
    resumed = GradNAPCallback(labels="labels", num_clusters=2, views=["scalars"])
    logger = TensorBoardLogger(str(tmp_path), name="tb", version=0)
    trainer(tmp_path, [resumed, checkpoints], logger=logger, max_epochs=2, enable_checkpointing=True).fit(
        TinyFrameModel(), TinyFrameData(), ckpt_path=str(tmp_path / "ckpt" / "epoch=0-step=3.ckpt")
    )
    names = [path.name for path in _files(tmp_path)]
    assert names == ["epoch=000-step=000000.npz", "epoch=000-step=000003.npz", "epoch=001-step=000006.npz"]
    assert resumed.history["steps"] == [0, 3, 6] and resumed.history["init"]["step"] == 0
    assert _scores(_files(tmp_path)[-1])["neighbour_init"] == init["neighbour"]


def test_a_checkpoint_without_init_gets_one_at_the_start_of_the_resumed_fit(tmp_path) -> None:
    """A checkpoint from before the init profiling (or with it off): the resumed fit profiles the weights it
    resumes with, in a file of its own (its step has one already), and reads every later score against it."""
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    first = GradNAPCallback(labels="labels", num_clusters=2, views=[], profile_init=False)
    logger = TensorBoardLogger(str(tmp_path), name="tb", version=0)
    trainer(tmp_path, [first, checkpoints], logger=logger, max_epochs=1, enable_checkpointing=True).fit(
        TinyFrameModel(), TinyFrameData()
    )
    assert "init" not in first.history
    resumed = GradNAPCallback(labels="labels", num_clusters=2, views=[])
    logger = TensorBoardLogger(str(tmp_path), name="tb", version=0)
    trainer(tmp_path, [resumed, checkpoints], logger=logger, max_epochs=2, enable_checkpointing=True).fit(
        TinyFrameModel(), TinyFrameData(), ckpt_path=str(tmp_path / "ckpt" / "epoch=0-step=3.ckpt")
    )
    files = _files(tmp_path)
    assert [path.name for path in files] == [
        "epoch=000-step=000003.npz",
        "epoch=001-step=000003-init.npz",
        "epoch=001-step=000006.npz",
    ]
    assert resumed.history["init"]["step"] == 3 and resumed.history["steps"] == [3, 6]
    assert _scores(files[-1])["neighbour_init"] == _scores(files[1])["neighbour"]
