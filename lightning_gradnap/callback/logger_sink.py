"""A Lightning logger other than TensorBoard as a view sink (docs/loggers.md).

Scalars go through the logger's ``log_metrics(metrics, step)``, one call per step with every score of a
profiling, under the TensorBoard tag names. Images go where the logger takes them:

- ``logger.log_image(key=, images=[...], step=)`` where the logger has it (``WandbLogger``);
- ``MLFlowLogger`` has none: its ``MlflowClient`` takes them (``log_image(run_id, image, key=, step=)``);
- ``CometLogger`` has none: its ``comet_ml`` experiment takes them (``log_image(image, name=, step=)``);
- any other logger (``CSVLogger``) gets the scalars only.

Lightning's loggers are called only from the thread that made the sink (the training thread): what the
figure thread gives is queued and passed on by :meth:`LoggerSink.deliver`. A logger that raises is warned
about once; training goes on. Neither namespace is imported: loggers are recognised by their class names.
"""

from __future__ import annotations

import re
import threading
import warnings
import weakref
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

__all__ = ["LoggerSink", "image_route"]

ImageRoute = Callable[[str, np.ndarray, int], None]


def _class_names(logger: Any) -> set[str]:
    return {cls.__name__ for cls in type(logger).__mro__}


def image_route(logger: Any) -> ImageRoute | None:
    """How ``logger`` takes one ``[H, W, 3]`` uint8 image under a tag at a step, or None (scalars only)."""
    if callable(getattr(logger, "log_image", None)):
        return lambda tag, image, step: logger.log_image(key=tag, images=[image], step=step)
    names = _class_names(logger)
    if "MLFlowLogger" in names:  # MLflow keys allow letters, digits and "_-./ " only
        return lambda tag, image, step: logger.experiment.log_image(
            logger.run_id, image, key=re.sub(r"[^a-zA-Z0-9_\-./ ]+", "", tag), step=step
        )
    if "CometLogger" in names:  # untested here: comet_ml is not installed in the test environment
        return lambda tag, image, step: logger.experiment.log_image(image, name=tag, step=step)
    return None


class LoggerSink:
    """A Lightning logger with the view-sink interface (:class:`~lightning_gradnap.summary.sinks.ViewSink`).

    The sink holds the logger by a weak reference (it is cached per logger in
    :mod:`~lightning_gradnap.callback.loggers`, and must not keep a finished run's logger alive).

    Args:
        logger: A Lightning logger of either namespace (not a ``TensorBoardLogger``: its ``SummaryWriter``
            is a sink as it is).
    """

    def __init__(self, logger: Any) -> None:
        self._logger = weakref.ref(logger)
        self.name = type(logger).__name__
        self.takes_images = image_route(logger) is not None  # W&B, MLflow, Comet; else the scalars only
        self._owner = threading.get_ident()
        self._scalars: dict[int, dict[str, float]] = {}  # this profiling's, by step, until flush()
        self._queue: deque[tuple[str, Any, int]] = deque()  # ("image", (tag, array), step) or ("scalars", dict, step)
        self._warned = False

    def add_image(self, tag: str, img_tensor: Any, global_step: int | None = None, dataformats: str = "CHW") -> None:
        """Queue one image; ``dataformats`` must be ``"HWC"`` (what the views give)."""
        if not self.takes_images:
            return
        if dataformats != "HWC":
            raise ValueError(f"LoggerSink takes [H, W, C] images (dataformats='HWC'), got dataformats={dataformats!r}")
        self._queue.append(("image", (tag, np.asarray(img_tensor)), int(global_step or 0)))

    def add_scalar(self, tag: str, scalar_value: float, global_step: int | None = None) -> None:
        """Keep one number for the next :meth:`flush` (one ``log_metrics`` call per step)."""
        self._scalars.setdefault(int(global_step or 0), {})[tag] = float(scalar_value)

    def flush(self) -> None:
        """Queue the kept scalars; in the thread that made the sink, :meth:`deliver` everything at once."""
        scalars, self._scalars = self._scalars, {}
        self._queue.extend(("scalars", metrics, step) for step, metrics in sorted(scalars.items()))
        if threading.get_ident() == self._owner:
            self.deliver()

    def deliver(self) -> None:
        """Pass every queued image and score on to the logger, then ``logger.save()`` (``CSVLogger`` writes its
        file). Nothing if the logger is gone.

        A call that raises costs that call only: the first failure warns, naming the logger; the others
        are passed on all the same.
        """
        logger = self._logger()
        if logger is None:
            self._queue.clear()
            return
        if not self._queue:
            return
        route = image_route(logger)
        while self._queue:
            kind, payload, step = self._queue.popleft()
            if kind == "scalars":
                self._try(partial(logger.log_metrics, payload, step))
            elif route is not None:
                tag, image = payload
                self._try(partial(route, tag, image, step))
        self._try(logger.save)

    def _try(self, call: Callable[[], Any]) -> None:
        try:
            call()
        except Exception as error:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"GradNAPCallback: the {self.name} failed to take a view or score ({type(error).__name__}: "
                    f"{error}); training goes on and the {self.name} may miss some GradNAP views (warned once). "
                    "The .npz files and the other loggers are not affected.",
                    RuntimeWarning,
                    stacklevel=2,
                )
