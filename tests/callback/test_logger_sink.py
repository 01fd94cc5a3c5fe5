"""The view sinks without a Trainer: a Lightning logger behind :class:`LoggerSink` (called only from the thread
that made it), and :class:`Sinks` (several sinks as one, TensorBoard's extras to TensorBoard only)."""

from __future__ import annotations

import csv
import gc
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest
from lightning.pytorch.loggers import CSVLogger
from torch.utils.tensorboard import SummaryWriter

from lightning_gradnap.callback.logger_sink import LoggerSink, image_route
from lightning_gradnap.summary.sinks import Sinks, takes_images
from tests.helpers.callback import read_events
from tests.helpers.loggers import mlflow_file_store  # noqa: F401 (a fixture)


def csv_rows(logger: CSVLogger) -> list[dict[str, str]]:
    path = Path(logger.log_dir) / "metrics.csv"
    if not path.exists():
        return []
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_what_another_thread_gives_waits_for_the_owner_thread(tmp_path) -> None:
    logger = CSVLogger(str(tmp_path))
    sink = LoggerSink(logger)

    def figure_thread() -> None:
        sink.add_scalar("gradnap/silhouette/00_a", 0.25, 3)
        sink.add_scalar("gradnap/ami/00_a", 0.5, 3)
        sink.add_scalar("gradnap/silhouette/00_a", 0.75, 6)
        sink.flush()

    worker = threading.Thread(target=figure_thread)
    worker.start()
    worker.join()
    assert csv_rows(logger) == [] and logger.experiment.metrics == []  # nothing passed on from the worker
    sink.deliver()  # here, in the thread that made the sink: one log_metrics per step, then save()
    rows = [{key: value for key, value in row.items() if value} for row in csv_rows(logger)]
    assert rows == [
        {"step": "3", "gradnap/silhouette/00_a": "0.25", "gradnap/ami/00_a": "0.5"},
        {"step": "6", "gradnap/silhouette/00_a": "0.75"},
    ]


def test_flush_in_the_owner_thread_delivers_at_once(tmp_path) -> None:
    logger = CSVLogger(str(tmp_path))
    sink = LoggerSink(logger)
    sink.add_scalar("gradnap/stability/01_b", 0.125, 6)
    sink.add_image("gradnap/profile/01_b", np.zeros((4, 5, 3), np.uint8), 6, dataformats="HWC")  # CSV: dropped
    sink.flush()
    assert [row["gradnap/stability/01_b"] for row in csv_rows(logger)] == ["0.125"]
    assert not sink.takes_images and image_route(logger) is None


def test_images_must_be_height_width_channels(tmp_path, mlflow_file_store) -> None:  # noqa: F811
    from lightning.pytorch.loggers import MLFlowLogger

    sink = LoggerSink(MLFlowLogger(tracking_uri=mlflow_file_store))  # takes images through MLflow's client
    assert sink.takes_images
    with pytest.raises(ValueError, match="dataformats='HWC'"):
        sink.add_image("gradnap/profile/00_a", np.zeros((3, 4, 5), np.uint8), 3)  # SummaryWriter's default CHW


def test_sinks_send_each_call_to_each_sink_and_the_extras_to_those_that_have_them(tmp_path) -> None:
    logger = CSVLogger(str(tmp_path), name="csv")
    writer = SummaryWriter(str(tmp_path / "tb"))
    both = Sinks([writer, LoggerSink(logger)])
    assert both.takes_images and not Sinks([LoggerSink(logger)]).takes_images and takes_images(writer)
    both.add_scalar("gradnap/silhouette/00_a", 0.5, 3)
    both.add_image("gradnap/profile/00_a", np.full((4, 5, 3), 200, np.uint8), 3, dataformats="HWC")
    both.add_embedding(np.eye(3), metadata=["x", "y", "z"], global_step=3, tag="gradnap/a")  # TensorBoard only
    both.add_custom_scalars({"gradnap": {"silhouette": ["Multiline", ["gradnap/silhouette/.*"]]}})
    both.flush()
    writer.close()
    events = read_events(str(tmp_path / "tb"))
    assert [(e.step, e.value) for e in events.Scalars("gradnap/silhouette/00_a")] == [(3, 0.5)]
    assert [image.step for image in events.Images("gradnap/profile/00_a")] == [3]
    assert (tmp_path / "tb" / "projector_config.pbtxt").exists()
    assert [row["gradnap/silhouette/00_a"] for row in csv_rows(logger)] == ["0.5"]
    with pytest.raises(AttributeError, match="add_\\* methods"):
        both.close  # noqa: B018 (only add_* methods, flush and deliver are passed on)


def test_a_sink_does_not_keep_its_logger_alive(tmp_path) -> None:
    logger = CSVLogger(str(tmp_path))
    sink = LoggerSink(logger)  # cached per logger for the Trainer's life: a weak reference
    alive = weakref.ref(logger)
    sink.add_scalar("gradnap/silhouette/00_a", 0.5, 3)
    del logger
    gc.collect()
    assert alive() is None
    sink.flush()  # the logger is gone: nothing to pass on, no error
