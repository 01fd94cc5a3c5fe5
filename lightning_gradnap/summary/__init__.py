"""The SummaryWriter side: tag names, the views of a profiling, the writer, the replay and the sinks.

- :mod:`~lightning_gradnap.summary.views`: :func:`write_views`, every view of one profiling
  (:mod:`~lightning_gradnap.summary.step_views` logs the per-step ones);
- :mod:`~lightning_gradnap.summary.tags`: tag names grouped by view, layers numbered in network order;
- :mod:`~lightning_gradnap.summary.writer`: :class:`ProfileWriter`, the ``.npz`` file at once and
  the views in a figure thread;
- :mod:`~lightning_gradnap.summary.replay`: :func:`replay`, every profiled step again in the final order;
- :mod:`~lightning_gradnap.summary.sinks`: :class:`ViewSink` (what the views write to: a ``SummaryWriter``,
  or a logger's sink) and :class:`Sinks` (several at once).

Works with any ``SummaryWriter`` or view sink; no Trainer needed.
"""

from lightning_gradnap.summary.replay import ReplayReport, replay, replay_history
from lightning_gradnap.summary.sinks import Sinks, ViewSink
from lightning_gradnap.summary.tags import layer_tag, numbered_layers
from lightning_gradnap.summary.views import write_views
from lightning_gradnap.summary.writer import ProfileWriter

__all__ = [
    "ProfileWriter",
    "ReplayReport",
    "Sinks",
    "ViewSink",
    "layer_tag",
    "numbered_layers",
    "replay",
    "replay_history",
    "write_views",
]
