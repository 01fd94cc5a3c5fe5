"""GradNAPCallback in tiny Trainer runs: TensorBoard views, files, paths, lifecycle."""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader

from lightning_gradnap import GradNAPCallback, ProfileBatch, Profiles, compute_profiles
from tests.helpers.callback import (
    CATEGORIES,
    GROUPS,
    LOW_RELIABILITY,
    TinyFrameData,
    TinyFrameModel,
    read_events,
    trainer,
)

pytestmark = [
    LOW_RELIABILITY,
    # the module whose step blocks gradients
    pytest.mark.filterwarnings("ignore:`training_step` returned `None`:UserWarning"),
]

PNG = b"\x89PNG\r\n\x1a\n"


def profile_files(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("**/profiles/*.npz"))


def fit(tmp_path, callback=None, model=None, data=None, **kwargs):
    torch.manual_seed(0)
    model = model or TinyFrameModel()
    data = data or TinyFrameData()
    run = trainer(tmp_path, [callback] if callback else [], **kwargs)
    run.fit(model, data)
    return run, model, data


def test_every_view_lands_in_tensorboard_at_global_step(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=2, num_clusters=2, feature_window=5)
    run, model, _ = fit(tmp_path, callback)
    events = read_events(run.logger.log_dir)
    steps = [0, 3, 6]  # the untrained network, then 3 training batches per epoch, profiled after each validation
    for layer in ("00_net.conv1", "01_net.conv2"):
        for view in ("profile", "dendrogram", "groups_2d"):
            images = events.Images(f"gradnap/{view}/{layer}")
            assert [image.step for image in images] == steps
            assert all(image.encoded_image_string.startswith(PNG) for image in images)
            assert images[0].width >= 600 and images[0].height >= 300
        for metric in ("silhouette", "ami"):
            assert [s.step for s in events.Scalars(f"gradnap/{metric}/{layer}")] == steps
        assert [s.step for s in events.Scalars(f"gradnap/stability/{layer}")] == steps[1:]
    for tag in ("gradnap/agreement/layers", "gradnap/features/input"):
        assert [image.step for image in events.Images(tag)] == steps
    # no profiling during the sanity check
    assert callback.history["steps"] == steps and callback.history["epochs"] == [0, 0, 1]
    # projector: one embedding per layer and step, with names and categories as metadata
    log_dir = Path(run.logger.log_dir)
    config = (log_dir / "projector_config.pbtxt").read_text()
    assert config.count("tensor_path") == 6 and "gradnap/net.conv2" in config  # 2 layers at 3 steps
    metadata = next(log_dir.glob("00006/gradnap*net.conv2/metadata.tsv")).read_text().splitlines()
    assert metadata[0] == "group\tcategory" and set(metadata[1:]) == {
        f"{g}\t{c}" for g, c in zip(GROUPS, CATEGORIES, strict=True)
    }
    tensors = np.loadtxt(next(log_dir.glob("00006/gradnap*net.conv2/tensors.tsv")), delimiter="\t")
    assert tensors.shape == (4, 8)
    # hooks are gone and grad mode is back to normal
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    assert torch.is_grad_enabled()


