"""The input baseline and the feature view come from every profiled batch (issue 24, point 1)."""

from __future__ import annotations

import glob

import numpy as np
import pytest

from lightning_gradnap import GradNAPCallback, ProfileBatch, ProfileEngine
from tests.helpers.callback import LOW_RELIABILITY, TinyFrameData, TinyFrameModel, trainer


def _feature_counts(tmp_path, feature_batches: int | None) -> tuple[np.ndarray, dict]:
    data = TinyFrameData(train_batches=1, val_batches=3)
    callback = GradNAPCallback(
        labels="labels",
        num_clusters=2,
        feature_window=5,
        views=["scalars", "features"],
        feature_batches=feature_batches,
    )
    run = trainer(tmp_path, [callback], max_epochs=1, num_sanity_val_steps=0)
    model = TinyFrameModel()
    run.fit(model, data)
    path = sorted(glob.glob(f"{run.log_dir}/profiles/*.npz"))[-1]  # the epoch's (the first: the untrained network's)
    with np.load(path) as stored:
        return stored["feature_counts"], {"model": model, "data": data}


@LOW_RELIABILITY
def test_every_profiled_batch_feeds_the_feature_view_and_the_input_baseline(tmp_path) -> None:
    counts, fitted = _feature_counts(tmp_path / "all", None)
    engine = ProfileEngine(["net.conv1", "net.conv2"], 4, input_window=5)
    model = fitted["model"].eval()
    for batch in fitted["data"].val:  # the same three batches, one by one
        engine.run_batch(model, ProfileBatch(batch["features"], batch["labels"], batch["feature_lengths"]))
    expected = engine.input_sums["<input>"].counts.cpu().numpy()
    assert expected.sum() > 0
    np.testing.assert_array_equal(counts, expected)
    first_only, _ = _feature_counts(tmp_path / "first", 1)  # the limit still works, and takes less
    assert first_only.sum() < counts.sum()


def test_feature_batches_is_checked() -> None:
    with pytest.raises(ValueError, match="`feature_batches` should be at least 0"):
        GradNAPCallback(feature_batches=-1)
