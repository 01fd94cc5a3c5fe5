"""Capture layer outputs with forward hooks, and their gradients with one ``autograd.grad``.

The recorder never touches parameters' ``.grad`` and never runs one backward pass per layer:
:meth:`ActivationRecorder.gradients` asks autograd for the gradients of one scalar with respect
to every recorded output at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

__all__ = ["ActivationRecorder", "resolve_layers"]


def resolve_layers(model: nn.Module, layers: Sequence[str]) -> dict[str, nn.Module]:
    """Look up modules by their names in ``model.named_modules()``.

    Raises:
        ValueError: if ``layers`` is empty, repeats a name, or names a module the model does not
            have; the message lists the closest valid names.
    """
    if isinstance(layers, str):
        layers = [layers]
    if len(layers) == 0:
        raise ValueError("`layers` is empty: name at least one module, e.g. layers=['conv1']")
    repeated = sorted({name for name in layers if list(layers).count(name) > 1})
    if repeated:
        raise ValueError(f"`layers` names {repeated} more than once: list each layer once")
    modules = dict(model.named_modules())
    resolved: dict[str, nn.Module] = {}
    for name in layers:
        if name not in modules:
            raise ValueError(_unknown_layer_message(name, [n for n in modules if n]))
        if name == "":
            raise ValueError("the empty name is the whole model: name one of its layers instead")
        resolved[name] = modules[name]
    return resolved


def _unknown_layer_message(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=5, cutoff=0.4)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(valid[:40]) + (", ..." if len(valid) > 40 else "")
    return f"Unknown layer {name!r}.{hint} Valid names (from model.named_modules()): {shown}"


def _first_tensor(output: object) -> torch.Tensor | None:
    """The tensor a module returned, or the first tensor of a tuple/list (e.g. an LSTM's output)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


class ActivationRecorder:
    """Forward hooks on named layers that keep each layer's output of the last forward pass.

    Use it as a context manager: hooks exist only inside the ``with`` block and are removed on
    exit, also when the block raises. Inside, each forward pass overwrites :attr:`activations`.

    Recorded values and gradients are those of the layer's own output. The hooks hand the output
    on unchanged (no copy, no extra memory) and note its version counter. If an operation after
    the layer changes it in place (``ReLU(inplace=True)``), :meth:`changed_in_place` reports the
    layer; from then on its hook hands the rest of the network a copy, and that forward pass must
    be run again (:class:`~lightning_gradnap.engine.engine.ProfileEngine` does so; reading such a pass
    raises an error).

    Args:
        model: The network.
        layers: Module names as in ``model.named_modules()``.
        keep_graph: Keep recorded outputs attached to the autograd graph (for GradNAPs).
            When false, outputs are detached (plain NAPs).

    Example::

        recorder = ActivationRecorder(model, ["conv1", "conv2"])
        with recorder, torch.enable_grad():
            logits = model(x.requires_grad_())
            grads = recorder.gradients(logits.max(1).values.sum())
    """

    def __init__(
        self, model: nn.Module, layers: Sequence[str] | Mapping[str, nn.Module], keep_graph: bool = True
    ) -> None:
        # names, or modules already resolved by name (e.g. another recorder's), hooked where they are
        self.modules = dict(layers) if isinstance(layers, Mapping) else resolve_layers(model, layers)
        self.keep_graph = keep_graph
        self.activations: dict[str, torch.Tensor] = {}
        self.copied: set[str] = set()  # layers whose output is changed in place downstream
        self._versions: dict[str, int] = {}
        self._handles: list[RemovableHandle] = []

    @property
    def layer_names(self) -> list[str]:
        return list(self.modules)

    def __enter__(self) -> ActivationRecorder:
        self.attach()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def attach(self) -> None:
        """Register the hooks (once; calling it again does nothing)."""
        if self._handles:
            return
        self.clear()
        try:
            for name, module in self.modules.items():
                self._handles.append(module.register_forward_hook(self._make_hook(name)))
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        """Remove every hook; safe to call any number of times."""
        while self._handles:
            self._handles.pop().remove()

    def clear(self) -> None:
        """Forget the recorded outputs (frees their graph)."""
        self.activations = {}
        self._versions = {}

    def _make_hook(self, name: str):
        def hook(module: nn.Module, inputs: object, output: object) -> object:
            tensor = _first_tensor(output)
            if tensor is None:
                raise TypeError(
                    f"Layer {name!r} returned {type(output).__name__}, not a tensor: "
                    "profile a module that outputs a tensor (or a tuple whose first item is one)."
                )
            keep = self.keep_graph and tensor.requires_grad
            self.activations[name] = tensor if keep else tensor.detach()
            if name not in self.copied and not tensor.is_inference():  # inference tensors have no version
                self._versions[name] = tensor._version
                return None
            # The network continues with a copy, so the in-place op after this layer cannot
            # change the recorded values (nor, with gradients, what they are taken against).
            replacement = tensor.clone()
            if not isinstance(output, (tuple, list)):  # the tensor itself (see _first_tensor)
                return replacement
            items = [replacement if item is tensor else item for item in output]
            return type(output)(items)

        return hook

    def changed_in_place(self) -> list[str]:
        """Layers whose output an in-place operation changed during the last forward pass.

        Their recorded values are no longer the layer's output; they are handed on as copies
        in every later forward pass, so running the pass again gives correct values.
        """
        changed = [name for name, version in self._versions.items() if self.activations[name]._version != version]
        self.copied.update(changed)
        return changed

    def check_called(self) -> None:
        """Raise if a layer's hook did not fire in the last forward pass."""
        missing = [name for name in self.modules if name not in self.activations]
        if missing:
            raise RuntimeError(
                f"Layers {missing} were not called during the forward pass: profile layers that the "
                "model's forward actually uses."
            )

    def check_all_recorded(self) -> None:
        """Raise if a layer's hook did not fire, or its output was changed in place, in the last forward pass."""
        self.check_called()
        changed = self.changed_in_place()
        if changed:
            raise RuntimeError(
                f"The outputs of layers {changed} were changed in place after the layer (e.g. by "
                "ReLU(inplace=True)) in this forward pass, so they no longer hold the layer's output. "
                "From now on they are handed on as copies: run the forward pass again."
            )

    def gradients(
        self, objective: torch.Tensor, extra_inputs: Iterable[torch.Tensor] = ()
    ) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
        """Gradients of a scalar ``objective`` w.r.t. every recorded output, in one autograd call.

        Args:
            objective: A scalar that depends on the recorded outputs.
            extra_inputs: More tensors to differentiate with respect to (e.g. the model input).

        Returns:
            The gradient of each layer's output by name, and those of ``extra_inputs``: each a
            tensor of its own, which the caller may change in place.
        """
        self.check_all_recorded()
        names = list(self.modules)
        extra = list(extra_inputs)
        targets = [self.activations[name] for name in names] + extra
        not_differentiable = [
            name for name, t in zip(names + ["<input>"] * len(extra), targets, strict=True) if not t.requires_grad
        ]
        if not_differentiable or not objective.requires_grad:
            raise RuntimeError(
                f"Cannot take gradients: outputs of {not_differentiable or names} do not require grad. "
                "Run the forward pass under torch.enable_grad() (outside torch.inference_mode()) "
                "with an input that requires grad; for plain NAPs use method='nap'. A layer inside "
                "activation checkpointing with use_reentrant=True runs without gradients: use "
                "torch.utils.checkpoint.checkpoint(..., use_reentrant=False)."
            )
        grads = torch.autograd.grad(objective, targets, allow_unused=True)
        if all(g is None for g in grads[: len(names)]):
            raise RuntimeError(
                f"The objective does not depend on any of the layers {names}: compute it from the output "
                "of the same forward pass (with gradients enabled) that ran through those layers"
            )
        owned: list[torch.Tensor] = []
        for target, grad in zip(targets, grads, strict=True):
            if grad is None:
                grad = torch.zeros_like(target)
            elif any(grad is other for other in owned):  # one tensor recorded for two layers
                grad = grad.clone()
            owned.append(grad)
        return dict(zip(names, owned[: len(names)], strict=True)), owned[len(names) :]
