"""The callback for the ``pytorch_lightning`` namespace, at its documented path.

See :mod:`lightning_gradnap.callback.pytorch_lightning`; YAML configs name
``lightning_gradnap.pytorch_lightning.GradNAPCallback``.
"""

from lightning_gradnap.callback.pytorch_lightning import GradNAPCallback

__all__ = ["GradNAPCallback"]
