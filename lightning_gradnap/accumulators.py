"""Streaming per-group sums and counts: O(groups x neurons) memory, whatever the data size."""

from __future__ import annotations

import torch

__all__ = ["GroupSums"]


class GroupSums:
    """Running ``S[g, ...] = sum of values labelled g`` and ``N[g] = number of such values``.

    Sums and counts are float64 and live on the device of the values. Label ``-1`` (ignore) is
    routed to a spare row that is never read, so adding needs no boolean masking and no
    host-device synchronisation.

    Args:
        num_groups: Number of groups ``G``; labels must lie in ``-1 .. G-1``.
    """

    def __init__(self, num_groups: int) -> None:
        if num_groups < 1:
            raise ValueError(f"num_groups must be at least 1, got {num_groups}")
        self.num_groups = num_groups
        self._sums: torch.Tensor | None = None  # [G + 1, *shape]; the last row collects ignored values
        self._counts: torch.Tensor | None = None  # [G + 1]

    @property
    def is_empty(self) -> bool:
        return self._sums is None

    @property
    def sums(self) -> torch.Tensor:
        """``[G, *shape]`` float64 sums (raises before the first :meth:`add`)."""
        return self._checked(self._sums)[: self.num_groups]

    @property
    def counts(self) -> torch.Tensor:
        """``[G]`` float64 counts."""
        return self._checked(self._counts)[: self.num_groups]

    def _checked(self, tensor: torch.Tensor | None) -> torch.Tensor:
        if tensor is None:
            raise RuntimeError("nothing has been added yet")
        return tensor

    def add(self, values: torch.Tensor, labels: torch.Tensor) -> None:
        """Fold ``values[i]`` into the sum of group ``labels[i]``.

        Args:
            values: ``[R, *shape]``, any floating dtype (converted to float64).
            labels: ``[R]`` integer groups in ``-1 .. G-1``.
        """
        if self._sums is None:
            shape = (self.num_groups + 1, *values.shape[1:])
            self._sums = torch.zeros(shape, dtype=torch.float64, device=values.device)
            self._counts = torch.zeros(self.num_groups + 1, dtype=torch.float64, device=values.device)
        elif values.shape[1:] != self._sums.shape[1:]:
            raise ValueError(
                f"values of shape {tuple(values.shape[1:])} cannot be added to sums of shape "
                f"{tuple(self._sums.shape[1:])}: a layer's width must stay the same across batches"
            )
        rows = torch.where(labels < 0, self.num_groups, labels).to(self._sums.device)
        self._sums.index_add_(0, rows, values.to(self._sums.device, torch.float64))
        ones = torch.ones(rows.shape, dtype=torch.float64, device=rows.device)
        self._counts.index_add_(0, rows, ones)  # type: ignore[union-attr]

    def set(self, sums: torch.Tensor, counts: torch.Tensor) -> None:
        """Replace the state, e.g. with sums reduced across processes or loaded from a checkpoint."""
        spare_sum = torch.zeros_like(sums[:1])
        self._sums = torch.cat([sums.to(torch.float64), spare_sum])
        self._counts = torch.cat([counts.to(torch.float64), counts.new_zeros(1, dtype=torch.float64)])

    def reset(self) -> None:
        self._sums = None
        self._counts = None
