"""The reference ASR end to end: data modules' batches, and profiling from YAML alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from example_asr.cli import cli_main
from example_asr.data import LibriSpeechData, SyntheticSpeechData
from example_asr.phonetics.arpabet import normalize_arpabet
from lightning_gradnap import Profiles
from tests.helpers.callback import LOW_RELIABILITY, read_events
from tests.helpers.librispeech import HELLO_WORLD_PHONES, SUBSET, write_corpus, write_textgrid

pytestmark = [
    LOW_RELIABILITY,
    # the aligner's output covers one utterance of four
    pytest.mark.filterwarnings("ignore:.* have no TextGrid below:UserWarning"),
    # pytest's own command line arguments
    pytest.mark.filterwarnings(
        "ignore:LightningCLI's args parameter is intended to run from within Python:UserWarning"
    ),
    # 2 batches an epoch
    pytest.mark.filterwarnings(
        "ignore:The number of training batches .* is smaller than the logging interval:UserWarning"
    ),
]

TINY = [
    "--model.channels",
    "8",
    "--model.num_layers",
    "2",
    "--model.wide_channels",
    "8",
    "--data.init_args.num_train",
    "8",
    "--data.init_args.num_validation",
    "8",
    "--data.init_args.num_test",
    "4",
    "--data.init_args.batch_size",
    "4",
    "--trainer.max_epochs",
    "2",
    "--trainer.max_time",
    "null",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.enable_checkpointing",
    "false",
]


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synthetic")


def test_synthetic_batches_carry_features_targets_and_phoneme_labels(synthetic_root: Path) -> None:
    data = SyntheticSpeechData(str(synthetic_root), num_train=8, num_validation=8, num_test=4, batch_size=4)
    data.prepare_data()
    data.setup("fit")
    batch = next(iter(data.val_dataloader()))
    features, labels, lengths = batch["features"], batch["phoneme_labels"], batch["feature_lengths"]
    assert features.shape[:2] == (4, 40) and labels.shape == (4, features.shape[2])
    assert len(data.group_names) == len(data.group_categories) == 39
    for row, length in zip(labels, lengths, strict=True):
        assert (row[length:] == -1).all()  # padding is ignored
        assert (row[:length] >= 0).float().mean() > 0.5  # most of the utterance is speech
    decoded = [
        "".join(" 'abcdefghijklmnopqrstuvwxyz"[i - 1] for i in t[:n])
        for t, n in zip(batch["targets"], batch["target_lengths"], strict=True)
    ]
    assert decoded == batch["transcripts"]


def test_librispeech_batches_with_textgrid_phonemes(tmp_path: Path) -> None:
    write_corpus(tmp_path)
    write_textgrid(tmp_path / "mfa" / "19" / "19-198-0000.TextGrid", HELLO_WORLD_PHONES, 1.0)
    data = LibriSpeechData(
        str(tmp_path), SUBSET, SUBSET, SUBSET, alignments_dir=str(tmp_path / "mfa"), num_workers=0, batch_size=8
    )
    data.setup("validate")
    batch = next(iter(data.val_dataloader()))
    index = batch["utterance_ids"].index("19-198-0000")
    labelled = batch["phoneme_labels"][index]
    names = {data.group_names[g] for g in labelled[labelled >= 0].tolist()}
    assert names == {normalize_arpabet(name) for _, _, name in HELLO_WORLD_PHONES} - {None}
    assert batch["features"].shape[1] == 80 and (labelled >= 0).any()
    others = [i for i in range(len(batch["utterance_ids"])) if i != index]
    assert all(
        (batch["phoneme_labels"][i] == -1).all() for i in others if batch["utterance_ids"][i] != "84-121123-0001"
    )


@pytest.mark.parametrize(
    "groups",
    ["phonemes", "characters"],
)
def test_profiling_from_yaml_alone(groups: str, tmp_path: Path, synthetic_root: Path) -> None:
    extra = tmp_path / "extra.yaml"
    if groups == "characters":
        extra.write_text(
            "trainer:\n  callbacks:\n    - class_path: lightning_gradnap.GradNAPCallback\n      init_args:\n"
            "        labels: character_frame_labels\n        group_names: character_group_names\n"
            "        group_categories: character_group_categories\n        max_batches: 2\n"
        )
    else:
        extra.write_text("{}\n")
    args = [
        "fit",
        "--config",
        "configs/demo.yaml",
        "--config",
        str(extra),
        *TINY,
        "--data.init_args.root",
        str(synthetic_root),
        "--trainer.default_root_dir",
        str(tmp_path),
        "--trainer.logger.init_args.save_dir",
        str(tmp_path),
    ]
    cli = cli_main(args)
    files = sorted(Path(cli.trainer.log_dir).glob("profiles/*.npz"))
    assert len(files) == 3 and files[0].name == "epoch=000-step=000000.npz"  # the untrained network's first
    profiles = Profiles.load(files[-1])
    expected = 39 if groups == "phonemes" else 28
    assert profiles.num_groups == expected and profiles.layer_names == cli.model.profile_layers
    assert (profiles["model.dense"].counts > 0).sum() >= 3
    events = read_events(cli.trainer.log_dir)
    assert "gradnap/profile/02_model.conv2" in events.Tags()["images"]
    if groups == "characters":
        assert profiles.group_names[0] == "␣" and "vowel letter" in profiles.group_categories
    assert torch.is_grad_enabled()


def test_validate_and_test_subcommands_profile_in_inference_mode(tmp_path: Path, synthetic_root: Path) -> None:
    common = [
        "--config",
        "configs/demo.yaml",
        *TINY,
        "--data.init_args.root",
        str(synthetic_root),
        "--trainer.default_root_dir",
        str(tmp_path),
        "--trainer.logger.init_args.save_dir",
        str(tmp_path),
    ]
    validated = cli_main(["validate", *common])
    assert validated.trainer.callback_metrics["val/cer"] <= 1.5
    assert len(list(Path(validated.trainer.log_dir).glob("profiles/*.npz"))) == 1  # profiled under inference mode
    tested = cli_main(["test", *common])
    assert "test/cer" in tested.trainer.callback_metrics
