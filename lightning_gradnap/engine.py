"""The profiling engine: one batch in, per-layer group sums updated (DESIGN §1, §2 data flow).

Per batch: forward with hooks -> objective -> one ``autograd.grad`` for all layers ->
relevance ``a * g`` (or ``a``) -> labels mapped to each layer's frames -> ``scatter_add_`` /
``index_add_`` into float64 sums on the model's device (each batch summed in the relevance's
precision, at least float32). No Python loop over frames, groups or examples.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from lightning_gradnap.accumulators import GroupSums
from lightning_gradnap.batch import ProfileBatch, as_profile_batch
from lightning_gradnap.frames import (
    cut_windows,
    find_segments,
    layer_frame_index,
    layer_valid_mask,
    mask_lengths,
    segment_centres,
    segment_salient_frames,
)
from lightning_gradnap.objectives import ObjectiveInputs, resolve_objective
from lightning_gradnap.profiles import (
    FeatureViews,
    LayerProfile,
    Profiles,
    check_group_names,
    group_means,
    normalize_profiles,
)
from lightning_gradnap.recording import ActivationRecorder

__all__ = ["ProfileEngine"]

BatchSums = dict[str, tuple[torch.Tensor, torch.Tensor]]

METHODS = ("gradnap", "nap")
LABEL_LEVELS = ("frame", "utterance")
WINDOW_CENTRES = ("segment", "salient")


def _choice(name: str, value: object, allowed: Sequence[object]) -> None:
    if value not in allowed:
        raise ValueError(f"`{name}` should be one of {list(allowed)}, got {value!r}")


def default_output_transform(output: Any) -> torch.Tensor:
    """The scores in a model's output: the tensor itself, the first item of a tuple, or ``["logits"]``."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    if isinstance(output, dict) and isinstance(output.get("logits"), torch.Tensor):
        return output["logits"]
    raise TypeError(
        f"cannot find the scores in a model output of type {type(output).__name__}: "
        "pass output_transform=lambda output: <the [B, K, T] scores>"
    )


