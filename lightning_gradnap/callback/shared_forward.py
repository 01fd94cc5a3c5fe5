"""Shared-forward capture: profile a validation batch from the forward pass the step runs anyway.

For one batch, hooks around the module's own forward enable gradients for that call only (so the
loss and decoding that follow stay cheap), record the profiled layers and keep the module's
output. Afterwards :meth:`SharedForward.result` says whether that forward can be used, or whether
the batch needs a separate forward (the step called the module twice, never called it, or a
layer's output was changed in place). No Trainer needed: it works on any ``nn.Module``.

:func:`forward_module` finds the module whose forward gives the model's output: the
LightningModule itself, or, when it has no ``forward`` of its own (its step calls
``self.model(x)``), the child that holds every profiled layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.recording.batch import LabelFn, ProfileBatch
from lightning_gradnap.recording.hooks import ActivationRecorder

__all__ = ["SharedForward", "forward_module", "profiled_layers"]


def profiled_layers(module: nn.Module, layers: Sequence[str] | None) -> list[str]:
    """``layers``, or the module's ``profile_layers`` attribute when ``layers`` is None.

    Raises:
        ValueError: if there are none (says how to name them).
    """
    found = layers if layers is not None else getattr(module, "profile_layers", None)
    if not found:
        raise ValueError(
            "GradNAPCallback needs `layers`: name the modules to profile (as in "
            f"{type(module).__name__}.named_modules()), or give the module a `profile_layers` attribute"
        )
    return [found] if isinstance(found, str) else list(found)


def _defines_forward(module: nn.Module) -> bool:
    """Whether ``module`` has a ``forward`` of its own (not ``nn.Module``'s or LightningModule's placeholder)."""
    for cls in type(module).__mro__:
        if "forward" in cls.__dict__:
            return cls is not nn.Module and not (
                cls.__name__ == "LightningModule" and cls.__module__.endswith(".core.module")
            )
    return False


def forward_module(module: nn.Module, layers: Sequence[str]) -> tuple[str, nn.Module]:
    """The name (``""``: ``module`` itself) and module whose forward gives the scores.

    ``module`` itself if it defines ``forward``; otherwise its child that holds every profiled
    layer (e.g. ``self.model`` for layers ``model.conv1``, ``model.conv2``), which the step is
    expected to call.

    Raises:
        ValueError: if ``module`` has no ``forward`` and no single child holds every layer.
    """
    if _defines_forward(module):
        return "", module
    children = dict(module.named_children())
    owners = sorted({name.split(".", 1)[0] for name in layers})
    if len(owners) == 1 and owners[0] in children and _defines_forward(children[owners[0]]):
        return owners[0], children[owners[0]]
    raise ValueError(
        f"{type(module).__name__} has no forward() and the profiled layers {list(layers)} do not lie in one "
        f"submodule with a forward (its submodules: {list(children)}). The callback needs a module whose "
        "forward maps the batch input to the scores: give the LightningModule a forward, e.g. "
        "`def forward(self, x): return self.model(x)`"
    )


class SharedForward:
    """Hooks around ``module.forward`` during one batch, and the grad mode they change.

    The framework's batch is read once, as a :class:`ProfileBatch`, before :meth:`start`; both
    calls take that one.

    Args:
        engine: Folds the batch into its sums.
        recorder: The engine's hooks on the module's layers (made once, reused for every batch).

    Example::

        capture = SharedForward(engine, engine.recorder(module))
        profile_batch, label_fn = reader.read(batch, module)
        capture.start(module, profile_batch)
        validation_step(batch)                            # calls module(x) once
        capture.finish(module, profile_batch, label_fn)   # shares that forward, or runs a separate one
    """

    def __init__(self, engine: ProfileEngine, recorder: ActivationRecorder) -> None:
        self.engine = engine
        self.layer_recorder = recorder
        self.needs_gradients = engine.needs_gradients
        self.recorder: ActivationRecorder | None = None
        self._handles: list[RemovableHandle] = []
        self._output: Any = None
        self._grad_was_enabled: bool | None = None
        self._depth = 0
        self._called_again = False
        self._input: torch.Tensor | None = None

    def start(self, module: nn.Module, batch: ProfileBatch) -> None:
        """Attach the hooks before the validation step of ``batch`` runs (the first time, the engine
        finds its frame maps first, before any hook is attached)."""
        self.release()
        self.engine.prepare(module, batch, self.layer_recorder.modules)
        self.recorder = recorder = self.layer_recorder
        x = batch.input_tuple[0]
        self._handles = [
            module.register_forward_pre_hook(self._enter_forward),
            module.register_forward_hook(self._leave_forward),
        ]
        recorder.attach()
        if (
            self.needs_gradients
            and isinstance(x, torch.Tensor)
            and x.is_leaf
            and x.is_floating_point()
            and not x.requires_grad
        ):
            # Free unless its gradient is asked for (feature view), and it keeps the layers'
            # outputs differentiable when the parameters are frozen.
            self._input = x.requires_grad_(True)

    def _enter_forward(self, module: nn.Module, inputs: Any) -> None:
        if self._output is not None and self._depth == 0:
            self._called_again = True  # a second forward: the recorded layers no longer match the output
        self._depth += 1
        if self._output is None and self._grad_was_enabled is None:
            self._grad_was_enabled = torch.is_grad_enabled()
            torch.set_grad_enabled(self.needs_gradients)

    def _leave_forward(self, module: nn.Module, inputs: Any, output: Any) -> None:
        # The first call to finish is the innermost: under DDP, Lightning routes validation_step
        # itself through the module's __call__, and the model's own forward finishes inside it.
        self._depth -= 1
        if self._output is None:
            self._output = output
            self._restore_grad_mode()

    def _restore_grad_mode(self) -> None:
        if self._grad_was_enabled is not None:
            torch.set_grad_enabled(self._grad_was_enabled)
            self._grad_was_enabled = None

    def finish(
        self, module: nn.Module, batch: ProfileBatch, label_fn: LabelFn | None = None, input_views: bool = True
    ) -> None:
        """Fold ``batch`` into the engine's sums, from the step's forward if it can be used, else
        from a separate forward (inference mode, or a step that did not call the module just once).
        Always removes the hooks.

        Args:
            module: The module whose forward was hooked by :meth:`start` (or is to be run).
            batch: The batch as read before :meth:`start`.
            label_fn: Computes the labels from the module's output (when the batch carries none).
            input_views: Let this batch feed the engine's input views.
        """
        try:
            captured = self.result()
            if captured is not None:
                recorder, output = captured
                inputs = batch.input_tuple[0] if input_views else None
                self.engine.accumulate(recorder, output, batch, inputs, label_fn)
        finally:
            self.release()
        if captured is None:
            self.engine.run_batch(module, batch, label_fn, input_views, self.layer_recorder)

    def result(self) -> tuple[ActivationRecorder, Any] | None:
        """The recorder and module output of the batch's forward, or None if they cannot be used.

        None when the module's forward never ran or ran twice, a layer did not record, or a
        layer's output was changed in place (the recorder copies it from now on, so a separate
        forward gives correct values).
        """
        recorder, output = self.recorder, self._output
        usable = (
            recorder is not None
            and output is not None
            and not self._called_again
            and set(recorder.activations) == set(recorder.modules)
            and not recorder.changed_in_place()
        )
        return (recorder, output) if usable else None  # type: ignore[return-value]

    def release(self, restore_grad_mode: bool = True) -> None:
        """Remove every hook and restore the grad mode; safe to call any number of times.

        Args:
            restore_grad_mode: False after an exception has left the forward (and the framework's
                ``no_grad`` around it): the framework has restored its own mode by then, and the
                mode saved inside it would switch gradients off for good.
        """
        if self.recorder is not None:
            self.recorder.remove()
            self.recorder.clear()
            self.recorder = None
        while self._handles:
            self._handles.pop().remove()
        self._output = None
        self._depth, self._called_again = 0, False
        if restore_grad_mode:
            self._restore_grad_mode()
        self._grad_was_enabled = None
        if self._input is not None:
            self._input.requires_grad_(False)
            self._input = None
