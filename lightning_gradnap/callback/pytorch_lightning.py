""":class:`GradNAPCallback` for the ``pytorch_lightning`` namespace (``pip install pytorch-lightning``).

A ``pytorch_lightning.Trainer`` runs :class:`lightning_gradnap.GradNAPCallback` as it is, with either
namespace's ``TensorBoardLogger``. Only ``pytorch_lightning.cli.LightningCLI`` needs this class:
it accepts only subclasses of ``pytorch_lightning.Callback`` in ``trainer.callbacks``::

    trainer:
      callbacks:
        - class_path: lightning_gradnap.pytorch_lightning.GradNAPCallback
          init_args:
            labels: phoneme_labels

Importing this module imports ``pytorch_lightning``; nothing else in ``lightning_gradnap`` does.
"""

from __future__ import annotations

try:
    import pytorch_lightning
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "lightning_gradnap.pytorch_lightning needs the pytorch_lightning package (pip install pytorch-lightning); "
        "with the `lightning` package, use lightning_gradnap.GradNAPCallback"
    ) from error

from lightning_gradnap.callback.gradnap import GradNAPCallback as _GradNAPCallback

__all__ = ["GradNAPCallback"]


# The two namespaces' Callback classes are copies whose hooks name their own Trainer and module
# types, so mypy sees every hook defined twice, incompatibly; the callback accepts either at runtime.
class GradNAPCallback(_GradNAPCallback, pytorch_lightning.Callback):  # type: ignore[misc]
    __doc__ = _GradNAPCallback.__doc__
