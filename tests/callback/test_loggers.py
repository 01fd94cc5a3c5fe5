"""Every Lightning logger gets the views (issue 21, point 3), read back by the logger's own format or client:
W&B offline, MLflow's file store, CSV, and TensorBoard next to CSV; the ``.npz`` files and the report whatever
the logger."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from lightning_gradnap import GradNAPCallback
from lightning_gradnap.dashboard.data import Dashboard
from lightning_gradnap.dashboard.report import write_report
from tests.helpers.callback import LOW_RELIABILITY, TinyFrameData, TinyFrameModel, event_steps, read_events, trainer
from tests.helpers.loggers import mlflow_file_store, wandb_history, wandb_offline  # noqa: F401 (fixtures)

pytestmark = [LOW_RELIABILITY]

PNG = b"\x89PNG\r\n\x1a\n"
VIEWS = ["profile", "scalars", "profile_replay"]  # a figure watched over steps, the scores and the end-of-fit replay
STABILITY = "gradnap/stability/01_net.conv2"  # a score with one value (step 6: it needs a previous profiling)
SILHOUETTE = "gradnap/silhouette/00_net.conv1"  # a score at both profiled steps


def fit(tmp_path: Path, logger, views=VIEWS) -> tuple[GradNAPCallback, object]:
    torch.manual_seed(0)
    callback = GradNAPCallback(labels="labels", max_batches=2, num_clusters=2, views=views)
    run = trainer(tmp_path, [callback], logger=logger)
    run.fit(TinyFrameModel(), TinyFrameData())  # 3 training batches per epoch: profiled at steps 3 and 6
    return callback, run


def expected_scores(callback: GradNAPCallback) -> dict[str, list[float]]:
    return {
        STABILITY: [float(v) for v in callback.metrics["net.conv2/stability"] if np.isfinite(v)],
        SILHOUETTE: [float(v) for v in callback.metrics["net.conv1/silhouette"]],
    }


def assert_report_finds(root: Path, folder: Path, tmp_path: Path) -> None:
    """The dashboard and the report read the run's three ``.npz`` files from ``<folder>/profiles``."""
    assert sorted(p.name for p in (folder / "profiles").glob("*.npz")) == [
        "epoch=000-step=000000.npz",  # the untrained network, before the first training step
        "epoch=000-step=000003.npz",
        "epoch=001-step=000006.npz",
    ]
    dashboard = Dashboard(root)
    (run,) = [
        name for name, path in dashboard.runs().items() if Path(path).resolve() == (folder / "profiles").resolve()
    ]
    assert len(dashboard.files(run)) == 3
    report = write_report(root, tmp_path / "report.html", progress=False)
    assert "gradnap-index" in report.read_text()


def test_wandb_offline_gets_the_figures_and_the_scores(tmp_path, wandb_offline) -> None:  # noqa: F811
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(project="gradnap", save_dir=str(tmp_path), offline=True)
    callback, run = fit(tmp_path, logger)
    run_dir = Path(logger.experiment.dir).parent
    logger.experiment.finish()
    wandb_offline.teardown()  # finish() returns before wandb's core has written the run file; teardown waits
    rows = wandb_history(run_dir)

    def steps(key: str) -> list[int]:
        return [row["trainer/global_step"] for row in rows if key in row]

    for view in ("profile", "profile_replay"):  # the tracked heatmaps as logged, and the replay in the final order
        images = [row for row in rows if f"gradnap/{view}/00_net.conv1/filenames" in row]
        assert [row["trainer/global_step"] for row in images] == [0, 3, 6]
        for row in images:
            (name,) = row[f"gradnap/{view}/00_net.conv1/filenames"]
            assert (run_dir / "files" / name).read_bytes().startswith(PNG)
    for key, values in expected_scores(callback).items():  # one log_metrics call per profiling
        assert [row[key] for row in rows if key in row] == values
    assert steps(SILHOUETTE) == [0, 3, 6] and steps(STABILITY) == [3, 6]
    assert not [key for row in rows for key in row if "projector" in key or "custom" in key]  # TensorBoard's only
    assert run.log_dir == str(tmp_path)  # the logger's save_dir, which every run shares: not the files' folder
    assert_report_finds(tmp_path, tmp_path / "gradnap" / logger.version, tmp_path)  # <save_dir>/<project>/<run id>


