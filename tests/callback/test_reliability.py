"""Resume without lost or doubled profiling steps; mixed precision close to float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from lightning_gradnap import GradNAPCallback, Profiles
from tests.helpers.callback import LOW_RELIABILITY, TinyFrameData, TinyFrameModel, trainer

pytestmark = [
    LOW_RELIABILITY,
    # resumed runs write their checkpoints to one folder
    pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty:UserWarning"),
    # 16-mixed on CPU runs as bf16-mixed
    pytest.mark.filterwarnings("ignore:.*AMP with fp16 is not supported on CPU:UserWarning"),
]


def test_resume_continues_the_history_without_lost_or_doubled_steps(tmp_path: Path) -> None:
    logger = TensorBoardLogger(str(tmp_path), name="tb", version=0)
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    first = GradNAPCallback(labels="labels", max_batches=1, views=["profile", "scalars"])
    torch.manual_seed(0)
    trainer(tmp_path, [first, checkpoints], logger=logger, max_epochs=2, enable_checkpointing=True).fit(
        TinyFrameModel(), TinyFrameData()
    )
    assert first.history["steps"] == [0, 3, 6]  # 0: the untrained network

    resumed = GradNAPCallback(labels="labels", max_batches=1, views=["profile", "scalars"])
    logger = TensorBoardLogger(str(tmp_path), name="tb", version=0)
    run = trainer(tmp_path, [resumed, checkpoints], logger=logger, max_epochs=4, enable_checkpointing=True)
    run.fit(TinyFrameModel(), TinyFrameData(), ckpt_path=str(tmp_path / "ckpt" / "epoch=1-step=6.ckpt"))
    assert resumed.history["steps"] == [0, 3, 6, 9, 12] and resumed.history["epochs"] == [0, 0, 1, 2, 3]
    assert len(resumed.metrics["net.conv1/silhouette"]) == 5
    files = sorted((tmp_path / "tb" / "version_0" / "profiles").glob("*.npz"))
    assert [f.name for f in files] == [
        "epoch=000-step=000000.npz",
        "epoch=000-step=000003.npz",
        "epoch=001-step=000006.npz",
        "epoch=002-step=000009.npz",
        "epoch=003-step=000012.npz",
    ]
    steps = []
    for events_file in sorted((tmp_path / "tb" / "version_0").glob("events.out.tfevents.*")):
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(events_file), size_guidance={"images": 0})
        events.Reload()
        if "gradnap/profile/00_net.conv1" in events.Tags()["images"]:
            steps += [image.step for image in events.Images("gradnap/profile/00_net.conv1")]
    assert sorted(steps) == [0, 3, 6, 9, 12]  # each profiling step once, across both runs
    # the stability after the resume compares with the last profiles before it
    assert np.isfinite(resumed.metrics["net.conv1/stability"][3])


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_profiles_are_close_to_float32(precision: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyFrameModel()
    results = {}
    for name in ("32-true", precision):
        callback = GradNAPCallback(labels="labels", max_batches=3, views=[])
        trainer(tmp_path / name, [callback], precision=name).validate(model, TinyFrameData())
        results[name] = Profiles.load(next((tmp_path / name).glob("**/profiles/*.npz")))
    for layer in ("net.conv1", "net.conv2"):
        full, mixed = results["32-true"][layer].means, results[precision][layer].means
        np.testing.assert_array_equal(results["32-true"][layer].counts, results[precision][layer].counts)
        # bfloat16 keeps 8 bits of mantissa, float16 11: within 5% of the largest value, same pattern
        assert np.abs(mixed - full).max() <= 0.05 * np.abs(full).max()
        assert np.corrcoef(mixed.ravel(), full.ravel())[0, 1] > 0.99


def test_unlabelled_validation_skips_profiling_with_a_warning(tmp_path: Path) -> None:
    data = TinyFrameData()
    for batch in data.val:
        batch["labels"].fill_(-1)
    callback = GradNAPCallback(labels="labels", max_batches=2)
    with pytest.warns(UserWarning, match="no profiled frame carried a group label"):
        trainer(tmp_path, [callback], max_epochs=1).fit(TinyFrameModel(), data)
    assert callback.history["steps"] == [] and not list(tmp_path.glob("**/profiles/*.npz"))


def test_empty_validation_set_trains_on_without_profiling(tmp_path: Path) -> None:
    data = TinyFrameData()
    data.val = []
    callback = GradNAPCallback(labels="labels")
    with pytest.warns(UserWarning, match="length of `DataLoader` across ranks is zero"):  # Lightning says so
        trainer(tmp_path, [callback], max_epochs=1).fit(TinyFrameModel(), data)
    assert callback.history["steps"] == [] and not list(tmp_path.glob("**/profiles/*.npz"))
