"""Folding one batch's relevance into group sums: one small object per label level.

Every fold turns ``{name: values}`` of one batch into ``{name: (sums [2G + 1, ...], counts [2G + 1])}``
(rows of the two halves of the data, then a row that collects ignored frames) through
:class:`~lightning_gradnap.engine.group_sums.GroupSums`.
A new label level is one new module here with one :class:`Fold` subclass.
"""

from lightning_gradnap.engine.folds.base import BatchSums, Fold, FoldBatch, relevance_of
from lightning_gradnap.engine.folds.frame import FrameFold
from lightning_gradnap.engine.folds.halves import split_halves
from lightning_gradnap.engine.folds.input_window import InputWindowFold
from lightning_gradnap.engine.folds.utterance import UtteranceFold
from lightning_gradnap.engine.folds.window import WindowFold

__all__ = [
    "BatchSums",
    "Fold",
    "FoldBatch",
    "FrameFold",
    "InputWindowFold",
    "UtteranceFold",
    "WindowFold",
    "relevance_of",
    "split_halves",
]
