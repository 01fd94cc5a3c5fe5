"""Model and batch to activations and gradients: batches, hooks, objectives, frame maps and the probe.

- :mod:`~lightning_gradnap.recording.batch`: :class:`ProfileBatch` (what one profiled batch holds) and
  :class:`BatchReader` (a Lightning batch's inputs, labels and lengths, found by key or attribute);
- :mod:`~lightning_gradnap.recording.hooks`: :class:`ActivationRecorder`, the forward hooks and the
  gradients of one scalar with respect to the recorded outputs;
- :mod:`~lightning_gradnap.recording.objectives`: the scalar whose gradients weight a GradNAP
  (:data:`OBJECTIVES`, or a callable of :class:`ObjectiveInputs`);
- :mod:`~lightning_gradnap.recording.frame_maps` and :mod:`~lightning_gradnap.recording.probe`: which
  input frames each layer frame stands for, found by probing the model (its forward in
  ``probe_forward``; receptive fields in ``probe_fields``, feeders in ``probe_feeders``, frame counts in
  ``probe_counts``).
"""

from lightning_gradnap.recording.batch import BatchReader, ProfileBatch
from lightning_gradnap.recording.frame_maps import CustomFrameMap, FrameMap
from lightning_gradnap.recording.hooks import ActivationRecorder, resolve_layers
from lightning_gradnap.recording.objectives import OBJECTIVES, ObjectiveInputs

__all__ = [
    "OBJECTIVES",
    "ActivationRecorder",
    "BatchReader",
    "CustomFrameMap",
    "FrameMap",
    "ObjectiveInputs",
    "ProfileBatch",
    "resolve_layers",
]
