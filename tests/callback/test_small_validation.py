"""Small validation sets never crash training (issue 24, point 4): scores of an empty split half are NaN."""

from __future__ import annotations

import glob

import numpy as np
import pytest
import torch

from lightning_gradnap import GradNAPCallback, Profiles
from tests.helpers.callback import TinyFrameData, TinyFrameModel, trainer


def _fit(tmp_path, val_batch: dict, half_empty: bool) -> Profiles:
    data = TinyFrameData(train_batches=2, val_batches=1)
    data.val = [val_batch]
    callback = GradNAPCallback(labels="labels", num_clusters=2, feature_window=5)
    run = trainer(tmp_path, [callback], max_epochs=2)
    if half_empty:  # one half of the data has no example: its scores are NaN, and the warning says why
        with pytest.warns(UserWarning, match="split-half scores are NaN"):
            run.fit(TinyFrameModel(), data)
    else:
        run.fit(TinyFrameModel(), data)
    files = sorted(glob.glob(f"{run.log_dir}/profiles/*.npz"))
    assert len(files) == 3, files  # the untrained network's, then one profiling per epoch, none lost
    return Profiles.load(files[-1])


@pytest.mark.parametrize("utterances", [1, 2, 3])
def test_fit_with_few_validation_utterances(tmp_path, utterances: int) -> None:
    batch = TinyFrameData(val_batches=1).val[0]
    batch = {key: value[:utterances] for key, value in batch.items()}
    profiles = _fit(tmp_path, batch, half_empty=utterances == 1)
    scores = profiles.metadata["scores"]["gradnap"]
    assert set(scores) == set(profiles.layers)


def test_fit_with_identical_labels(tmp_path) -> None:
    """Four utterances with one label sequence: fit ends, and they split between both halves (the halves
    hash the inputs, not the labels, which once put all four in one half)."""
    batch = TinyFrameData(val_batches=1).val[0]
    labels = batch["labels"][:1].repeat(4, 1)
    lengths = torch.full((4,), labels.shape[1])
    labels = torch.where(labels < 0, 0, labels)  # the first utterance's labels over the whole length
    profiles = _fit(
        tmp_path, {"features": batch["features"], "labels": labels, "feature_lengths": lengths}, half_empty=False
    )
    for name in profiles.layers:
        assert (profiles[name].half_counts.sum(axis=1) > 0).all(), "a half without frames"
    for values in profiles.metadata["scores"]["gradnap"].values():
        assert all(value is None or np.isfinite(value) for value in values.values())
