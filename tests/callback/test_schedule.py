"""When the callback profiles: ``every_n_epochs`` counts validation runs, and settings under which
a fit would profile nothing warn at setup."""

from __future__ import annotations

import warnings

import lightning as L
import pytest

from lightning_gradnap import GradNAPCallback
from tests.helpers.callback import LOW_RELIABILITY, TinyFrameData, TinyFrameModel, trainer

pytestmark = [
    LOW_RELIABILITY,
    # resumed runs write their checkpoints to one folder
    pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty:UserWarning"),
    # a setting that never profiles
    pytest.mark.filterwarnings("ignore:You passed in a `val_dataloader` but have no `validation_step`:UserWarning"),
]


def test_every_n_epochs_counts_validation_runs_not_training_epochs(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=1, every_n_epochs=2, views=[])
    trainer(tmp_path, [callback], max_epochs=4, check_val_every_n_epoch=2).fit(TinyFrameModel(), TinyFrameData())
    assert callback.history["epochs"] == [0, 3]  # the untrained network; validations after epochs 1 and 3: the second


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
    assert callback.history["epochs"] == [0, 1]