def test_files_equal_compute_profiles_on_the_same_batches(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=2, views=[])
    run, model, data = fit(tmp_path, callback)
    files = profile_files(tmp_path)
    assert [f.name for f in files] == [
        "epoch=000-step=000000.npz",  # the untrained network
        "epoch=000-step=000003.npz",
        "epoch=001-step=000006.npz",
    ]
    saved = Profiles.load(files[-1])
    model.eval()
    batches = [ProfileBatch(b["features"], b["labels"], b["feature_lengths"]) for b in data.val[:2]]
    expected = compute_profiles(
        model, batches, ["net.conv1", "net.conv2"], 4, group_names=GROUPS, group_categories=CATEGORIES
    )
    assert saved.group_names == GROUPS and saved.group_categories == CATEGORIES
    for layer in ("net.conv1", "net.conv2"):
        np.testing.assert_allclose(saved[layer].means, expected[layer].means, rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(saved[layer].counts, expected[layer].counts)


def test_shared_forward_equals_separate_forward_and_validate(tmp_path) -> None:
    shared = GradNAPCallback(labels="labels", max_batches=2, views=[])
    run, model, data = fit(tmp_path / "shared", shared, max_epochs=1)
    # validation_step calls self.net directly: the output hook never fires -> separate forward
    separate = GradNAPCallback(labels="labels", max_batches=2, views=[])
    torch.manual_seed(0)  # the same initial weights as the first run
    fit(tmp_path / "separate", separate, model=TinyFrameModel(call_submodule=True), max_epochs=1)
    # trainer.validate() runs in inference mode -> separate forward on cloned inputs
    validated = GradNAPCallback(labels="labels", max_batches=2, views=[])
    trainer(tmp_path / "validate", [validated]).validate(model, data)
    results = [Profiles.load(profile_files(tmp_path / name)[-1]) for name in ("shared", "separate", "validate")]
    for other in results[1:]:
        for layer in ("net.conv1", "net.conv2"):
            np.testing.assert_allclose(other[layer].means, results[0][layer].means, rtol=1e-6, atol=1e-9)


def test_callback_does_not_change_training(tmp_path) -> None:
    _, with_callback, _ = fit(tmp_path / "a", GradNAPCallback(labels="labels", max_batches=2, num_clusters=2))
    random_state_with = (torch.get_rng_state(), np.random.get_state()[1].copy())
    _, without, _ = fit(tmp_path / "b")
    random_state_without = (torch.get_rng_state(), np.random.get_state()[1].copy())
    for (name, p), q in zip(with_callback.named_parameters(), without.parameters(), strict=True):
        assert torch.equal(p, q), name
    # the callback draws no random numbers from the global generators (its k-means, PCA, t-SNE are seeded)
    assert torch.equal(random_state_with[0], random_state_without[0])
    assert np.array_equal(random_state_with[1], random_state_without[1])
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in with_callback.parameters())


def test_no_image_logger_writes_files_with_a_warning(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=1)
    with pytest.warns(UserWarning, match=r"loggers \(CSVLogger\) take no images: they get the GradNAP scores only"):
        fit(tmp_path, callback, logger=CSVLogger(str(tmp_path)), max_epochs=1)
    assert len(profile_files(tmp_path)) == 2  # the untrained network's and the epoch's


def test_no_logger_writes_files_with_a_warning(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=1)
    with pytest.warns(UserWarning, match="no logger: profiles are saved as .npz files only"):
        fit(tmp_path, callback, logger=False, max_epochs=1)
    assert len(profile_files(tmp_path)) == 2  # the untrained network's and the epoch's


def test_state_dict_keeps_history(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=1, views=["scalars"])
    fit(tmp_path, callback)
    state = callback.state_dict()
    restored = GradNAPCallback(labels="labels", max_batches=1, views=["scalars"])
    restored.load_state_dict(state)
    assert restored.history == callback.history and restored.history["steps"] == [0, 3, 6]
    assert set(restored.metrics) >= {"net.conv1/silhouette", "net.conv2/stability"}
    assert restored._history.previous is not None and restored._history.previous.layer_names == [
        "net.conv1",
        "net.conv2",
    ]


