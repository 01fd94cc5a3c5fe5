"""The callback's side of the opt-in causal check (docs/faithfulness.md): after a profiling, zero each group's
top-k neurons by GradNAP (and by NAP, and k random ones) at that group's own frames of the first validation
batches, and score the objective's drop against the random one.

The selections come from the reduced sums, on every rank alike; each rank forwards its own batches; the
drops are summed over the processes in one collective call; the scores go into the profiling's analysis
(:func:`~lightning_gradnap.analysis.profiling.profile_state`), so into the file, the scalars and the
custom-scalars chart. The pure part is :mod:`lightning_gradnap.engine.faithfulness`.
"""

from __future__ import annotations

import difflib
import itertools
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn

from lightning_gradnap.analysis.score_keys import FAITHFULNESS, FAITHFULNESS_DROPS
from lightning_gradnap.config import AnalysisOptions, FaithfulnessOptions
from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.engine.faithfulness import faithfulness_ratio, layer_selections, measure_drops
from lightning_gradnap.profiles.from_state import State, profiles_of_method
from lightning_gradnap.recording.batch import BatchReader
from lightning_gradnap.recording.hooks import resolve_layers

__all__ = ["FaithfulnessCheck", "Scores"]

Scores = dict[str, dict[str, float]]  # layer -> score key -> value
SEED = 0  # the random neurons' draw: the same in every run and on every rank (plus the layer's position)


class FaithfulnessCheck:
    """The causal check of one callback: its options (:class:`~lightning_gradnap.config.FaithfulnessOptions`)
    and the NaN reasons already warned about.

    Args:
        k, layers, batches: As the callback's ``faithfulness_k``, ``faithfulness_layers``, ``faithfulness_batches``.

    Raises:
        ValueError: for an option out of its range (named).
    """

    def __init__(self, k: int | None, layers: Sequence[str] | None, batches: int) -> None:
        self.options = FaithfulnessOptions(k, layers, batches)
        self.layers: list[str] = []
        self._warned: set[str] = set()

    def setup(self, profiled: Sequence[str]) -> None:
        """The layers to check, among the ``profiled`` ones.

        Raises:
            ValueError: for a ``faithfulness_layers`` name that is not profiled (with the closest ones).
        """
        chosen = list(profiled if self.options.layers is None else self.options.layers)
        for name in chosen:
            if name not in profiled:
                close = difflib.get_close_matches(name, profiled, n=3, cutoff=0.4)
                hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
                raise ValueError(
                    f"`faithfulness_layers` names {name!r}, which is not profiled{hint}: the check ablates by the "
                    f"layer's own profile, so pick from the profiled layers {list(profiled)}"
                )
        self.layers = chosen

    def measurer(
        self, trainer: L.Trainer, pl_module: L.LightningModule, model: nn.Module, reader: BatchReader, engine: Any
    ) -> Callable[[State, AnalysisOptions], Scores] | None:
        """What :func:`~lightning_gradnap.callback.epoch_end.profile_validation` calls with the reduced state, on
        every rank; ``None`` when the check is off."""
        if self.options.k is None or not self.layers:
            return None
        return lambda state, options: self.measure(trainer, pl_module, model, reader, engine, state, options)

    def measure(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        model: nn.Module,
        reader: BatchReader,
        engine: ProfileEngine,
        state: State,
        options: AnalysisOptions,
    ) -> Scores:
        """The scores of every checked layer (a collective call: on every rank).

        Args:
            trainer: Gives the validation batches, moves them to the device and sums the drops over processes.
            pl_module: The LightningModule (the layers' names, the labels' method).
            model: The module whose forward gives the scores.
            reader: Reads each batch as the profiling does.
            engine: The engine of this profiling (its objective, frame maps and layouts).
            state: The sums reduced over the processes.
            options: How the profiles are normalised.
        """
        assert self.options.k is not None
        selections = {
            name: self._selections(engine, state, options, name, index) for index, name in enumerate(self.layers)
        }
        kinds = ["frames", *engine.methods, "random"]
        totals = torch.zeros(len(self.layers), len(kinds), dtype=torch.float64)
        modules = resolve_layers(pl_module, self.layers)
        for batch in self._batches(trainer):
            profile_batch, label_fn = reader.read(trainer.strategy.batch_to_device(batch), pl_module)
            drops = measure_drops(engine, model, modules, profile_batch, selections, label_fn)
            totals += torch.tensor([[drops[name][kind] for kind in kinds] for name in self.layers], dtype=torch.float64)
        totals = trainer.strategy.reduce(totals.to(trainer.strategy.root_device), reduce_op="sum").cpu()
        return {
            name: self._scores(name, dict(zip(kinds, row.tolist(), strict=True)))
            for name, row in zip(self.layers, totals, strict=True)
        }

    def _selections(
        self, engine: ProfileEngine, state: State, options: AnalysisOptions, name: str, index: int
    ) -> dict[str, torch.Tensor]:
        profiles = {}
        with warnings.catch_warnings():  # absent groups: the profiling itself reports them
            warnings.simplefilter("ignore")
            for method in engine.methods:
                found = profiles_of_method(
                    state, engine.contents, method, None, None, options.weight_by_count, options.scale
                )
                profiles[method] = found[name].profile
        neurons = next(iter(profiles.values())).shape[1]
        k = self.options.k
        assert k is not None
        if k >= neurons:
            self._warn(
                f"{name}/k",
                f"faithfulness_k={k} is not below the {neurons} neurons of {name!r}: every neuron is zeroed, "
                "so its scores are 1",
            )
        return layer_selections(profiles, min(k, neurons), SEED + index)

    def _batches(self, trainer: L.Trainer) -> Iterator[Any]:
        """The first ``batches`` of the first validation dataloader (the one profiled), as this process sees it."""
        loaders = trainer.val_dataloaders
        loader = loaders[0] if isinstance(loaders, Sequence) else loaders
        return itertools.islice(iter(loader if loader is not None else ()), self.options.batches)

    def _scores(self, name: str, drops: dict[str, float]) -> dict[str, float]:
        scores = {
            FAITHFULNESS[method]: faithfulness_ratio(drops[method], drops["random"])
            for method in FAITHFULNESS
            if method in drops
        }
        frames = max(drops["frames"], 1.0)
        scores.update({FAITHFULNESS_DROPS[kind]: drops[kind] / frames for kind in FAITHFULNESS_DROPS if kind in drops})
        if not np.isfinite(drops["random"]) or drops["random"] <= 0:
            why = (
                "no labelled frame in its batches"
                if drops["frames"] == 0
                else f"the random neurons' drop is {drops['random']:.3g}"
            )
            self._warn(
                f"{name}/random",
                f"faithfulness of {name!r} is NaN: {why} (nothing to read the top neurons' drop against); "
                "try a larger faithfulness_k or more faithfulness_batches",
            )
        if "nap" not in drops:
            self._warn("nap", "faithfulness_nap needs the NAP profiles too: profile with method=[gradnap, nap]")
        return scores

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            rank_zero_warn(f"GradNAPCallback: {message}")
