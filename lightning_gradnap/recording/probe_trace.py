"""The order in which a model's modules run, and their output shapes: what a layer that sees the whole
input needs to take the frame map of the local module that feeds it.

Used by the probe only (a few forwards, once): hooks on every module, removed on exit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from lightning_gradnap.recording.hooks import _first_tensor

__all__ = ["ModuleTrace", "TracedCall"]


@dataclass
class TracedCall:
    """The first call of one module in a traced forward: when it started and ended, and what it returned."""

    start: int
    end: int = -1
    shapes: dict[int, tuple[int, ...]] = field(default_factory=dict)  # of the first tensor, by traced forward
    reached: torch.Tensor | None = None  # where a NaN of the input went (a NaN forward), as a bool tensor


class ModuleTrace:
    """Context manager: hooks on every submodule of ``model`` for the forwards run inside it.

    The first forward gives each module's start and end (a counter over hook calls); every
    forward adds the shape of its first output tensor; a forward with NaN inputs (``nan_run``)
    also keeps where the NaN reached.
    """

    def __init__(self, model: nn.Module) -> None:
        self.modules = {name: module for name, module in model.named_modules() if name}
        self.calls: dict[str, TracedCall] = {}
        self.nan_run = False
        self._clock = 0
        self._forward = 0
        self._seen: set[str] = set()
        self._handles: list[RemovableHandle] = []

    def __enter__(self) -> ModuleTrace:
        self._seen = set()
        for name, module in self.modules.items():
            self._handles.append(module.register_forward_pre_hook(self._pre_hook(name)))
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._handles:
            self._handles.pop().remove()
        self._forward += 1

    def _pre_hook(self, name: str):
        def hook(module: nn.Module, inputs: object) -> None:
            self._clock += 1
            if self._forward == 0 and name not in self.calls:
                self.calls[name] = TracedCall(self._clock)

        return hook

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            self._clock += 1
            call = self.calls.get(name)
            tensor = _first_tensor(output)
            if call is None or name in self._seen or tensor is None:
                return
            self._seen.add(name)
            if self._forward == 0:
                call.end = self._clock
            if self.nan_run:
                call.reached = torch.isnan(tensor.detach())
            else:
                call.shapes[self._forward] = tuple(tensor.shape)

        return hook

    def name_of(self, module: nn.Module) -> str | None:
        return next((name for name, other in self.modules.items() if other is module), None)

    def before(self, name: str | None) -> list[str]:
        """Modules that finished before ``name`` started (``None``: before the end), latest first."""
        limit = self.calls[name].start if name is not None and name in self.calls else self._clock + 1
        done = [(call.end, other) for other, call in self.calls.items() if 0 < call.end < limit]
        return [other for _, other in sorted(done, reverse=True)]


class LocalStatistics:
    """Context manager: while probing, group and instance norms (statistics over time) normalise with
    statistics that neither gradients nor NaNs pass through, so that the probe sees their structural
    receptive field (their input frame by frame), not the whole input their statistics read."""

    NORMS = (nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d)

    def __init__(self, model: nn.Module) -> None:
        self.norms = [module for module in model.modules() if isinstance(module, self.NORMS)]
        self._handles: list[RemovableHandle] = []

    def __enter__(self) -> LocalStatistics:
        self._handles = [norm.register_forward_hook(self._hook) for norm in self.norms]
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._handles:
            self._handles.pop().remove()

    @staticmethod
    def _hook(
        module: nn.GroupNorm | nn.InstanceNorm1d | nn.InstanceNorm2d, inputs: tuple, output: object
    ) -> torch.Tensor | None:
        x = inputs[0]
        if not isinstance(x, torch.Tensor) or x.dim() < 3:
            return None
        groups = module.num_groups if isinstance(module, nn.GroupNorm) else x.shape[1]
        grouped = x.reshape(x.shape[0], groups, -1)
        mean = grouped.detach().nanmean(dim=2, keepdim=True)
        variance = (grouped.detach() - mean).pow(2).nanmean(dim=2, keepdim=True)
        normed = ((grouped - mean) / torch.sqrt(variance + module.eps)).reshape_as(x)
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        shape = [1, x.shape[1]] + [1] * (x.dim() - 2)
        if weight is not None:
            normed = normed * weight.reshape(shape)
        if bias is not None:
            normed = normed + bias.reshape(shape)
        return normed
