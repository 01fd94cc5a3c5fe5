"""What is known about the groups: names, categories and features, given or looked up.

A user gives them as lists, or names attributes that the data module or the LightningModule
holds (looked up in that order), e.g. a data module's ``group_names`` property.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SIDES", "GroupSources", "Groups", "lookup_names", "split_group_names", "unsplit_group"]

#: The two sides of a group split by the model's correctness, in index order: ``2 g`` right, ``2 g + 1`` wrong.
SIDES = ("correct", "wrong")


def split_group_names(names: Sequence[str]) -> list[str]:
    """``["aa correct", "aa wrong", "ae correct", ...]``: the ``2G`` names of the groups split by correctness
    (plain ASCII suffixes, fit for TensorBoard tags and file names)."""
    return [f"{name} {side}" for name in names for side in SIDES]


def unsplit_group(name: str) -> tuple[str, str]:
    """``("aa", "wrong")`` of ``"aa wrong"``; ``(name, "")`` for a name without a side."""
    base, _, side = name.rpartition(" ")
    return (base, side) if base and side in SIDES else (name, "")


@dataclass
class Groups:
    """Names ``[G]``, categories ``[G]`` (or None) and features ``[G, D]`` (or None) of the groups."""

    names: list[str]
    categories: list[str] | None = None
    features: np.ndarray | None = None

    def split_by_correctness(self) -> Groups:
        """The ``2G`` groups ``"g correct"``, ``"g wrong"`` (:func:`split_group_names`), each side with its group's
        category and features."""
        features = None if self.features is None else np.repeat(self.features, 2, axis=0)
        categories = None if self.categories is None else [c for c in self.categories for _ in SIDES]
        return Groups(split_group_names(self.names), categories, features)


@dataclass
class GroupSources:
    """Where the groups' names, categories and features come from: lists, or attribute names.

    Args:
        names: The names, or the attribute that holds them.
        categories: One category per group, or the attribute; ``None`` looks for ``group_categories``.
        features: ``[G, D]`` numbers per group, or the attribute; ``None`` looks for ``group_features``
            and uses it if it has one row per group.
        num_groups: ``G`` when there are no names (they are then ``"0" .. "G-1"``).
    """

    names: str | Sequence[str] = "group_names"
    categories: str | Sequence[str] | None = None
    features: str | Sequence[Sequence[float]] | None = None
    num_groups: int | None = None

    def resolve(self, owners: Iterable[object]) -> Groups:
        """Look the groups up on ``owners`` (e.g. the data module, then the LightningModule).

        Raises:
            ValueError: if there are neither names nor ``num_groups``, two groups share a name, named
                categories or features are missing, or the features are not one row of numbers per group.
        """
        owners = list(owners)
        found = lookup_names(self.names, owners)
        if found is None and self.num_groups is None:
            raise ValueError(
                f"GradNAPCallback found no group names (`group_names={self.names!r}` is neither a list "
                "nor an attribute of the data module or LightningModule): give `group_names` or `num_groups`"
            )
        if found is not None:
            _check_distinct(found)
        count = self.num_groups if self.num_groups is not None else len(found)  # type: ignore[arg-type]
        categories = lookup_names(self.categories or "group_categories", owners)
        if self.categories is not None and categories is None:
            raise ValueError(f"GradNAPCallback found no group categories under {self.categories!r}")
        return Groups(found or [str(g) for g in range(count)], categories, self._features(owners, count))

    def _features(self, owners: list[object], count: int) -> np.ndarray | None:
        value = self.features
        if value is None or isinstance(value, str):
            value = _attribute(value or "group_features", owners)
            if value is None:
                if self.features is not None:
                    raise ValueError(f"GradNAPCallback found no group features under {self.features!r}")
                return None
        features = np.asarray(value, dtype=np.float64)
        if self.features is None and (features.ndim != 2 or len(features) != count):
            return None  # the default attribute belongs to other groups (e.g. phonemes, profiling characters)
        if features.ndim != 2 or len(features) != count:
            raise ValueError(
                f"group features should be one row of numbers per group ({count}), got shape {features.shape}"
            )
        return features


def _check_distinct(names: list[str]) -> None:
    """Refuse group names given twice (the views would show two rows of one name)."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    repeated = [f"{name!r} is given {count} times" for name, count in counts.items() if count > 1]
    if repeated:
        raise ValueError(
            f"GradNAPCallback: group names must differ: {', '.join(repeated)} (in {names}); "
            "give each group its own name in `group_names`"
        )


def lookup_names(source: str | Iterable[object] | None, owners: Iterable[object]) -> list[str] | None:
    """Group names (or categories) as given, or the attribute ``source`` of the first owner that has it.

    Owners are e.g. the data module and the LightningModule, in that order (``None`` is skipped).
    """
    if source is None or not isinstance(source, str):
        return None if source is None else [str(s) for s in source]
    value = _attribute(source, owners)
    return None if value is None else [str(s) for s in value]


def _attribute(name: str, owners: Iterable[object]) -> Any:
    return next((getattr(o, name) for o in owners if o is not None and getattr(o, name, None) is not None), None)