def test_mlflow_file_store_gets_the_figures_and_the_scores(tmp_path, mlflow_file_store) -> None:  # noqa: F811
    from lightning.pytorch.loggers import MLFlowLogger
    from mlflow.tracking import MlflowClient

    logger = MLFlowLogger(experiment_name="gradnap", tracking_uri=mlflow_file_store)
    callback, run = fit(tmp_path, logger)
    client = MlflowClient(tracking_uri=mlflow_file_store)
    for key, values in expected_scores(callback).items():
        history = client.get_metric_history(logger.run_id, key)
        assert [metric.value for metric in history] == values
    assert [m.step for m in client.get_metric_history(logger.run_id, SILHOUETTE)] == [0, 3, 6]
    images = [artifact.path for artifact in client.list_artifacts(logger.run_id, "images")]
    for view in ("profile", "profile_replay"):  # MLflow names a stepped image <key, / as ~>+step+<step>+...
        logged = [path for path in images if path.startswith(f"images/gradnap~{view}~00_net.conv1+step+")]
        pngs = sorted(path for path in logged if path.endswith(".png"))
        assert [int(path.split("+step+")[1].split("+")[0]) for path in pngs] == [0, 3, 6]
        local = client.download_artifacts(logger.run_id, pngs[0], str(tmp_path / "download"))
        assert Path(local).read_bytes().startswith(PNG)
    # the files in MLflow's own folder of the run (<store>/<experiment id>/<run id>), not in the store's root,
    # where MLflow would take their folder for a malformed experiment; MLflow reads the store as before
    store = Path(run.log_dir)
    assert_report_finds(tmp_path, store / logger.experiment_id / logger.run_id, tmp_path)
    assert sorted(path.name for path in store.iterdir() if not path.name.startswith(".")) == ["0", logger.experiment_id]
    assert [experiment.name for experiment in client.search_experiments()] == ["gradnap", "Default"]
    assert client.get_run(logger.run_id).info.status == "FINISHED"
    assert [r.info.run_id for r in client.search_runs([logger.experiment_id])] == [logger.run_id]


