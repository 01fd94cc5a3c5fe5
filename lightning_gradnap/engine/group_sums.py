"""Streaming per-group sums and counts: O(groups x neurons) memory, whatever the data size."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence

import torch

__all__ = ["GroupSums", "SumsByName"]


class GroupSums:
    """Running ``S[g, ...] = sum of values labelled g`` and ``N[g] = number of such values``, kept
    in two halves of the data (each example belongs to one half), for split-half reliability.

    Sums and counts are float64 and live on the device of the values. Rows ``0 .. G-1`` hold
    half 0, rows ``G .. 2G-1`` half 1; label ``-1`` (ignore) is routed to a spare row ``2G`` that
    is never read, so adding needs no boolean masking and no host-device synchronisation. A batch
    is summed on its own first (:meth:`batch_sums`), so that a caller can check it (e.g. for NaN)
    before folding it in (:meth:`add_sums`).

    Args:
        num_groups: Number of groups ``G``; labels must lie in ``-1 .. G-1``.
    """

    def __init__(self, num_groups: int) -> None:
        if num_groups < 1:
            raise ValueError(f"num_groups must be at least 1, got {num_groups}")
        self.num_groups = num_groups
        self.num_rows = 2 * num_groups + 1
        self._sums: torch.Tensor | None = None  # [2G + 1, *shape]; the last row collects ignored values
        self._counts: torch.Tensor | None = None  # [2G + 1]

    @property
    def is_empty(self) -> bool:
        return self._sums is None

    @property
    def half_sums(self) -> torch.Tensor:
        """``[2, G, *shape]`` float64 sums of each half (raises before the first :meth:`add_sums`)."""
        sums = self._checked(self._sums)
        return sums[: 2 * self.num_groups].view(2, self.num_groups, *sums.shape[1:])

    @property
    def half_counts(self) -> torch.Tensor:
        """``[2, G]`` float64 counts of each half."""
        return self._checked(self._counts)[: 2 * self.num_groups].view(2, self.num_groups)

    @property
    def sums(self) -> torch.Tensor:
        """``[G, *shape]`` float64 sums of both halves."""
        return self.half_sums.sum(dim=0)

    @property
    def counts(self) -> torch.Tensor:
        """``[G]`` float64 counts of both halves."""
        return self.half_counts.sum(dim=0)

    def _checked(self, tensor: torch.Tensor | None) -> torch.Tensor:
        if tensor is None:
            raise RuntimeError("nothing has been added yet")
        return tensor

    def rows(self, labels: torch.Tensor, halves: torch.Tensor | None = None) -> torch.Tensor:
        """The row each label goes to: ``label + G * half``, or the spare row ``2G`` for ``-1``.

        Args:
            labels: Labels of any shape ``[B, ...]``.
            halves: ``[B]`` half (0 or 1) of each example; ``None``: all in half 0.
        """
        if halves is not None:
            labels = torch.where(
                labels < 0, labels, labels + self.num_groups * halves.view(-1, *[1] * (labels.dim() - 1))
            )
        return torch.where(labels < 0, 2 * self.num_groups, labels)

    def row_counts(self, rows: torch.Tensor) -> torch.Tensor:
        """``[2G + 1]`` float64 counts of :meth:`rows` (any shape); no host synchronisation."""
        rows = rows.reshape(-1)
        counts = torch.zeros(self.num_rows, dtype=torch.float64, device=rows.device)
        return counts.index_add_(0, rows, torch.ones(rows.shape, dtype=torch.float64, device=rows.device))

    def batch_sums(
        self, values: torch.Tensor, labels: torch.Tensor, halves: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sums and counts of one batch, ``[2G + 1, *shape]`` and ``[2G + 1]`` (last row: ignored).

        Rows are summed in the values' precision (at least float32), the result is float64, as in
        :meth:`frame_batch_sums`.

        Args:
            values: ``[R, *shape]``, any floating dtype.
            labels: ``[R]`` integer groups in ``-1 .. G-1``.
            halves: ``[R]`` half of each row, or ``None`` (half 0).
        """
        rows = self.rows(labels.to(values.device), None if halves is None else halves.to(values.device))
        dtype = torch.promote_types(values.dtype, torch.float32)
        partial = torch.zeros((self.num_rows, *values.shape[1:]), dtype=dtype, device=values.device)
        sums = partial.index_add_(0, rows, values.to(dtype)).to(torch.float64)
        return sums, self.row_counts(rows)

    def frame_batch_sums(
        self, values: torch.Tensor, groups: torch.Tensor, counts: torch.Tensor, halves: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`batch_sums` for frames, read in place from a ``[B, C, T]`` layer output.

        ``scatter_add_`` along time gives each utterance's per-group partial sums ``[B, C, G+1]``
        without transposing or widening the whole tensor; one ``index_add_`` over the examples
        adds them into their halves. Like :meth:`batch_sums`, the batch is summed in the values'
        precision (at least float32) and returned in float64.

        Args:
            values: ``[B, C, T]`` relevance of one layer.
            groups: ``[B, T]`` group of each frame, ``G`` for ignored frames.
            counts: :meth:`row_counts` of the frames' :meth:`rows` (computed once for all layers
                with the same frame labels).
            halves: ``[B]`` half of each example.
        """
        batch_size, channels, frames = values.shape
        dtype = torch.promote_types(values.dtype, torch.float32)
        partial = torch.zeros(batch_size, channels, self.num_groups + 1, dtype=dtype, device=values.device)
        partial.scatter_add_(2, groups[:, None, :].expand(batch_size, channels, frames), values.to(dtype))
        by_half = torch.zeros(2, channels, self.num_groups + 1, dtype=dtype, device=values.device)
        by_half = (
            by_half.index_add_(0, halves.to(values.device), partial).transpose(1, 2).to(torch.float64)
        )  # [2, G+1, C]
        ignored = by_half[:, self.num_groups].sum(dim=0, keepdim=True)
        return torch.cat([by_half[:, : self.num_groups].flatten(0, 1), ignored]), counts

    def add_sums(self, sums: torch.Tensor, counts: torch.Tensor) -> None:
        """Fold the result of :meth:`batch_sums` into the running totals."""
        if self._sums is None:
            self._sums, self._counts = sums.contiguous().clone(), counts.clone()
            return
        if sums.shape != self._sums.shape:
            raise ValueError(
                f"values of shape {tuple(sums.shape[1:])} cannot be added to sums of shape "
                f"{tuple(self._sums.shape[1:])}: a layer's width must stay the same across batches"
            )
        self._sums += sums.to(self._sums.device)
        self._counts += counts.to(self._sums.device)  # type: ignore[operator]

    def reset(self) -> None:
        self._sums = None
        self._counts = None


class SumsByName:
    """The :class:`GroupSums` of every layer and input view, fed one batch at a time.

    Args:
        num_groups: ``G``.
        layers: Names of the layers.
        input_views: Names of the input views (e.g. ``"<input>"``).
    """

    def __init__(self, num_groups: int, layers: Sequence[str], input_views: Sequence[str] = ()) -> None:
        self.num_groups = num_groups
        self.layers = {name: GroupSums(num_groups) for name in layers}
        self.inputs = {name: GroupSums(num_groups) for name in input_views}
        self.skipped_batches = 0

    def add(self, batch_sums: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> bool:
        """Fold a batch in if it is finite in its labelled rows; skip it with a warning if not.

        Returns:
            False if the batch was skipped.
        """
        if not _all_finite(sums[: 2 * self.num_groups] for sums, _ in batch_sums.values()):
            self.skipped_batches += 1
            warnings.warn(
                f"skipped a batch whose relevance is NaN or inf in labelled frames ({self.skipped_batches} so far)",
                RuntimeWarning,
                stacklevel=4,
            )
            return False
        for name, (sums, counts) in batch_sums.items():
            (self.inputs if name in self.inputs else self.layers)[name].add_sums(sums, counts)
        return True

    def state(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Sums ``[2, G, ...]`` and counts ``[2, G]`` by half, of every layer (and input view) that
        received data, for reductions."""
        every = {**self.layers, **self.inputs}
        return {name: (s.half_sums, s.half_counts) for name, s in every.items() if not s.is_empty}

    def reset(self) -> None:
        for sums in [*self.layers.values(), *self.inputs.values()]:
            sums.reset()
        self.skipped_batches = 0


def _all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """One host synchronisation for all layers (the tensors are small per-batch group sums).

    A NaN or inf anywhere makes its tensor's sum NaN or inf (float64 sums of float32 values
    cannot overflow), so the sums are checked instead of every element.
    """
    totals = [t.sum() for t in tensors]
    return bool(torch.isfinite(torch.stack(totals)).all()) if totals else True
