"""The engine's results side: its sums as a state (by half, for reductions), the profiles, feature views
and metadata read from it (:mod:`~lightning_gradnap.profiles.from_state`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lightning_gradnap.config import EngineOptions
from lightning_gradnap.engine.group_sums import SumsByName
from lightning_gradnap.profiles.from_state import StateContents, feature_views_from_state, profiles_of_method
from lightning_gradnap.profiles.result import FeatureViews, Profiles

__all__ = ["EngineResults"]


class EngineResults:
    """What :class:`~lightning_gradnap.engine.engine.ProfileEngine` gives from its sums (a base it builds on,
    with the attributes below set by its ``__init__``)."""

    options: EngineOptions
    layers: list[str]
    num_groups: int
    num_state_groups: int
    methods: list[str]
    method: str
    accumulated: SumsByName

    @property
    def skipped_batches(self) -> int:  # since the last reset, for relevance that was not finite
        return self.accumulated.skipped_batches

    def state(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return self.accumulated.state()  # by half, of every layer and input view with data, for reductions

    def feature_views(self, state: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None) -> FeatureViews | None:
        return feature_views_from_state(self.state() if state is None else state)  # None without input_window

    def result(
        self,
        group_names: Sequence[str] | None = None,
        group_categories: Sequence[str] | None = None,
        weight_by_count: bool = False,
        scale: str | None = None,
        state: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
        method: str | None = None,
    ) -> Profiles:
        """Normalised profiles of ``method`` (default: the first) from the sums (or from a given, e.g.
        reduced, ``state``): :func:`~lightning_gradnap.profiles.from_state.profiles_of_method`.

        Raises:
            ValueError: if no batch has been profiled or every group is absent.
        """
        state = self.state() if state is None else state
        return profiles_of_method(state, self.contents, method, group_names, group_categories, weight_by_count, scale)

    @property
    def contents(self) -> StateContents:
        """What :meth:`state` holds (methods, layers, groups) and the options for the files' metadata."""
        return StateContents(tuple(self.methods), tuple(self.layers), self.num_state_groups, self.metadata())

    def metadata(self, weight_by_count: bool = False, scale: str | None = None) -> dict[str, Any]:
        options = {key: getattr(self.options, key) for key in ("absolute", "label_level", "window", "window_center")}
        return {
            "method": self.method,
            **options,
            "objective": self.options.objective_name,
            "weight_by_count": weight_by_count,
            "scale": scale,
            "skipped_batches": self.skipped_batches,
            **self._split_metadata(),
        }

    def _split_metadata(self) -> dict[str, Any]:
        """``split_by_correctness`` (groups ``2 g`` right, ``2 g + 1`` wrong) and how blanks were judged, if on."""
        if not self.options.split_by_correctness:
            return {}
        return {"split_by_correctness": True, "blank_frames": self.options.blank_frames}
