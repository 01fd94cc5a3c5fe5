"""One callback instance reused for a second Trainer (a notebook cell run twice; issue 25, point 4): the new fit
starts a fresh history, so its files are not named as repeats and its replay shows only its own steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_gradnap import GradNAPCallback
from tests.helpers.callback import TinyFrameData, TinyFrameModel, event_steps, trainer

pytestmark = pytest.mark.filterwarnings("ignore:GradNAPCallback. the profiles of .* split-half reliability")


def test_second_trainer_starts_a_fresh_history(tmp_path: Path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=1, views=["profile", "profile_replay", "scalars"])
    first = trainer(tmp_path / "one", [callback], max_epochs=3)
    first.fit(TinyFrameModel(), TinyFrameData())
    assert callback.history["steps"] == [0, 3, 6, 9]
    second = trainer(tmp_path / "two", [callback], max_epochs=2)
    second.fit(TinyFrameModel(), TinyFrameData())
    assert callback.history["steps"] == [0, 3, 6]  # run 2's steps only (and its own untrained network), not run 1's
    files = sorted(path.name for path in (Path(second.log_dir) / "profiles").glob("*.npz"))
    assert files == ["epoch=000-step=000000.npz", "epoch=000-step=000003.npz", "epoch=001-step=000006.npz"]
    replayed = event_steps(second.log_dir, "images", "gradnap/profile_replay/00_net.conv1")
    assert sorted(replayed) == [0, 3, 6]  # no step 9 of run 1


def test_second_fit_of_the_same_trainer_continues_the_history(tmp_path: Path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=1, views=["scalars"])
    run = trainer(tmp_path, [callback], max_epochs=1)
    model, data = TinyFrameModel(), TinyFrameData()
    run.fit(model, data)
    run.fit_loop.max_epochs = 2
    run.fit(model, data)
    assert callback.history["steps"] == [0, 3, 6]  # one untrained-network profiling, at the first fit
