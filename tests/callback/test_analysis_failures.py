"""An error in the analysis or the views of one profiling becomes a warning that names the step; the file
is still written and ``fit`` goes on (issue 24, point 4)."""

from __future__ import annotations

import numpy as np
import pytest

from lightning_gradnap import GradNAPCallback, Profiles
from lightning_gradnap.analysis import profiling
from lightning_gradnap.summary import views
from tests.helpers.callback import LOW_RELIABILITY, TinyFrameData, TinyFrameModel, event_steps, trainer

pytestmark = LOW_RELIABILITY


def _fails_at_call(function, failing_call: int):
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == failing_call:
            raise RuntimeError("planted failure")
        return function(*args, **kwargs)

    return wrapped


def test_a_failing_analysis_keeps_the_file_and_the_fit(tmp_path, monkeypatch) -> None:
    # the second profiling (step 3; the first is the untrained network's, step 0) fails in its analysis
    monkeypatch.setattr(profiling, "analyze", _fails_at_call(profiling.analyze, 2))
    callback = GradNAPCallback(labels="labels", num_clusters=2, views=["scalars"])
    run = trainer(tmp_path, [callback], max_epochs=2)
    with pytest.warns(UserWarning, match=r"the analysis of the profiling at step 3 failed \(RuntimeError: planted"):
        run.fit(TinyFrameModel(), TinyFrameData())
    assert callback.history["steps"] == [0, 3, 6]
    files = sorted(tmp_path.glob("**/profiles/*.npz"))
    assert [path.name for path in files][1] == "epoch=000-step=000003.npz"
    failed = Profiles.load(files[1])
    assert failed["net.conv2"].counts.sum() > 0 and "scores" not in failed.metadata  # profiles, no scores
    neighbour = callback.metrics["net.conv2/neighbour"]
    assert np.isnan(neighbour[1]) and np.isfinite(neighbour[[0, 2]]).all()
    assert event_steps(run.logger.log_dir, "scalars", "gradnap/neighbour/01_net.conv2") == [0, 6]


@pytest.mark.parametrize("background", [True, False])
def test_a_failing_view_keeps_the_file_and_the_fit(tmp_path, monkeypatch, background: bool) -> None:
    monkeypatch.setattr(views, "write_tracked", _fails_at_call(views.write_tracked, 2))
    callback = GradNAPCallback(labels="labels", num_clusters=2, views=["profile"], background_figures=background)
    run = trainer(tmp_path, [callback], max_epochs=2)
    with pytest.warns(UserWarning, match=r"the profiling at step 3 failed \(RuntimeError: planted failure\)"):
        run.fit(TinyFrameModel(), TinyFrameData())
    names = sorted(path.name for path in tmp_path.glob("**/profiles/*.npz"))
    assert names == ["epoch=000-step=000000.npz", "epoch=000-step=000003.npz", "epoch=001-step=000006.npz"]
    assert callback.history["files"][1].endswith("epoch=000-step=000003.npz")
    assert event_steps(run.logger.log_dir, "images", "gradnap/profile/00_net.conv1") == [0, 6]
