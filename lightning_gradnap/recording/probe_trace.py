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
