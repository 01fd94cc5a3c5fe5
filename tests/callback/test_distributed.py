"""DDP on CPU (gloo, 2 processes), the demo configuration: every array and every score of the profile file
equals one process's over the same samples.

Runs the CLI as a subprocess (``strategy="ddp"`` relaunches the command for rank 1), in its own
process group with a timeout, so that nothing is left behind.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from example_asr.corpora.synthetic.corpus import SyntheticSpeechCorpus
from lightning_gradnap import Profiles
from tests.helpers.processes import run_in_own_group

# The demo configuration as it is (model size, batch size 16, unequal utterance lengths), over 64
# validation utterances: 4 batches in one process, 2 in each of two. Equal weights in every run:
# learning rate 0 and batch-norm statistics frozen while training (DDP legitimately trains otherwise).
NUM_TRAIN, NUM_VALIDATION = 32, 64
ARGS = [
    "--model.optimizer",
    "torch.optim.SGD",
    "--model.optimizer.lr",
    "0.0",
    "--model.schedule",
    "constant",
    "--data.init_args.num_train",
    str(NUM_TRAIN),
    "--data.init_args.num_validation",
    str(NUM_VALIDATION),
    "--data.init_args.num_test",
    "2",
    "--trainer.max_epochs",
    "1",
    "--trainer.max_time",
    "null",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.enable_checkpointing",
    "false",
    "--trainer.num_sanity_val_steps",
    "0",
    "--trainer.callbacks.init_args.max_batches",
    "8",
    "--trainer.callbacks.init_args.views",
    "[scalars,features]",  # the feature view and the input baseline too
    "--trainer.callbacks+=tests.helpers.ddp.FreezeBatchNorm",
]


def run_cli(tmp_path: Path, name: str, data_root: Path, command: str, devices: int) -> list[Path]:
    out = tmp_path / name
    args = [
        sys.executable,
        "-m",
        "example_asr",
        command,
        "--config",
        "configs/demo.yaml",
        *ARGS,
        "--data.init_args.root",
        str(data_root),
        "--trainer.default_root_dir",
        str(out),
        "--trainer.logger.init_args.save_dir",
        str(out),
        "--trainer.devices",
        str(devices),
    ]
    if devices > 1:
        args += ["--trainer.strategy", "ddp"]
    returncode, output = run_in_own_group(args, timeout=420)
    assert returncode == 0, output[-3000:]
    files = sorted(out.glob("**/profiles/*.npz"))
    assert len(files) == (2 if command == "fit" else 1), output[-3000:]  # fit: the untrained network's too
    return files


@pytest.mark.slow
@pytest.mark.parametrize("command", ["fit", "validate"])
def test_ddp_profiles_equal_single_process(command: str, tmp_path: Path) -> None:
    data_root = tmp_path / "corpus"
    for split, size in (("train", NUM_TRAIN), ("validation", NUM_VALIDATION), ("test", 2)):  # once, before both runs
        SyntheticSpeechCorpus(data_root, split, size, seed=0, snr_db=(20.0, 40.0), progress=False)
    for single_file, ddp_file in zip(
        run_cli(tmp_path, "single", data_root, command, 1), run_cli(tmp_path, "ddp", data_root, command, 2), strict=True
    ):
        _assert_files_equal(single_file, ddp_file)


def _assert_files_equal(single_file: Path, ddp_file: Path) -> None:
    single, ddp = Profiles.load(single_file), Profiles.load(ddp_file)
    assert single.layer_names == ddp.layer_names
    assert single[single.layer_names[-1]].counts.sum() > 0 and len(single.layer_names) == 10
    with np.load(single_file) as one, np.load(ddp_file) as two:
        assert sorted(one.files) == sorted(two.files)
        assert "feature_means" in one.files and "feature_counts" in one.files
        for key in one.files:
            if key == "metadata" or key.startswith("tracked_anchor_"):
                continue  # the anchor's step counts training steps, which two processes halve here
            if one[key].dtype.kind == "f":
                scale = max(float(np.nanmax(np.abs(one[key]), initial=0.0)), 1e-30)
                np.testing.assert_allclose(two[key], one[key], rtol=0, atol=1e-5 * scale, err_msg=key)
            else:
                np.testing.assert_array_equal(two[key], one[key], err_msg=key)
    _assert_scores_close(single.metadata["scores"], ddp.metadata["scores"], "scores")


def _assert_scores_close(one: object, two: object, where: str) -> None:
    """Every score in the file's metadata, nested by method and layer, equal to 1e-5."""
    if isinstance(one, dict):
        assert isinstance(two, dict) and sorted(one) == sorted(two), where
        for key in one:
            _assert_scores_close(one[key], two[key], f"{where}/{key}")
    elif isinstance(one, (int, float)) and not isinstance(one, bool):
        assert isinstance(two, (int, float)), where
        np.testing.assert_allclose(two, one, rtol=0, atol=1e-5, err_msg=where)
    else:
        assert one == two, where
