"""The ``pytorch_lightning`` namespace works like ``lightning.pytorch`` (issue 16, point 1):
its Trainer, its TensorBoardLogger and its LightningCLI; and nothing imports it when it is absent."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lightning_gradnap import GradNAPCallback
from tests.helpers.callback import GROUPS, TinyFrameData, TinyFrameSteps, event_steps
from tests.helpers.paths import ROOT

pl = pytest.importorskip("pytorch_lightning")
from lightning_gradnap.pytorch_lightning import GradNAPCallback as PLGradNAPCallback  # noqa: E402


class PLTinyFrameModel(TinyFrameSteps, pl.LightningModule):
    """The tiny frame model as a ``pytorch_lightning`` LightningModule."""

    group_names = GROUPS


def pl_fit(tmp_path: Path, callback) -> pl.Trainer:
    from pytorch_lightning.loggers import TensorBoardLogger

    data = TinyFrameData()
    run = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        callbacks=[callback],
        logger=TensorBoardLogger(str(tmp_path), name="tb"),
        default_root_dir=str(tmp_path),
    )
    run.fit(PLTinyFrameModel(), data.train_dataloader(), data.val_dataloader())
    return run


@pytest.mark.parametrize("callback_class", [GradNAPCallback, PLGradNAPCallback], ids=["lightning_class", "pl_class"])
def test_a_pytorch_lightning_trainer_and_logger_get_images_and_scalars(callback_class, tmp_path, recwarn) -> None:
    callback = callback_class(labels="labels", max_batches=2, views=["profile", "scalars"], num_clusters=2)
    run = pl_fit(tmp_path, callback)
    assert not [w for w in recwarn if "found no TensorBoardLogger" in str(w.message)]
    log_dir = run.logger.log_dir
    assert event_steps(log_dir, "images", "gradnap/profile/00_net.conv1") == [0, 3, 6]  # 0: the untrained network
    assert event_steps(log_dir, "scalars", "gradnap/stability/01_net.conv2") == [3, 6]
    assert len(list(Path(log_dir).glob("profiles/*.npz"))) == 3


def test_the_pl_class_is_a_callback_of_both_namespaces() -> None:
    import lightning.pytorch as lightning_pytorch

    callback = PLGradNAPCallback(labels="labels")
    assert isinstance(callback, pl.Callback) and isinstance(callback, lightning_pytorch.Callback)
    assert callback.state_key == GradNAPCallback(labels="labels").state_key  # checkpoints move between them


def scores_of(output):
    """An ``output_transform`` for the YAML below (the tensor itself)."""
    return output


YAML = """
trainer:
  accelerator: cpu
  logger:
    class_path: {namespace}.loggers.TensorBoardLogger
    init_args:
      save_dir: {save_dir}
  callbacks:
    - class_path: {callback}
      init_args:
        labels: labels
        max_batches: 2
        output_transform: tests.callback.test_pytorch_lightning.scores_of
        channels_last: false
"""


@pytest.mark.parametrize(
    "namespace, callback",
    [
        ("pytorch_lightning", "lightning_gradnap.pytorch_lightning.GradNAPCallback"),
        ("lightning.pytorch", "lightning_gradnap.GradNAPCallback"),
    ],
    ids=["pytorch_lightning", "lightning.pytorch"],
)
def test_lightning_cli_of_either_namespace_reads_the_callback_from_yaml(namespace, callback, tmp_path) -> None:
    import importlib

    cli_class = importlib.import_module(f"{namespace}.cli").LightningCLI
    module_class = (
        PLTinyFrameModel
        if namespace == "pytorch_lightning"
        else importlib.import_module("tests.helpers.callback").TinyFrameModel
    )
    config = tmp_path / "config.yaml"
    config.write_text(YAML.format(namespace=namespace, save_dir=tmp_path, callback=callback))
    cli = cli_class(module_class, args=["--config", str(config)], run=False, save_config_kwargs={"overwrite": True})
    found = [c for c in cli.trainer.callbacks if isinstance(c, GradNAPCallback)]
    assert len(found) == 1 and found[0].reader.keys["labels"] == "labels"
    assert found[0].engine_options["output_transform"] is scores_of
    saved = cli.parser.dump(cli.config)  # what SaveConfigCallback writes next to the logs
    assert "output_transform: tests.callback.test_pytorch_lightning.scores_of" in saved


def test_without_pytorch_lightning_nothing_imports_it(tmp_path) -> None:
    script = textwrap.dedent(
        f"""
        import sys

        class BlockPytorchLightning:  # as if the package were not installed
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "pytorch_lightning":
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, BlockPytorchLightning())
        from lightning_gradnap import GradNAPCallback
        from tests.helpers.callback import TinyFrameData, TinyFrameModel, event_steps, trainer

        callback = GradNAPCallback(labels="labels", max_batches=1, views=["profile"])
        run = trainer({str(tmp_path)!r}, [callback], max_epochs=1)
        run.fit(TinyFrameModel(), TinyFrameData())
        assert event_steps(run.logger.log_dir, "images", "gradnap/profile/00_net.conv1") == [0, 3]
        assert not any(m.split(".")[0] == "pytorch_lightning" for m in sys.modules), "pytorch_lightning imported"
        try:
            import lightning_gradnap.pytorch_lightning
        except ImportError as error:
            assert "pip install pytorch-lightning" in str(error), error
        else:
            raise AssertionError("lightning_gradnap.pytorch_lightning imported without pytorch_lightning")
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