class ProfileEngine:
    """Accumulates NAPs or GradNAPs of named layers over batches.

    Args:
        layers: Module names as in ``model.named_modules()``.
        num_groups: Number of groups ``G``.
        method: ``"gradnap"`` (relevance ``a * dy/da``) or ``"nap"`` (relevance ``a``).
        objective: ``"predicted_logit"`` (default), ``"predicted_logprob"``, ``"target_logprob"``,
            ``"ctc"``, or a callable ``(scores [B, K, T], ObjectiveInputs) -> scalar``.
        absolute: Use ``|relevance|``.
        label_level: ``"frame"`` (labels ``[B, T]``) or ``"utterance"`` (labels ``[B]``).
        window: If set, time-resolved profiles: ``window`` layer frames around each labelled
            segment (frame level only), giving ``[G, C, window]`` profiles.
        window_center: ``"segment"`` (the segment's centre) or ``"salient"`` (its frame of largest
            ``sum_c |dy/da|``; GradNAP only).
        class_dim: Axis of the classes in the model's scores (``[B, K, T]``: 1).
        channels_last: Layer outputs are ``[B, T, C]`` instead of ``[B, C, T]``.
        blank: CTC blank index (``objective="ctc"``).
        output_transform: Picks the scores from the model's output (default: the tensor, the
            first item of a tuple, or ``output["logits"]``).
        input_window: If set (frame level), also average windows of this many input frames of
            the first input ``x`` (``[B, F, T]``) and of ``x * dy/dx`` around each labelled
            segment: the input-domain feature views (:meth:`feature_views`).
    """

    def __init__(
        self,
        layers: Sequence[str],
        num_groups: int,
        method: str = "gradnap",
        objective: str | Callable[..., torch.Tensor] = "predicted_logit",
        absolute: bool = False,
        label_level: str = "frame",
        window: int | None = None,
        window_center: str = "segment",
        class_dim: int = 1,
        channels_last: bool = False,
        blank: int = 0,
        output_transform: Callable[[Any], torch.Tensor] | None = None,
        input_window: int | None = None,
    ) -> None:
        _choice("method", method, METHODS)
        _choice("label_level", label_level, LABEL_LEVELS)
        _choice("window_center", window_center, WINDOW_CENTRES)
        if num_groups < 1:
            raise ValueError(f"`num_groups` must be at least 1, got {num_groups}")
        if window is not None and (window < 1 or label_level != "frame"):
            raise ValueError("`window` must be a positive number of frames, with label_level='frame'")
        if input_window is not None and (input_window < 1 or label_level != "frame"):
            raise ValueError("`input_window` must be a positive number of frames, with label_level='frame'")
        if window_center == "salient" and method != "gradnap":
            raise ValueError("window_center='salient' needs gradients: use method='gradnap'")
        self.layers = [layers] if isinstance(layers, str) else list(layers)
        self.num_groups = num_groups
        self.method = method
        self.objective_name = objective if isinstance(objective, str) else getattr(objective, "__name__", "custom")
        self.objective = resolve_objective(objective)
        self.absolute = absolute
        self.label_level = label_level
        self.window = window
        self.window_center = window_center
        self.class_dim = class_dim
        self.channels_last = channels_last
        self.blank = blank
        self.output_transform = output_transform or default_output_transform
        self.sums = {name: GroupSums(num_groups) for name in self.layers}
        self.input_window = input_window
        input_views = [] if input_window is None else ["<input>"] + (["<input_x_grad>"] if method == "gradnap" else [])
        self.input_sums = {name: GroupSums(num_groups) for name in input_views}
        self.skipped_batches = 0

    @property
    def needs_gradients(self) -> bool:
        return self.method == "gradnap"

    def recorder(self, model: nn.Module) -> ActivationRecorder:
        """Hooks for this engine's layers (names are checked here)."""
        return ActivationRecorder(model, self.layers, keep_graph=self.needs_gradients)

    def reset(self) -> None:
        for sums in [*self.sums.values(), *self.input_sums.values()]:
            sums.reset()
        self.skipped_batches = 0

    # ---------------------------------------------------------------- one batch, end to end
    def run_batch(
        self,
        model: nn.Module,
        batch: ProfileBatch | Any,
        label_fn: Callable[[Any], torch.Tensor] | None = None,
        input_views: bool = True,
        recorder: ActivationRecorder | None = None,
    ) -> bool:
        """Forward ``batch`` through ``model`` with hooks and fold its relevance into the sums.

        Works inside ``torch.no_grad()`` and ``torch.inference_mode()`` (inputs are cloned out of
        inference mode); never changes the model's train/eval mode or parameters' ``.grad``.

        Args:
            model: The network.
            batch: A :class:`ProfileBatch` (or a dict / tuple, see :func:`as_profile_batch`).
            label_fn: Computes the labels from the model's output instead of ``batch.labels``
                (e.g. by forced alignment).
            input_views: Let this batch feed the input views (``input_window``).
            recorder: Hooks from :meth:`recorder` for ``model``, made once for many batches
                (default: made here, which looks the layers up again).

        Returns:
            False if the batch was skipped (non-finite relevance).
        """
        batch = as_profile_batch(batch)
        device = _model_device(model)
        with torch.inference_mode(False), torch.set_grad_enabled(self.needs_gradients):
            inputs = tuple(_prepare_input(x, device, self.needs_gradients) for x in batch.input_tuple)
            recorder = recorder or self.recorder(model)
            with recorder:
                output = model(*inputs)
            while recorder.changed_in_place():  # now copied: once more (each round copies one more layer)
                with recorder:
                    output = model(*inputs)
            if label_fn is not None:
                batch = replace(batch, labels=label_fn(output))
            return self.accumulate(recorder, output, batch, inputs[0] if input_views else None)

    # ---------------------------------------------------------------- after a forward pass
    def check_labels(self, batch: ProfileBatch) -> None:
        """Shape, dtype and range of the labels; one host synchronisation."""
        labels = batch.labels
        expected = 2 if self.label_level == "frame" else 1
        if not isinstance(labels, torch.Tensor) or labels.dim() != expected:
            shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
            raise ValueError(
                f"label_level={self.label_level!r} needs labels of shape "
                f"{'[B, T]' if expected == 2 else '[B]'}, got {shape}"
            )
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"labels must be integers (group indices, -1 = ignore), got {labels.dtype}")
        if labels.numel() == 0:
            return
        low, high = torch.stack([labels.min(), labels.max()]).tolist()
        if low < -1 or high >= self.num_groups:
            raise ValueError(
                f"labels range from {low} to {high}, but must lie in -1 .. {self.num_groups - 1} "
                f"(num_groups={self.num_groups}; -1 = ignore): raise num_groups or fix the labels"
            )

    def accumulate(
        self, recorder: ActivationRecorder, output: Any, batch: ProfileBatch, inputs: torch.Tensor | None = None
    ) -> bool:
        """Fold the recorded outputs of one forward pass into the sums.

        Args:
            recorder: Holds the layer outputs of the forward pass.
            output: The model's output.
            batch: The batch's labels (and lengths, targets).
            inputs: The model input the forward pass ran on (a leaf that requires grad for
                ``x * dy/dx``), for the input views of ``input_window``; ``None`` leaves this
                batch out of them.

        Returns:
            False if the batch was skipped because its relevance was not finite.
        """
        self.check_labels(batch)
        recorder.check_all_recorded()
        activations = {name: self._channels_first(name, a) for name, a in recorder.activations.items()}
        batch_size = next(iter(activations.values())).shape[0]
        if batch.labels.shape[0] != batch_size:
            raise ValueError(
                f"labels are for {batch.labels.shape[0]} examples but the batch has {batch_size}: "
                "give one label row per example"
            )
        num_input_frames = self._num_input_frames(batch)
        gradients: dict[str, torch.Tensor] = {}
        input_gradient = None
        wants_input_gradient = "<input_x_grad>" in self.input_sums and inputs is not None and inputs.requires_grad
        if self.needs_gradients:
            with torch.enable_grad():  # the forward ran with gradients; the caller may not
                scores = self._scores(output)
                valid = layer_valid_mask(batch.lengths, num_input_frames, scores.shape[2], batch_size, scores.device)
                targets = ObjectiveInputs(valid, batch.targets, batch.target_lengths, self.blank)
                objective = self.objective(scores, targets)
            gradients, extra = recorder.gradients(objective, [inputs] if wants_input_gradient else [])
            input_gradient = extra[0] if extra else None
            gradients = {name: self._channels_first(name, g) for name, g in gradients.items()}
        saliency = None
        if self.window is not None and self.window_center == "salient":
            saliency = {name: g.abs().sum(dim=1) for name, g in gradients.items()}
        relevance = {name: self._relevance(a, gradients.get(name)) for name, a in activations.items()}
        recorder.clear()
        if self.label_level == "utterance":
            batch_sums = self._utterance_sums(relevance, batch, num_input_frames)
        elif self.window is None:
            batch_sums = self._frame_sums(relevance, batch)
        else:
            batch_sums = self._window_sums(relevance, saliency, batch)
        if self.input_sums and inputs is not None:
            batch_sums.update(self._input_window_sums(inputs, input_gradient, batch))
        if not _all_finite(sums for sums, _ in batch_sums.values()):
            self.skipped_batches += 1
            warnings.warn(
                f"skipped a batch whose relevance is NaN or inf ({self.skipped_batches} so far)",
                RuntimeWarning,
                stacklevel=2,
            )
            return False
        for name, (sums, counts) in batch_sums.items():
            (self.input_sums if name in self.input_sums else self.sums)[name].add_sums(sums, counts)
        return True

    def _channels_first(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        if self.label_level == "frame" and tensor.dim() != 3:
            raise ValueError(
                f"layer {name!r} outputs shape {tuple(tensor.shape)}, but frame labels need a time "
                "axis ([B, C, T]): profile a layer with a time axis, or use label_level='utterance'"
            )
        return tensor.transpose(1, 2) if self.channels_last and tensor.dim() == 3 else tensor

    def _relevance(self, activation: torch.Tensor, gradient: torch.Tensor | None) -> torch.Tensor:
        """``a`` or ``a * g``; the product is taken in place in the gradient (the recorder's own tensor)."""
        if gradient is None:
            return activation.detach().abs() if self.absolute else activation.detach()
        relevance = gradient.mul_(activation.detach())
        return relevance.abs_() if self.absolute else relevance

    def _num_input_frames(self, batch: ProfileBatch) -> int:
        if self.label_level == "frame":
            return batch.labels.shape[1]
        return batch.input_tuple[0].shape[-1]

    def _scores(self, output: Any) -> torch.Tensor:
        scores = self.output_transform(output).movedim(self.class_dim, 1)
        if scores.dim() == 2:
            return scores[:, :, None]
        if scores.dim() != 3:
            raise ValueError(
                f"the objective needs scores [B, K] or [B, K, T], got shape {tuple(scores.shape)}: "
                "pass output_transform to pick them"
            )
        return scores

    def _frame_sums(self, relevance: dict[str, torch.Tensor], batch: ProfileBatch) -> BatchSums:
        labels = mask_lengths(batch.labels, batch.lengths).to(next(iter(relevance.values())).device)
        rows_by_frames: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # shared by layers of one stride
        result = {}
        for name, values in relevance.items():
            sums, frames = self.sums[name], values.shape[2]
            if frames not in rows_by_frames:
                rows = sums.rows(labels[:, layer_frame_index(labels.shape[1], frames, values.device)])
                rows_by_frames[frames] = rows, sums.row_counts(rows)
            result[name] = sums.frame_batch_sums(values, *rows_by_frames[frames])
        return result

    def _utterance_sums(self, relevance: dict[str, torch.Tensor], batch: ProfileBatch, input_frames: int) -> BatchSums:
        result = {}
        for name, values in relevance.items():
            if values.dim() > 2:  # average over the example's valid frames (all positions if not [B, C, T])
                lengths = batch.lengths if values.dim() == 3 else None
                values = values.flatten(2)
                valid = layer_valid_mask(lengths, input_frames, values.shape[2], values.shape[0], values.device)
                weights = valid.to(torch.float64) / valid.sum(dim=1, keepdim=True).clamp(min=1)
                values = torch.einsum("bct,bt->bc", values.to(torch.float64), weights)
            result[name] = self.sums[name].batch_sums(values, batch.labels.to(values.device))
        return result

    def _window_sums(
        self, relevance: dict[str, torch.Tensor], saliency: dict[str, torch.Tensor] | None, batch: ProfileBatch
    ) -> BatchSums:
        """Windows around each segment's centre, or its most salient frame (``saliency [B, T]`` per layer)."""
        labels = mask_lengths(batch.labels, batch.lengths)
        segments = find_segments(labels)
        num_input_frames = labels.shape[1]
        result = {}
        for name, values in relevance.items():
            batch_size, _, frames = values.shape
            valid = layer_valid_mask(batch.lengths, num_input_frames, frames, batch_size, values.device)
            if saliency is not None:
                centres = segment_salient_frames(segments, saliency[name], num_input_frames, valid)
            else:
                centres = segment_centres(segments, num_input_frames, frames)
            windows = cut_windows(values, segments.batch, centres, valid.sum(dim=1), self.window)  # type: ignore[arg-type]
            result[name] = self.sums[name].batch_sums(windows, segments.label)
        return result

    def _input_window_sums(self, inputs: torch.Tensor, gradient: torch.Tensor | None, batch: ProfileBatch) -> BatchSums:
        """Feature windows ``x`` (and ``x * dy/dx``) centred on each labelled segment (DESIGN §1.7)."""
        if inputs.dim() != 3 or inputs.shape[-1] != batch.labels.shape[1]:
            raise ValueError(
                f"input windows need an input [B, F, T] with one label per input frame; got input "
                f"{tuple(inputs.shape)} and labels {tuple(batch.labels.shape)}: set input_window=None"
            )
        labels = mask_lengths(batch.labels, batch.lengths)
        segments = find_segments(labels)
        centres = segment_centres(segments, labels.shape[1], labels.shape[1])
        lengths = (labels.new_full((labels.shape[0],), labels.shape[1]) if batch.lengths is None else batch.lengths)
        views = {"<input>": inputs.detach()}
        if gradient is not None:
            views["<input_x_grad>"] = inputs.detach() * gradient
        return {
            name: self.input_sums[name].batch_sums(cut_windows(values, segments.batch, centres, lengths, self.input_window), segments.label)  # type: ignore[arg-type]
            for name, values in views.items()
        }

    # ---------------------------------------------------------------- results
    def state(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Sums and counts of every layer (and input view) that received data, for reductions."""
        every = {**self.sums, **self.input_sums}
        return {name: (s.sums, s.counts) for name, s in every.items() if not s.is_empty}

    def feature_views(self, state: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None) -> FeatureViews | None:
        """Mean input windows per group (and of ``x * dy/dx``), or None without ``input_window``."""
        state = self.state() if state is None else state
        if "<input>" not in state:
            return None
        sums, counts = (t.detach().cpu().numpy() for t in state["<input>"])
        weighted = state.get("<input_x_grad>")
        return FeatureViews(
            group_means(sums, counts),
            None if weighted is None else group_means(weighted[0].detach().cpu().numpy(), counts),
            counts,
            sums.sum(axis=0) / max(counts.sum(), 1.0),
        )

    def result(
        self,
        group_names: Sequence[str] | None = None,
        group_categories: Sequence[str] | None = None,
        weight_by_count: bool = False,
        scale: str | None = None,
        state: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> Profiles:
        """Normalised profiles from the sums (or from a given, e.g. reduced, ``state``).

        Raises:
            ValueError: if no batch has been profiled or every group is absent.
        """
        state = self.state() if state is None else state
        state = {name: value for name, value in state.items() if name in self.sums}
        if not state:
            raise ValueError("no batch has been profiled: give at least one batch with labelled frames")
        names = check_group_names(group_names, self.num_groups)
        categories = None if group_categories is None else check_group_names(
            group_categories, self.num_groups, "group_categories"
        )
        layers = {}
        for name, (sums, counts) in state.items():
            sums_np, counts_np = sums.detach().cpu().numpy(), counts.detach().cpu().numpy()
            means = group_means(sums_np, counts_np)
            layers[name] = LayerProfile(normalize_profiles(means, counts_np, weight_by_count, scale), means, counts_np)
        if all(not layer.present.any() for layer in layers.values()):
            raise ValueError(
                "every group is absent: no frame carried a label in 0 .. G-1 (all -1, or all past the "
                "lengths); check the labels and lengths of the batches"
            )
        return Profiles(layers, names, categories, self.metadata(weight_by_count, scale))

    def metadata(self, weight_by_count: bool = False, scale: str | None = None) -> dict[str, Any]:
        return {
            "method": self.method,
            "objective": self.objective_name,
            "absolute": self.absolute,
            "label_level": self.label_level,
            "window": self.window,
            "window_center": self.window_center,
            "weight_by_count": weight_by_count,
            "scale": scale,
            "skipped_batches": self.skipped_batches,
        }


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _prepare_input(value: object, device: torch.device, requires_grad: bool) -> object:
    """Move a tensor input to the model's device, out of inference mode, as a leaf that may need grad."""
    if not isinstance(value, torch.Tensor):
        return value
    tensor = value.to(device)
    if tensor.is_inference():
        tensor = tensor.clone()
    if requires_grad and tensor.is_floating_point():
        tensor = tensor.detach().requires_grad_(True)
    return tensor


def _all_finite(tensors) -> bool:
    """One host synchronisation for all layers (the tensors are small per-batch group sums).

    A NaN or inf anywhere makes its tensor's sum NaN or inf (float64 sums of float32 values
    cannot overflow), so the sums are checked instead of every element.
    """
    totals = [t.sum() for t in tensors]
    return bool(torch.isfinite(torch.stack(totals)).all()) if totals else True
