"""The Lightning side: the callback, its schedule, history and loggers (the only package that imports lightning).

- :mod:`~lightning_gradnap.callback.gradnap`: :class:`GradNAPCallback`, the thin adapter;
- :mod:`~lightning_gradnap.callback.schedule`: when to profile (:class:`ProfilingSchedule`);
- :mod:`~lightning_gradnap.callback.history`: the run's record of profilings, kept in checkpoints
  (:class:`ProfileHistory`);
- :mod:`~lightning_gradnap.callback.shared_forward`: profiling from the validation step's own forward;
- :mod:`~lightning_gradnap.callback.loggers`: every logger of the Trainer, of either Lightning namespace, as one
  view sink, and the run's log directory;
- :mod:`~lightning_gradnap.callback.logger_sink`: a logger other than TensorBoard as a view sink (:class:`LoggerSink`);
- :mod:`~lightning_gradnap.callback.pytorch_lightning`: the callback for the ``pytorch_lightning``
  namespace (imported only on request).
"""

from lightning_gradnap.callback.gradnap import GradNAPCallback
from lightning_gradnap.callback.history import ProfileHistory
from lightning_gradnap.callback.schedule import ProfilingSchedule

__all__ = ["GradNAPCallback", "ProfileHistory", "ProfilingSchedule"]
