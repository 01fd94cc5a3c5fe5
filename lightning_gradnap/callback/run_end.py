"""The callback's end of a run and its checkpointed state: a mixin of :class:`GradNAPCallback`, kept apart so
that the callback's file stays about the data path (what a checkpoint keeps; the writes finished, then replayed)."""

from __future__ import annotations

import warnings
from typing import Any

import lightning as L
import numpy as np

from lightning_gradnap.callback.history import ProfileHistory
from lightning_gradnap.callback.loggers import summary_writer
from lightning_gradnap.callback.runs import warn_if_any
from lightning_gradnap.callback.schedule import ProfilingSchedule
from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.summary.replay import replay_history
from lightning_gradnap.summary.topomap_views import replay_topomap_history
from lightning_gradnap.summary.writer import ProfileWriter

__all__ = ["RunEnd"]


class RunEnd:
    """``on_fit_end`` (the replays), the writer closed at the end of ``validate()`` and at teardown, and the
    checkpointed state (``state_dict``, ``load_state_dict``, :attr:`history`, :attr:`metrics`)."""

    _history: ProfileHistory
    schedule: ProfilingSchedule
    writer: ProfileWriter
    engine: ProfileEngine | None
    save_profiles: bool

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.writer.close()
        replays = (("profile_replay", replay_history), ("topomap", replay_topomap_history))
        for view, replay in replays:
            if view in self.writer.views and self.save_profiles and trainer.is_global_zero:
                try:  # each layer's failure is a warning already (and unreadable files): this is the rest
                    replay(summary_writer(trainer), self._history.resolved())
                except Exception as error:  # a replay never fails the fit it ends
                    warnings.warn(
                        f"GradNAP: the {view} replay at the end of fit failed and is left out "
                        f"({type(error).__name__}: {error}); the profile files and the other views are written",
                        RuntimeWarning,
                        stacklevel=2,
                    )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != "fit":
            self.writer.close()  # trainer.validate(): finish before the logger closes

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.writer.close()

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "validations": self.schedule.validations}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._history.load(state_dict["history"])
        self.schedule.validations = int(state_dict.get("validations", 0))
        self.schedule.restored_steps = set(self._history.state["steps"])
        if self.engine is not None:  # after setup (as in a resumed fit): the layers are known
            warn_if_any(self._history.keep_layers(self.engine.layers))

    @property
    def history(self) -> dict[str, Any]:
        """Steps, epochs, files and ``metrics`` of every profiling so far (plain data, as checkpointed)."""
        return self._history.state

    @property
    def metrics(self) -> dict[str, np.ndarray]:  # each ``<layer>/<metric>`` over the steps (global rank zero)
        return self._history.metrics
