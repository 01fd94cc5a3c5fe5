"""``pip install lightning-gradnap`` into a fresh virtual environment: the core dependencies only, then a fit.

Slow (a venv, a pip install, a Trainer in a new interpreter) and needs the package index (PyPI, as CI has).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import lightning_gradnap
from tests.helpers.no_lightning import ASR_ONLY
from tests.helpers.paths import ROOT
from tests.helpers.wheel import build_wheel

#: The asr extra's own distributions (torchmetrics is in the extra too, but lightning requires it anyway).
ASR_DISTRIBUTIONS = ("torchaudio", "soundfile", "praatio", "espeakng-loader")

#: Runs in the fresh venv: a short fit of a tiny frame classifier with the callback and a TensorBoardLogger.
FIT = """
import glob, importlib.metadata, importlib.util, json, sys
import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.utils.data import DataLoader
import lightning_gradnap
from lightning_gradnap import GradNAPCallback

GROUPS = ["aa", "iy", "p", "s"]


def batches(count, seed):
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        labels = torch.randint(0, 4, (4, 6), generator=generator).repeat_interleave(4, 1)
        out.append({"features": torch.randn(4, 3, 24, generator=generator) + labels[:, None].float(), "labels": labels})
    return out


class Data(L.LightningDataModule):
    group_names = GROUPS
    group_categories = ["vowel", "vowel", "plosive", "fricative"]

    def train_dataloader(self):
        return DataLoader(batches(3, 1), batch_size=None)

    def val_dataloader(self):
        return DataLoader(batches(3, 2), batch_size=None)


class Model(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 4, 1))
        self.profile_layers = ["net.1"]

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        return F.cross_entropy(self(batch["features"]), batch["labels"])

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", F.cross_entropy(self(batch["features"]), batch["labels"]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


logs = sys.argv[1]
trainer = L.Trainer(
    max_epochs=2, accelerator="cpu", devices=1, logger=TensorBoardLogger(logs, name="tb"), enable_progress_bar=False,
    enable_model_summary=False, enable_checkpointing=False, num_sanity_val_steps=0, log_every_n_steps=1,
    callbacks=[GradNAPCallback(labels="labels", max_batches=2, num_clusters=2)],
)
trainer.fit(Model(), Data())
events = EventAccumulator(glob.glob(f"{logs}/tb/version_0/events.out.tfevents.*")[0], size_guidance={"images": 0})
events.Reload()
installed = {d.metadata["Name"].lower().replace("_", "-") for d in importlib.metadata.distributions()}
print(json.dumps({
    "files": sorted(p.split("/")[-1] for p in glob.glob(f"{logs}/tb/version_0/profiles/*.npz")),
    "images": sorted(events.Tags()["images"]),
    "installed": sorted(installed),
    "importable": sorted(name for name in sys.argv[2].split(",") if importlib.util.find_spec(name) is not None),
    "version": importlib.metadata.version("lightning-gradnap"),
    "__version__": lightning_gradnap.__version__,
    "package": lightning_gradnap.__file__,
    "torch": torch.__file__,
}))
"""


def requirement_closure(name: str) -> dict[str, importlib.metadata.Distribution]:
    """``name``'s installed distribution and every one it requires, recursively (markers honoured, extras followed)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending: list[tuple[str, frozenset[str]]] = [(name, frozenset())]
    while pending:
        wanted, extras = pending.pop()
        key = canonicalize_name(wanted)
        if key in found and not extras:
            continue
        distribution = found.get(key) or importlib.metadata.distribution(wanted)
        found[key] = distribution
        for text in distribution.requires or []:
            requirement = Requirement(text)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
                pending.append((requirement.name, frozenset(requirement.extras)))
    return found