def csv_scores(log_dir: str) -> dict[str, list[tuple[int, float]]]:
    with open(Path(log_dir) / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    keys = {key for row in rows for key in row if key.startswith("gradnap/")}
    return {key: [(int(row["step"]), float(row[key])) for row in rows if row.get(key)] for key in keys}


def test_csv_logger_gets_the_scores_only(tmp_path) -> None:
    with pytest.warns(UserWarning, match=r"loggers \(CSVLogger\) take no images: they get the GradNAP scores only"):
        callback, run = fit(tmp_path, CSVLogger(str(tmp_path)), views=None)  # every default view asked for
    scores = csv_scores(run.logger.log_dir)
    assert {
        key: [value for _, value in values] for key, values in scores.items() if key in (STABILITY, SILHOUETTE)
    } == (expected_scores(callback))
    assert [step for step, _ in scores[SILHOUETTE]] == [0, 3, 6]
    assert not list(tmp_path.glob("**/*.png")) and not list(tmp_path.glob("**/events.out.tfevents.*"))
    assert_report_finds(tmp_path, Path(run.logger.log_dir), tmp_path)


def test_tensorboard_and_csv_at_once_each_get_theirs(tmp_path) -> None:
    loggers = [TensorBoardLogger(str(tmp_path), name="tb"), CSVLogger(str(tmp_path), name="csv")]
    callback, run = fit(tmp_path, loggers, views=[*VIEWS, "projector"])
    tensorboard, table = loggers[0].log_dir, loggers[1].log_dir
    assert event_steps(tensorboard, "images", "gradnap/profile/00_net.conv1") == [0, 3, 6]
    assert event_steps(tensorboard, "images", "gradnap/profile_replay/00_net.conv1") == [0, 3, 6]
    events = read_events(tensorboard)
    assert "custom_scalars__config__" in events.Tags()["tensors"]  # TensorBoard keeps its extras
    assert (Path(tensorboard) / "projector_config.pbtxt").exists()
    scores = csv_scores(table)
    for key in (STABILITY, SILHOUETTE):  # the same numbers under the same tags (TensorBoard keeps float32)
        logged = [(event.step, event.value) for event in events.Scalars(key)]
        assert [step for step, _ in logged] == [step for step, _ in scores[key]]
        assert [value for _, value in logged] == pytest.approx([value for _, value in scores[key]], rel=1e-6)
    assert sorted(key for key in events.Tags()["scalars"] if key.startswith("gradnap/")) == sorted(scores)
    assert_report_finds(tmp_path, Path(tensorboard), tmp_path)  # the first logger's log_dir


class ImageFailingCSVLogger(CSVLogger):
    """A logger whose images fail (as a full disk or a lost connection would), its scalars not."""

    def log_image(self, key: str, images: list, step: int | None = None) -> None:
        raise OSError(f"no space left for {key}")


def test_a_failing_logger_is_warned_about_once_and_training_goes_on(tmp_path) -> None:
    with pytest.warns(RuntimeWarning, match="ImageFailingCSVLogger failed to take a view") as caught:
        callback, run = fit(tmp_path, ImageFailingCSVLogger(str(tmp_path)))
    assert len([w for w in caught if "failed to take a view" in str(w.message)]) == 1
    assert run.global_step == 6 and len(callback.history["steps"]) == 3
    assert [value for _, value in csv_scores(run.logger.log_dir)[STABILITY]] == expected_scores(callback)[STABILITY]


def test_the_pytorch_lightning_namespace_feeds_its_loggers_the_same(tmp_path) -> None:
    pl = pytest.importorskip("pytorch_lightning")
    from pytorch_lightning.loggers import CSVLogger as PLCSVLogger
    from pytorch_lightning.loggers import TensorBoardLogger as PLTensorBoardLogger

    from tests.callback.test_pytorch_lightning import PLTinyFrameModel

    torch.manual_seed(0)
    callback = GradNAPCallback(labels="labels", max_batches=2, num_clusters=2, views=VIEWS)
    loggers = [PLTensorBoardLogger(str(tmp_path), name="tb"), PLCSVLogger(str(tmp_path), name="csv")]
    options = dict(max_epochs=2, accelerator="cpu", devices=1, enable_progress_bar=False, log_every_n_steps=1)
    run = pl.Trainer(
        callbacks=[callback], logger=loggers, enable_checkpointing=False, enable_model_summary=False, **options
    )
    data = TinyFrameData()
    run.fit(PLTinyFrameModel(), data.train_dataloader(), data.val_dataloader())
    assert event_steps(loggers[0].log_dir, "images", "gradnap/profile/00_net.conv1") == [0, 3, 6]
    scores = csv_scores(loggers[1].log_dir)  # no categories here (the data loaders alone): no silhouette
    reliability = [
        (step, float(value)) for step, value in zip([0, 3, 6], callback.metrics["net.conv1/reliability"], strict=True)
    ]
    assert scores["gradnap/reliability/00_net.conv1"] == reliability
    assert [value for _, value in scores[STABILITY]] == expected_scores(callback)[STABILITY]
    assert event_steps(loggers[0].log_dir, "scalars", "gradnap/reliability/00_net.conv1") == [0, 3, 6]
    assert not list(Path(loggers[1].log_dir).glob("**/*.png"))
