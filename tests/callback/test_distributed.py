"""DDP on CPU (gloo, 2 processes), the demo configuration: profiles equal one process over the same samples.

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
    "[scalars]",
    "--trainer.callbacks+=tests.helpers.ddp.FreezeBatchNorm",
]


def run_cli(tmp_path: Path, name: str, data_root: Path, command: str, devices: int) -> Path:
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
    assert len(files) == 1, output[-3000:]
    return files[0]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["fit", "validate"])
def test_ddp_profiles_equal_single_process(command: str, tmp_path: Path) -> None:
    data_root = tmp_path / "corpus"
    for split, size in (("train", NUM_TRAIN), ("validation", NUM_VALIDATION), ("test", 2)):  # once, before both runs
        SyntheticSpeechCorpus(data_root, split, size, seed=0, snr_db=(20.0, 40.0), progress=False)
    single = Profiles.load(run_cli(tmp_path, "single", data_root, command, 1))
    ddp = Profiles.load(run_cli(tmp_path, "ddp", data_root, command, 2))
    assert single.layer_names == ddp.layer_names
    for layer in single.layer_names:
        np.testing.assert_array_equal(ddp[layer].counts, single[layer].counts)
        scale = np.nanmax(np.abs(single[layer].means))
        np.testing.assert_allclose(ddp[layer].means, single[layer].means, rtol=0, atol=1e-5 * scale, err_msg=layer)
    assert single[layer].counts.sum() > 0 and len(single.layer_names) == 10
