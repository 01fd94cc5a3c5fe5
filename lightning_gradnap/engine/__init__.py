"""Relevance to streaming group sums: the engine, folds, segments, sums and their reduction over processes.

- :mod:`~lightning_gradnap.engine.engine`: :class:`ProfileEngine`, one profiling's forward, backward
  and fold of each batch into per-group sums, and the :class:`~lightning_gradnap.Profiles` they give;
- :mod:`~lightning_gradnap.engine.folds`: one fold per label level (frame, utterance, window, input window);
- :mod:`~lightning_gradnap.engine.group_sums` and :mod:`~lightning_gradnap.engine.segments`: the sums
  on the device and the labelled segments they are folded over;
- :mod:`~lightning_gradnap.engine.reduction`: :func:`reduce_state`, the sums of every process added up.
"""

from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.engine.reduction import NothingProfiled, reduce_state

__all__ = ["NothingProfiled", "ProfileEngine", "reduce_state"]
