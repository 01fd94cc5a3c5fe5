"""Resume after moving the run folder (issue 25, point 8): the history finds its files relative to the log
directory, so the stability at the resume and the replay of the old steps still come from them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from lightning_gradnap import GradNAPCallback
from tests.helpers.callback import TinyFrameData, TinyFrameModel, event_steps, trainer

pytestmark = pytest.mark.filterwarnings("ignore:GradNAPCallback. the profiles of .* split-half reliability")

VIEWS = ["profile", "profile_replay", "scalars"]


def test_resume_after_moving_the_run_folder(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    checkpoints = ModelCheckpoint(dirpath=before / "tb" / "version_0" / "ckpt", save_top_k=-1, every_n_epochs=1)
    first = GradNAPCallback(labels="labels", max_batches=1, views=VIEWS)
    torch.manual_seed(0)
    logger = TensorBoardLogger(str(before), name="tb", version=0)
    trainer(before, [first, checkpoints], logger=logger, max_epochs=2, enable_checkpointing=True).fit(
        TinyFrameModel(), TinyFrameData()
    )
    assert [Path(name).parent for name in first.history["files"]] == [before / "tb" / "version_0" / "profiles"] * 3
    shutil.move(before, after)

    resumed = GradNAPCallback(labels="labels", max_batches=1, views=VIEWS)
    logger = TensorBoardLogger(str(after), name="tb", version=0)
    checkpoints = ModelCheckpoint(dirpath=after / "tb" / "version_0" / "ckpt", save_top_k=-1, every_n_epochs=1)
    run = trainer(after, [resumed, checkpoints], logger=logger, max_epochs=4, enable_checkpointing=True)
    ckpt = after / "tb" / "version_0" / "ckpt" / "epoch=1-step=6.ckpt"
    run.fit(TinyFrameModel(), TinyFrameData(), ckpt_path=str(ckpt))
    assert np.isfinite(resumed.metrics["net.conv1/stability"][3])  # compared with step 6's file, found after the move
    replayed = event_steps(str(after / "tb" / "version_0"), "images", "gradnap/profile_replay/00_net.conv1")
    assert sorted(replayed) == [0, 0, 3, 3, 6, 6, 9, 12]  # each fit's replay: the resumed one has the old steps too
