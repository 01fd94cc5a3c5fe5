"""Helpers that the CLI subprocesses of tests/callback/test_distributed.py load by class path."""

from __future__ import annotations

import lightning as L
from torch import nn


class FreezeBatchNorm(L.Callback):
    """Keep batch-norm layers in eval mode while training, so that their statistics do not move:
    with learning rate 0 the weights are then the same in every process and every run."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        for module in pl_module.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