class TinyClassifier(L.LightningModule):
    """An image-like classifier with (x, y) batches: utterance-level groups are its classes."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.features(x))

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self(x), y))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_non_speech_classifier_with_utterance_labels(tmp_path) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(24, 1, 6, 6, generator=generator)
    y = torch.arange(24) % 3
    loader = DataLoader(list(zip(x, y, strict=True)), batch_size=8)
    callback = GradNAPCallback(
        layers=["features.0", "head"],
        label_level="utterance",
        group_names=["cat", "dog", "owl"],
        views=["profile", "scalars"],
        num_clusters=2,
    )
    run = trainer(tmp_path, [callback], max_epochs=1)
    run.fit(TinyClassifier(), loader, loader)
    saved = Profiles.load(profile_files(tmp_path)[-1])
    assert saved["features.0"].profile.shape == (3, 4) and saved["head"].profile.shape == (3, 3)
    np.testing.assert_array_equal(saved["head"].counts, [8, 8, 8])
    assert [i.step for i in read_events(run.logger.log_dir).Images("gradnap/profile/01_head")] == [0, 3]


def test_argument_and_setup_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"`views` has \['heatmap'\]; allowed"):
        GradNAPCallback(views=["heatmap"])
    with pytest.raises(ValueError, match="`every_n_epochs` should be at least 1"):
        GradNAPCallback(every_n_epochs=0)
    with pytest.raises(ValueError, match="`method` should be one of"):
        GradNAPCallback(method="grad")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown layer 'net.conv3'. Did you mean 'net.conv2', 'net.conv1'"):
        fit(tmp_path, GradNAPCallback(layers=["net.conv3"], labels="labels"), max_epochs=1)
    with pytest.raises(
        KeyError, match="the batch has no key 'phonemes'.*batch keys: \\['feature_lengths', 'features', 'labels'\\]"
    ):
        fit(tmp_path, GradNAPCallback(labels="phonemes"), max_epochs=1)
    model = TinyFrameModel()
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    with pytest.raises(ValueError, match="found no group names"):
        fit(tmp_path, GradNAPCallback(labels="labels", group_names="nothing_here"), model=model, max_epochs=1)


def test_every_n_epochs_and_max_batches(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=1, every_n_epochs=2, views=[])
    fit(tmp_path, callback, max_epochs=4)
    assert callback.history["epochs"] == [0, 1, 3]  # 0: the untrained network, before the first step
    saved = Profiles.load(profile_files(tmp_path)[1])
    first_batch = TinyFrameData().val[0]
    counted = (first_batch["labels"] >= 0).sum().item()
    assert saved["net.conv1"].counts.sum() == counted  # one batch only, every valid frame
    assert os.path.basename(profile_files(tmp_path)[1]) == "epoch=001-step=000006.npz"


class CallsTwice(TinyFrameModel):
    """A validation step that runs the model twice: the shared forward cannot be trusted."""

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
        self(batch["features"] * 0.5)
        return super().validation_step(batch, batch_idx)


def test_a_step_that_calls_the_model_twice_falls_back_to_a_separate_forward(tmp_path) -> None:
    first = GradNAPCallback(labels="labels", max_batches=2, views=[])
    fit(tmp_path / "once", first, max_epochs=1)
    second = GradNAPCallback(labels="labels", max_batches=2, views=[])
    torch.manual_seed(0)
    fit(tmp_path / "twice", second, model=CallsTwice(), max_epochs=1)
    once, twice = (Profiles.load(profile_files(tmp_path / name)[-1]) for name in ("once", "twice"))
    np.testing.assert_allclose(twice["net.conv2"].means, once["net.conv2"].means, rtol=1e-6, atol=1e-9)


class CountsEvalForwards(TinyFrameModel):
    eval_forwards = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.eval_forwards += not self.training and x.shape[0] == 4  # validation batches, not the frame-map probe
        return super().forward(x)


def test_a_layer_changed_in_place_is_run_again_once_then_shared(tmp_path) -> None:
    # net.conv1 is followed by ReLU(inplace=True): the first profiled batch learns that and runs
    # a separate forward; from then on the hook hands on a copy and the forward is shared.
    _, without, _ = fit(tmp_path / "without", model=CountsEvalForwards(), max_epochs=2)
    callback = GradNAPCallback(labels="labels", max_batches=2, views=[], profile_init=False)  # only the shared forward
    _, profiled, _ = fit(tmp_path / "with", callback, model=CountsEvalForwards(), max_epochs=2)
    assert callback._capture is not None and callback._capture.layer_recorder.copied == {"net.conv1"}
    assert profiled.eval_forwards == without.eval_forwards + 1


class NoGradForward(TinyFrameModel):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # e.g. a frozen feature extractor written this way
            return self.net(x)

    def training_step(self, batch, batch_idx: int):
        return None  # nothing to train


def test_a_forward_that_blocks_gradients_is_explained(tmp_path) -> None:
    with pytest.raises(RuntimeError, match=r"Cannot take gradients: outputs of .*torch.enable_grad\(\).*method='nap'"):
        fit(tmp_path, GradNAPCallback(labels="labels", max_batches=1), model=NoGradForward(), max_epochs=1)
    nap = GradNAPCallback(labels="labels", max_batches=1, method="nap", views=[])
    fit(tmp_path / "nap", nap, model=NoGradForward(), max_epochs=1)
    assert len(profile_files(tmp_path / "nap")) == 2  # the untrained network's and the epoch's


def test_unwritable_log_directory_fails_at_setup(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(ValueError, match="cannot write profiles to .*file.*save_profiles=False"):
        fit(
            tmp_path,
            GradNAPCallback(labels="labels"),
            logger=False,
            default_root_dir=str(blocker / "logs"),
            max_epochs=1,
        )
