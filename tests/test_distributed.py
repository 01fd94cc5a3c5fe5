"""DDP on CPU (gloo, 2 processes): profiles equal a single-process run over the same samples.

Runs the CLI as a subprocess (``strategy="ddp"`` relaunches the command for rank 1), in its own
process group with a timeout, so that nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from example_asr.synthetic import SyntheticSpeechCorpus
from lightning_gradnap import Profiles

ROOT = Path(__file__).parent.parent

# Equal weights in both runs: no batch norm (its running statistics would move), learning rate 0.
# Validation batches of one utterance: no padding, so the batching across processes cannot matter.
ARGS = [
    "--model.channels", "8", "--model.num_layers", "2", "--model.wide_channels", "8", "--model.batch_norm", "false",
    "--model.optimizer", "torch.optim.SGD", "--model.optimizer.lr", "0.0", "--model.schedule", "constant",
    "--data.init_args.num_train", "4", "--data.init_args.num_validation", "8", "--data.init_args.num_test", "2",
    "--data.init_args.batch_size", "1", "--trainer.max_epochs", "1", "--trainer.max_time", "null",
    "--trainer.enable_progress_bar", "false", "--trainer.enable_checkpointing", "false",
    "--trainer.callbacks.init_args.max_batches", "8", "--trainer.callbacks.init_args.views", "[scalars]",
]  # fmt: skip


def run_cli(tmp_path: Path, name: str, data_root: Path, command: str, devices: int) -> Path:
    out = tmp_path / name
    args = [sys.executable, "-m", "example_asr", command, "--config", "configs/demo.yaml", *ARGS,
            "--data.init_args.root", str(data_root), "--trainer.default_root_dir", str(out),
            "--trainer.logger.init_args.save_dir", str(out), "--trainer.devices", str(devices)]  # fmt: skip
    if devices > 1:
        args += ["--trainer.strategy", "ddp"]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # rank 1 and any stragglers, also after a timeout
        except ProcessLookupError:
            pass
    assert process.returncode == 0, output[-3000:]
    files = sorted(out.glob("**/profiles/*.npz"))
    assert len(files) == 1, output[-3000:]
    return files[0]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["fit", "validate"])
def test_ddp_profiles_equal_single_process(command: str, tmp_path: Path) -> None:
    data_root = tmp_path / "corpus"
    for split, size in (("train", 4), ("validation", 8), ("test", 2)):  # synthesise once, before both runs
        SyntheticSpeechCorpus(data_root, split, size, seed=0, snr_db=(20.0, 40.0), progress=False)
    single = Profiles.load(run_cli(tmp_path, "single", data_root, command, 1))
    ddp = Profiles.load(run_cli(tmp_path, "ddp", data_root, command, 2))
    assert single.layer_names == ddp.layer_names
    for layer in single.layer_names:
        np.testing.assert_array_equal(ddp[layer].counts, single[layer].counts)
        np.testing.assert_allclose(ddp[layer].means, single[layer].means, rtol=1e-6, atol=1e-9)
