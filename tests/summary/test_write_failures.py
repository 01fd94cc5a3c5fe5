"""A failed profile write never costs the training run (issue 25, point 1): a warning that names the file and the
reason, the next profiling tries again, and the history and the replay leave out what was not written."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import lightning as L
import numpy as np
import pytest

from lightning_gradnap import GradNAPCallback
from tests.helpers.callback import TinyFrameData, TinyFrameModel, trainer


class BlockProfilesFolder(L.Callback):
    """Replaces the run's ``profiles/`` folder by a plain file during one epoch's validation, then restores it."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.kept: Path | None = None

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        folder = Path(trainer.log_dir) / "profiles"
        if self.kept is not None:
            folder.unlink()
            shutil.move(self.kept, folder)
            self.kept = None
        if trainer.current_epoch == self.epoch and not trainer.sanity_checking:
            self.kept = folder.with_name("profiles-kept")
            shutil.move(folder, self.kept)
            folder.write_text("not a folder")


def test_unwritable_profiles_folder_warns_and_training_goes_on(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=2, num_clusters=2, feature_window=5)
    run = trainer(tmp_path, [BlockProfilesFolder(epoch=1), callback], max_epochs=3)
    with pytest.warns(UserWarning, match=r"could not write the profiles of step \d+ to .*profiles.*epoch=001"):
        run.fit(TinyFrameModel(), TinyFrameData())
    files = sorted(path.name for path in (Path(run.log_dir) / "profiles").glob("*.npz"))
    # the untrained network's and epoch 0's, epoch 1 lost, epoch 2 written
    assert [name.split("-")[0] for name in files] == ["epoch=000", "epoch=000", "epoch=002"]
    history = callback.history
    assert len(history["steps"]) == 4 and history["files"][2] == "" and all(history["files"][:2] + history["files"][3:])


def test_full_disk_warns_and_training_goes_on(tmp_path, monkeypatch) -> None:
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)  # what a full disk does to the write; nothing half-written stays
    callback = GradNAPCallback(labels="labels", max_batches=2, num_clusters=2, feature_window=5)
    run = trainer(tmp_path, [callback], max_epochs=2)
    with pytest.warns(UserWarning, match="No space left on device"):
        run.fit(TinyFrameModel(), TinyFrameData())
    assert list((Path(run.log_dir) / "profiles").iterdir()) == []
    assert callback.history["files"] == ["", "", ""]  # the untrained network's and both epochs'