def link_distributions(distributions: dict[str, importlib.metadata.Distribution], folder: Path) -> list[str]:
    """Symbolic links in ``folder`` to each distribution's top-level files and folders (its packages, its
    ``.dist-info``); returns their names. Scripts (outside site-packages) and ``__pycache__`` are left out."""
    folder.mkdir()
    for distribution in distributions.values():
        tops = {Path(path).parts[0] for path in distribution.files or []}
        for top in sorted(tops - {"..", "__pycache__"}):
            target = Path(str(distribution.locate_file(top)))
            link = folder / top
            if target.exists() and not link.exists():
                link.symlink_to(target, target_is_directory=target.is_dir())
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.slow
def test_the_wheel_installs_with_its_core_dependencies_only_and_runs_the_callback(tmp_path: Path) -> None:
    """Builds the wheel, makes a fresh venv and ``pip install``s the wheel there with ``-c constraints.txt`` and
    no extra; then a short ``fit`` with the callback and a TensorBoardLogger runs in that venv.

    torch from the index is a CUDA wheel of several GB, too big for a test: so the test's own torch, and only the
    distributions torch itself requires (its ``Requires-Dist``, recursively, markers honoured), are made visible to
    the fresh venv through a ``.pth`` file naming a folder of symbolic links to them. pip sees torch as installed
    and installs everything else the wheel needs itself, from the index (its cache makes a rerun quick).
    The asr extra's packages must then be neither installed in the venv nor importable there; torchmetrics is,
    because lightning requires it.
    """
    started = time.perf_counter()
    wheel = build_wheel(tmp_path / "build")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        env=clean,
    ).stdout.strip()
    torch_closure = requirement_closure("torch")
    assert not set(torch_closure) & {canonicalize_name(name) for name in ("lightning", "numpy", *ASR_DISTRIBUTIONS)}
    shared = link_distributions(torch_closure, tmp_path / "torch-and-its-requirements")
    assert "torch" in shared and any(name.startswith("torch-") and name.endswith(".dist-info") for name in shared)
    (Path(site) / "torch_from_the_test_environment.pth").write_text(f"{tmp_path / 'torch-and-its-requirements'}\n")

    install = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-c", str(ROOT / "constraints.txt")]
    result = subprocess.run(install + [str(wheel)], capture_output=True, text=True, timeout=1800, env=clean)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    installed_by_pip = re.findall(r"Successfully installed (.*)", result.stdout)
    assert installed_by_pip and "lightning-gradnap-" in installed_by_pip[-1], result.stdout[-3000:]
    assert not re.search(r"\btorch-\d", installed_by_pip[-1]), "pip installed torch itself"  # the shared one served
    installed_at = time.perf_counter() - started

    logs = tmp_path / "logs"
    (tmp_path / "fit.py").write_text(FIT)
    run = [str(python), str(tmp_path / "fit.py"), str(logs), ",".join(ASR_ONLY)]
    result = subprocess.run(run, capture_output=True, text=True, timeout=900, env=clean, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    import json

    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["package"].startswith(site), found["package"]  # the installed wheel, not this checkout
    assert found["torch"].startswith(str(tmp_path / "torch-and-its-requirements")), found["torch"]
    assert found["version"] == found["__version__"] == lightning_gradnap.__version__  # one source, installed
    # the untrained network's profiling (step 0) and one per epoch
    assert len(found["files"]) == 3 and all(name.endswith(".npz") for name in found["files"]), found["files"]
    assert any(tag.startswith("gradnap/") for tag in found["images"]), found["images"]
    assert not set(ASR_DISTRIBUTIONS) & set(found["installed"]), sorted(
        set(ASR_DISTRIBUTIONS) & set(found["installed"])
    )
    assert found["importable"] == [], found["importable"]
    assert {"lightning", "tensorboard", "matplotlib", "torchmetrics"} <= set(found["installed"])
    print(f"pip installed: {installed_by_pip[-1]}")
    print(f"fresh venv: built and installed in {installed_at:.0f} s, all in {time.perf_counter() - started:.0f} s")
