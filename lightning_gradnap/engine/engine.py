"""The profiling engine: one batch in, per-layer group sums updated (docs/METHOD.md §1, docs/ARCHITECTURE.md §1).

Per batch: forward with hooks -> objective -> one ``autograd.grad`` for all layers ->
relevance ``a * g`` (or ``a``) -> labels mapped to each layer's frames -> ``scatter_add_`` /
``index_add_`` into float64 sums on the model's device (each batch summed in the relevance's
precision, at least float32). No Python loop over frames, groups or examples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from lightning_gradnap.config import EngineOptions
from lightning_gradnap.engine.axes import channels_first, lengths_and_labels, scores_bct
from lightning_gradnap.engine.folds import (
    Fold,
    FoldBatch,
    FrameFold,
    InputWindowFold,
    UtteranceFold,
    WindowFold,
    relevance_of,
    split_halves,
)
from lightning_gradnap.engine.group_sums import SumsByName
from lightning_gradnap.engine.input_views import input_view_sums
from lightning_gradnap.engine.results import EngineResults
from lightning_gradnap.profiles.from_state import state_key
from lightning_gradnap.recording.batch import ProfileBatch, as_profile_batch, model_device, prepare_input
from lightning_gradnap.recording.correctness import CorrectnessSplit
from lightning_gradnap.recording.frame_maps import AnyFrameMap, FrameMapSpec, check_frame_maps
from lightning_gradnap.recording.hooks import ActivationRecorder
from lightning_gradnap.recording.layouts import Layout
from lightning_gradnap.recording.objectives import (
    ObjectiveInputs,
    default_output_transform,
    masked_objective,
    resolve_objective,
)
from lightning_gradnap.recording.probe import OUTPUT, find_frame_maps

__all__ = ["OUTPUT", "ProfileEngine"]


class ProfileEngine(EngineResults):
    """Accumulates NAPs or GradNAPs of named layers over batches.

    Args:
        layers: Module names as in ``model.named_modules()``.
        num_groups: Number of groups ``G``.
        options: How each batch is profiled (:class:`~lightning_gradnap.config.EngineOptions`, where
            each option is documented).
        frame_maps: Where layer frames sit on the input, by layer (``"<output>"``: the scores):
            ``(stride, offset[, length_offset])``, a :class:`~lightning_gradnap.FrameMap` or a
            callable ``num_layer_frames -> input frames``; the others are probed at the first batch.
        **option_values: The fields of :class:`~lightning_gradnap.config.EngineOptions` as keywords
            instead of ``options`` (``ProfileEngine(layers, 3, method="nap")``).

    Raises:
        ValueError: for an option out of its range, or ``num_groups < 1``.
        TypeError: for ``options`` and keywords together, or an unknown keyword.
    """

    def __init__(
        self,
        layers: Sequence[str],
        num_groups: int,
        options: EngineOptions | None = None,
        frame_maps: Mapping[str, FrameMapSpec] | None = None,
        **option_values: Any,
    ) -> None:
        if options is None:
            options = EngineOptions(**option_values)
        elif option_values or not isinstance(options, EngineOptions):
            raise TypeError(
                "give the engine's options as one EngineOptions or as keywords (e.g. method='nap'), "
                f"not {type(options).__name__} and {sorted(option_values)}"
            )
        self.options = options
        if num_groups < 1:
            raise ValueError(f"`num_groups` must be at least 1, got {num_groups}")
        self.layers = [layers] if isinstance(layers, str) else list(layers)
        self.num_groups = num_groups
        self.methods = list(options.methods)
        self.method = self.methods[0]
        self.objective = resolve_objective(options.objective)
        self.label_level = options.label_level
        self.output_transform = options.output_transform or default_output_transform
        window, input_window = options.window, options.input_window
        self.fold: Fold = (
            UtteranceFold()
            if options.label_level == "utterance"
            else FrameFold()
            if window is None
            else WindowFold(window, options.window_center)
        )
        self.input_fold = None if input_window is None else InputWindowFold(input_window)
        input_views = [] if input_window is None else ["<input>"] + (["<input_x_grad>"] if self.needs_gradients else [])
        keys = [self.state_key(m, name) for m in self.methods for name in self.layers]
        self.correctness = (  # each group split in "g correct" (2 g) and "g wrong" (2 g + 1): 2G rows
            CorrectnessSplit(num_groups, options.group_classes, options.blank, options.blank_frames)  # type: ignore[arg-type]
            if options.split_by_correctness
            else None
        )
        self.num_state_groups = num_groups * (1 if self.correctness is None else 2)  # rows of the sums
        self.accumulated = SumsByName(self.num_state_groups, keys, input_views)
        self.sums = {name: self.accumulated.layers[name] for name in self.layers}  # of the first method
        self.input_sums = self.accumulated.inputs
        self.given_frame_maps = check_frame_maps(frame_maps, [*self.layers, OUTPUT])
        self.frame_maps: dict[str, AnyFrameMap] | None = None  # found at the first batch (prepare)
        self.layouts: dict[str, Layout] = {}  # of the layers and the scores, found with the frame maps
        self.input_time_axis: int | None = None
        self.examples_seen = 0  # since the last reset: alternates the halves of examples without an input tensor

    @property
    def needs_gradients(self) -> bool:
        return self.options.needs_gradients

    def state_key(self, method: str, layer: str) -> str:
        """Name of a layer's sums in :meth:`state` (:func:`~lightning_gradnap.profiles.from_state.state_key`)."""
        return state_key(self.methods, method, layer)

    def recorder(self, model: nn.Module) -> ActivationRecorder:
        return ActivationRecorder(model, self.layers, keep_graph=self.needs_gradients)  # checks the names

    def reset(self) -> None:
        self.accumulated.reset()
        self.examples_seen = 0

    # ---------------------------------------------------------------- once, at the first batch
    def prepare(self, model: nn.Module, batch: ProfileBatch, layers: Mapping[str, nn.Module] | None = None) -> None:
        """Find the frame maps of the layers and the scores, once, by probing ``model`` with random
        inputs shaped like ``batch``'s (:func:`~lightning_gradnap.recording.probe.find_frame_maps`).

        Called by :meth:`run_batch`; call it yourself before a forward whose hooks feed :meth:`accumulate`.
        The probe gets what it needs from here: ``model``, ``batch`` and ``layers`` (the profiled
        modules by name, when ``model`` is not the module the names refer to; default the names).
        """
        if self.frame_maps is None and (self.label_level == "frame" or batch.lengths is not None):
            options = (
                self.options.channels_last,
                self.options.class_dim,
                self.output_transform,
                self.options.label_rate,
            )
            found: dict[str, Any] = {}
            self.frame_maps = find_frame_maps(
                model, batch, layers or self.layers, self.given_frame_maps, *options, found=found
            )
            self.layouts, self.input_time_axis = found.get("layouts", {}), found.get("input_time_axis")

    # ---------------------------------------------------------------- one batch, end to end
    def run_batch(
        self,
        model: nn.Module,
        batch: ProfileBatch | Mapping[str, Any] | Sequence[Any],
        label_fn: Callable[[Any], torch.Tensor] | None = None,
        input_views: bool = True,
        recorder: ActivationRecorder | None = None,
    ) -> bool:
        """Forward ``batch`` through ``model`` with hooks and fold its relevance into the sums.

        Works inside ``torch.no_grad()`` and ``torch.inference_mode()`` (inputs are cloned out of
        inference mode); never changes the model's train/eval mode or parameters' ``.grad``. Args:
            model: The network.
            batch: A :class:`ProfileBatch`; a dict or tuple is read as one here, where it enters
                (:func:`~lightning_gradnap.recording.batch.as_profile_batch`).
            label_fn: Computes the labels from the model's output instead of ``batch.labels``
                (e.g. by forced alignment).
            input_views: Let this batch feed the input views (``input_window``).
            recorder: Hooks from :meth:`recorder` for ``model``, made once for many batches
                (default: made here, which looks the layers up again).

        Returns:
            False if the batch was skipped (non-finite relevance).
        """
        batch = batch if isinstance(batch, ProfileBatch) else as_profile_batch(batch)
        device = model_device(model)
        with torch.inference_mode(False), torch.set_grad_enabled(self.needs_gradients):
            inputs = tuple(prepare_input(x, device, self.needs_gradients) for x in batch.input_tuple)
            lengths = batch.lengths
            if lengths is not None:  # the lengths an input may share with the batch (see prepare)
                lengths = next((c for x, c in zip(batch.input_tuple, inputs, strict=True) if x is lengths), lengths)
            batch = replace(batch, inputs=inputs, lengths=lengths)
            self.prepare(model, batch, None if recorder is None else recorder.modules)
            recorder = recorder or self.recorder(model)
            with recorder:
                output = model(*inputs)
            while recorder.changed_in_place():  # now copied: once more (each round copies one more layer)
                with recorder:
                    output = model(*inputs)
            return self.accumulate(recorder, output, batch, inputs[0] if input_views else None, label_fn)

    # ---------------------------------------------------------------- after a forward pass
    def accumulate(
        self,
        recorder: ActivationRecorder,
        output: Any,
        batch: ProfileBatch,
        inputs: torch.Tensor | None = None,
        label_fn: Callable[[Any], torch.Tensor] | None = None,
    ) -> bool:
        """Fold the recorded outputs of one forward pass into the sums (after :meth:`prepare`).

        Args:
            recorder: Holds the layer outputs of the forward pass.
            output: The model's output.
            batch: The batch's labels (and lengths, targets).
            inputs: The model input the forward pass ran on (a leaf that requires grad for
                ``x * dy/dx``), for the input views of ``input_window``; ``None`` leaves this
                batch out of them.
            label_fn: Computes the labels from ``output`` instead of ``batch.labels``.

        Returns:
            False if the batch was skipped because its relevance was not finite.
        """
        labels = batch.labels if label_fn is None else label_fn(output)
        lengths, labels = lengths_and_labels(
            batch, labels, self.input_time_axis, self.options.label_rate, self.label_level, self.num_groups
        )
        recorder.check_all_recorded()
        activations = {name: self._channels_first(name, a) for name, a in recorder.activations.items()}
        batch_size, device = next(iter(activations.values())).shape[0], next(iter(activations.values())).device
        if labels.shape[0] != batch_size:
            raise ValueError(
                f"labels are for {labels.shape[0]} examples but the batch has {batch_size}: "
                "give one label row per example"
            )
        frame_level = self.label_level == "frame"
        first = batch.input_tuple[0] if batch.input_tuple else None
        if not isinstance(first, torch.Tensor) or first.dim() == 0 or first.shape[0] != batch_size:
            first = None  # the halves then alternate by position
        halves = split_halves(first, lengths, self.input_time_axis, self.examples_seen, batch_size)
        fold_batch = FoldBatch.make(
            labels, lengths, frame_level, self.frame_maps, device, halves, self.options.label_rate
        )
        self.examples_seen += batch_size
        gradients: dict[str, torch.Tensor] = {}
        input_gradient = None
        wants_input_gradient = "<input_x_grad>" in self.input_sums and inputs is not None and inputs.requires_grad
        gradient_inputs = [inputs] if inputs is not None and wants_input_gradient else []
        if self.needs_gradients or self.correctness is not None:
            with torch.enable_grad():  # the forward ran with gradients; the caller may not
                scores = scores_bct(output, self.output_transform, self.options.class_dim, self.layouts.get(OUTPUT))
        if self.correctness is not None:  # judged on this forward's scores, before any fold reads the labels
            fold_batch.labels = self._split_labels(fold_batch, scores.detach())
        if self.needs_gradients:
            with torch.enable_grad():
                extra_inputs = ObjectiveInputs(None, batch.targets, batch.target_lengths, self.options.blank)  # type: ignore[arg-type]
                objective = masked_objective(
                    self.objective,
                    scores,
                    fold_batch.lengths,
                    fold_batch.frame_maps.get(OUTPUT),
                    extra_inputs,
                    self.options.label_rate,
                )
            gradients, input_gradients = recorder.gradients(objective, gradient_inputs)
            input_gradient = input_gradients[0] if input_gradients else None
            gradients = {name: self._channels_first(name, g) for name, g in gradients.items()}
        if self.options.window is not None and self.options.window_center == "salient":
            fold_batch.saliency = {name: g.abs().sum(dim=1) for name, g in gradients.items()}
        batch_sums = {}
        for method in self.methods[::-1]:  # NAP first: GradNAP's product is taken in place in the gradients
            relevance = {
                name: relevance_of(a, gradients.get(name) if method == "gradnap" else None, self.options.absolute)
                for name, a in activations.items()
            }
            sums = {name: self.accumulated.layers[self.state_key(method, name)] for name in relevance}
            folded = self.fold.batch_sums(relevance, fold_batch, sums)
            batch_sums.update({self.state_key(method, name): value for name, value in folded.items()})
        recorder.clear()
        if self.input_fold is not None and inputs is not None:
            fold, sums, axis = self.input_fold, self.input_sums, self.input_time_axis
            views = input_view_sums(fold, inputs, input_gradient, fold_batch, sums, axis, self.options)
            if views is None:  # left out from now on (warned)
                self.input_fold = None
            batch_sums.update(views or {})
        return self.accumulated.add(batch_sums)

    def _split_labels(self, fold_batch: FoldBatch, scores: torch.Tensor) -> torch.Tensor:
        """The batch's labels as ``2 * label + wrong`` (:mod:`~lightning_gradnap.recording.correctness`)."""
        assert self.correctness is not None
        if self.label_level == "utterance":
            return self.correctness.split_examples(fold_batch.labels, scores)
        output_map = fold_batch.frame_maps.get(OUTPUT)
        if output_map is None or fold_batch.lengths is None:
            raise RuntimeError("split_by_correctness needs the frame map of the scores: call engine.prepare first")
        return self.correctness.split_frames(
            fold_batch.labels, scores, output_map, fold_batch.lengths, self.options.label_rate
        )

    def _channels_first(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        return channels_first(name, tensor, self.layouts.get(name), self.label_level, self.options.channels_last)
