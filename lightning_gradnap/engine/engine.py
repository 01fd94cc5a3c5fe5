"""The profiling engine: one batch in, per-layer group sums updated (docs/METHOD.md §1, docs/ARCHITECTURE.md §1).

Per batch: forward with hooks -> objective -> one ``autograd.grad`` for all layers ->
relevance ``a * g`` (or ``a``) -> labels mapped to each layer's frames -> ``scatter_add_`` /
``index_add_`` into float64 sums on the model's device (each batch summed in the relevance's
precision, at least float32). No Python loop over frames, groups or examples.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from lightning_gradnap.config import check_engine_options
from lightning_gradnap.engine.folds import (
    Fold,
    FoldBatch,
    FrameFold,
    InputWindowFold,
    UtteranceFold,
    WindowFold,
    relevance_of,
)
from lightning_gradnap.engine.group_sums import SumsByName
from lightning_gradnap.profiles.from_state import feature_views_from_state, profiles_from_state
from lightning_gradnap.profiles.result import FeatureViews, Profiles
from lightning_gradnap.recording.batch import ProfileBatch, as_profile_batch, check_labels, model_device, prepare_input
from lightning_gradnap.recording.frame_maps import AnyFrameMap, FrameMapSpec, check_frame_maps
from lightning_gradnap.recording.hooks import ActivationRecorder
from lightning_gradnap.recording.layouts import Layout, LayoutOverride, overridden
from lightning_gradnap.recording.objectives import (
    ObjectiveInputs,
    default_output_transform,
    masked_objective,
    resolve_objective,
    scores_of,
)
from lightning_gradnap.recording.probe import OUTPUT, find_maps_and_layouts

__all__ = ["OUTPUT", "ProfileEngine"]


class ProfileEngine:
    """Accumulates NAPs or GradNAPs of named layers over batches.

    Args:
        layers: Module names as in ``model.named_modules()``.
        num_groups: Number of groups ``G``.
        method: ``"gradnap"`` (relevance ``a * dy/da``) or ``"nap"`` (relevance ``a``), or a list of
            both: one forward and backward give both (the first is the default of :meth:`result`).
        objective: ``"predicted_logit"`` (default), ``"predicted_logprob"``, ``"target_logprob"``,
            ``"ctc"``, or a callable ``(scores [B, K, T], ObjectiveInputs) -> scalar``.
        absolute: Use ``|relevance|``.
        label_level: ``"frame"`` (labels ``[B, T]``) or ``"utterance"`` (labels ``[B]``).
        window: If set, time-resolved profiles: ``window`` layer frames around each labelled
            segment (frame level only), giving ``[G, C, window]`` profiles.
        window_center: ``"segment"`` (the segment's centre) or ``"salient"`` (its frame of largest
            ``sum_c |dy/da|``; GradNAP only).
        class_dim: Axis of the classes in the model's scores (``[B, K, T]``: 1); ``None``: found by probing.
        channels_last: Layer outputs (and the input) are ``[B, T, C]`` (True) or ``[B, C, T]`` (False);
            a dict says it per layer (``"<input>"``: the first input; True: time on axis 1, False:
            the last axis); ``None`` (or a name not in the dict): found by probing, per layer (the
            axis that grows with the input's length is time, the one of size B the batch, the rest
            neurons, so ``[T, B, C]`` and 4-D outputs work too).
        blank: CTC blank index (``objective="ctc"``).
        output_transform: Picks the scores from the model's output (default: the tensor, the
            first tensor of a tuple with a class axis, or ``output["logits"]``).
        input_window: If set (frame level), also average windows of this many input frames of
            the first input ``x`` (``[B, F, T]``) and of ``x * dy/dx`` around each labelled
            segment: the input-domain feature views (:meth:`feature_views`).
        frame_maps: Where layer frames sit on the input, by layer (``"<output>"``: the scores):
            ``(stride, offset[, length_offset])``, a :class:`~lightning_gradnap.FrameMap` or a
            callable ``num_layer_frames -> input frames``; the others are probed at the first batch.
        label_rate: Input time steps per label frame (160 for 10 ms labels of 16 kHz audio): a
            layer frame takes the label at its receptive-field centre on the input ``// label_rate``.
            Lengths count input time steps.
        skip_failing_input_views: Where the input views cannot be cut (``input_window`` with labels at
            another rate, or an input they cannot take), leave them out with a warning instead of raising.
    """

    def __init__(
        self,
        layers: Sequence[str],
        num_groups: int,
        method: str | Sequence[str] = "gradnap",
        objective: str | Callable[..., torch.Tensor] = "predicted_logit",
        absolute: bool = False,
        label_level: str = "frame",
        window: int | None = None,
        window_center: str = "segment",
        class_dim: int | None = 1,
        channels_last: LayoutOverride = False,
        blank: int = 0,
        output_transform: Callable[[Any], torch.Tensor] | None = None,
        input_window: int | None = None,
        frame_maps: Mapping[str, FrameMapSpec] | None = None,
        label_rate: int = 1,
        skip_failing_input_views: bool = False,
    ) -> None:
        self.methods = [method] if isinstance(method, str) else list(method)
        check_engine_options(num_groups, self.methods, label_level, window, window_center, input_window)
        self.layers = [layers] if isinstance(layers, str) else list(layers)
        if isinstance(label_rate, bool) or not isinstance(label_rate, int) or label_rate < 1:
            raise ValueError(
                f"label_rate must be a positive integer (input time steps per label frame), got {label_rate!r}"
            )
        self.label_rate = label_rate
        self.skip_failing_input_views = skip_failing_input_views
        self.num_groups = num_groups
        self.method = self.methods[0]
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
        self.fold: Fold = (
            UtteranceFold()
            if label_level == "utterance"
            else FrameFold()
            if window is None
            else WindowFold(window, window_center)
        )
        self.input_window = input_window
        self.input_fold = None if input_window is None else InputWindowFold(input_window)
        input_views = [] if input_window is None else ["<input>"] + (["<input_x_grad>"] if self.needs_gradients else [])
        keys = [self.state_key(m, name) for m in self.methods for name in self.layers]
        self.accumulated = SumsByName(num_groups, keys, input_views)
        self.sums = {name: self.accumulated.layers[name] for name in self.layers}  # of the first method
        self.input_sums = self.accumulated.inputs
        self.given_frame_maps = check_frame_maps(frame_maps, [*self.layers, OUTPUT])
        self.frame_maps: dict[str, AnyFrameMap] | None = None  # found at the first batch (prepare)
        self.layouts: dict[str, Layout] = {}  # of the layers and the scores, found with the frame maps
        self.input_time_axis: int | None = None
        self.examples_seen = 0  # since the last reset: alternates the halves of utterances without lengths

    @property
    def needs_gradients(self) -> bool:
        return "gradnap" in self.methods

    def state_key(self, method: str, layer: str) -> str:
        """Name of a layer's sums in :meth:`state`: the layer for the first method, else ``method/layer``."""
        return layer if method == self.methods[0] else f"{method}/{layer}"

    def recorder(self, model: nn.Module) -> ActivationRecorder:
        return ActivationRecorder(model, self.layers, keep_graph=self.needs_gradients)  # checks the names

    @property
    def skipped_batches(self) -> int:  # since the last reset, for relevance that was not finite
        return self.accumulated.skipped_batches

    def reset(self) -> None:
        self.accumulated.reset()
        self.examples_seen = 0

    # ---------------------------------------------------------------- once, at the first batch
    def prepare(
        self, model: nn.Module, batch: ProfileBatch | Any, layers: Mapping[str, nn.Module] | None = None
    ) -> None:
        """Find the frame maps of the layers and the scores, once, by probing ``model`` with random
        inputs shaped like ``batch``'s (:func:`~lightning_gradnap.recording.probe.find_frame_maps`).

        Called by :meth:`run_batch`; call it yourself before a forward whose hooks feed :meth:`accumulate`.
        ``layers``: the profiled modules by name, when ``model`` is not the module the names refer to.
        """
        batch = as_profile_batch(batch)
        if self.frame_maps is None and (self.label_level == "frame" or batch.lengths is not None):
            options = (self.channels_last, self.class_dim, self.output_transform, self.label_rate)
            found = find_maps_and_layouts(model, batch, layers or self.layers, self.given_frame_maps, *options)
            self.frame_maps, self.layouts, self.input_time_axis = found

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
        inference mode); never changes the model's train/eval mode or parameters' ``.grad``. Args:
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
        device = model_device(model)
        with torch.inference_mode(False), torch.set_grad_enabled(self.needs_gradients):
            inputs = tuple(prepare_input(x, device, self.needs_gradients) for x in batch.input_tuple)
            if batch.lengths is not None:  # the lengths an input may share with the batch (see prepare)
                lengths = next((c for x, c in zip(batch.input_tuple, inputs) if x is batch.lengths), batch.lengths)
                batch = replace(batch, inputs=inputs, lengths=lengths)
            self.prepare(model, replace(batch, inputs=inputs), None if recorder is None else recorder.modules)
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
    def accumulate(
        self, recorder: ActivationRecorder, output: Any, batch: ProfileBatch, inputs: torch.Tensor | None = None
    ) -> bool:
        """Fold the recorded outputs of one forward pass into the sums (after :meth:`prepare`).

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
        batch = as_profile_batch(batch)
        labels = check_labels(batch.labels, self.label_level, self.num_groups)
        recorder.check_all_recorded()
        activations = {name: self._channels_first(name, a) for name, a in recorder.activations.items()}
        batch_size, device = next(iter(activations.values())).shape[0], next(iter(activations.values())).device
        if labels.shape[0] != batch_size:
            raise ValueError(
                f"labels are for {labels.shape[0]} examples but the batch has {batch_size}: give one label row per example"
            )
        frame_level = self.label_level == "frame"
        lengths = self._absolute_lengths(batch)
        fold_batch = FoldBatch.make(
            labels, lengths, frame_level, self.frame_maps, device, self.examples_seen, self.label_rate
        )
        self.examples_seen += batch_size
        gradients: dict[str, torch.Tensor] = {}
        input_gradient = None
        wants_input_gradient = "<input_x_grad>" in self.input_sums and inputs is not None and inputs.requires_grad
        if self.needs_gradients:
            with torch.enable_grad():  # the forward ran with gradients; the caller may not
                scores = self._scores(output)
                extra = ObjectiveInputs(None, batch.targets, batch.target_lengths, self.blank)  # type: ignore[arg-type]
                objective = masked_objective(
                    self.objective,
                    scores,
                    fold_batch.lengths,
                    fold_batch.frame_maps.get(OUTPUT),
                    extra,
                    self.label_rate,
                )
            gradients, extra = recorder.gradients(objective, [inputs] if wants_input_gradient else [])
            input_gradient = extra[0] if extra else None
            gradients = {name: self._channels_first(name, g) for name, g in gradients.items()}
        if self.window is not None and self.window_center == "salient":
            fold_batch.saliency = {name: g.abs().sum(dim=1) for name, g in gradients.items()}
        batch_sums = {}
        for method in self.methods[::-1]:  # NAP first: GradNAP's product is taken in place in the gradients
            relevance = {
                name: relevance_of(a, gradients.get(name) if method == "gradnap" else None, self.absolute)
                for name, a in activations.items()
            }
            sums = {name: self.accumulated.layers[self.state_key(method, name)] for name in relevance}
            folded = self.fold.batch_sums(relevance, fold_batch, sums)
            batch_sums.update({self.state_key(method, name): value for name, value in folded.items()})
        recorder.clear()
        if self.input_fold is not None and inputs is not None:
            batch_sums.update(self._input_views(inputs, input_gradient, fold_batch))
        return self.accumulated.add(batch_sums)

    def _input_views(self, inputs: torch.Tensor, gradient: torch.Tensor | None, fold_batch: FoldBatch) -> dict:
        """The feature view's sums of this batch: the input as ``[B, F, T]`` (its time axis last, other axes
        folded into F); where it cannot be cut into windows (labels at another rate than the input, a
        shape it cannot take), the view is left out from now on, with a warning that names it."""
        assert self.input_fold is not None
        axis = inputs.dim() - 1 if self.input_time_axis is None else self.input_time_axis
        layout = Layout(0, axis, inputs.dim()) if inputs.dim() > 2 else Layout(0, 2, 3)
        if inputs.dim() == 2:  # a waveform: one feature
            inputs, gradient = inputs[:, None], None if gradient is None else gradient[:, None]
        inputs, gradient = layout.to_bct(inputs), None if gradient is None else layout.to_bct(gradient)
        try:
            if not inputs.is_floating_point():
                raise ValueError("the input holds integer tokens, which have no features to average")
            if self.label_rate != 1:
                raise ValueError(
                    f"input windows need one label per input frame, but labels come one per {self.label_rate} "
                    "input steps (label_rate): set input_window=None (GradNAPCallback: leave 'features' out of `views`)"
                )
            views = self.input_fold.views(inputs, gradient)
            return self.input_fold.batch_sums(views, fold_batch, self.input_sums)
        except ValueError as error:
            if not self.skip_failing_input_views:
                raise
            warnings.warn(
                f"the 'features' view (input windows) is left out: {error}. Leave 'features' out of the callback's "
                "`views` (ProfileEngine: input_window=None) to silence this",
                UserWarning,
                stacklevel=3,
            )
            self.input_fold = None
            return {}

    def _scores(self, output: Any) -> torch.Tensor:
        layout = self.layouts.get(OUTPUT)
        if self.class_dim is not None or layout is None:
            return scores_of(output, self.output_transform, 1 if self.class_dim is None else self.class_dim)
        return layout.to_bct(self.output_transform(output))

    def _absolute_lengths(self, batch: ProfileBatch) -> torch.Tensor | None:
        """The batch's lengths in input steps: relative ones (floats in ``(0, 1]``, as SpeechBrain's
        ``wav_lens``) times the padded input length, rounded."""
        lengths = batch.lengths
        if lengths is None or not lengths.is_floating_point():
            return lengths
        first = batch.input_tuple[0]
        padded = first.shape[-1 if self.input_time_axis is None else self.input_time_axis]
        return torch.round(lengths.double() * padded).long()

    def _channels_first(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        layout = self.layouts.get(name)
        if layout is not None and layout.ndim == tensor.dim():
            return layout.to_bct(tensor)
        if self.label_level == "frame" and tensor.dim() != 3:
            raise ValueError(
                f"layer {name!r} outputs shape {tuple(tensor.shape)}, but frame labels need a time "
                "axis ([B, C, T]): profile a layer with a time axis, or use label_level='utterance'"
            )
        return tensor.transpose(1, 2) if overridden(self.channels_last, name) and tensor.dim() == 3 else tensor

    # ---------------------------------------------------------------- results
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
        reduced, ``state``).

        Raises:
            ValueError: if no batch has been profiled or every group is absent.
        """
        method = method or self.method
        if method not in self.methods:
            raise ValueError(f"this engine profiles {self.methods}, not {method!r}")
        state = self.state() if state is None else state
        keys = {self.state_key(method, name): name for name in self.layers}
        state = {keys[key]: value for key, value in state.items() if key in keys}
        if not state:
            skipped = f" ({self.skipped_batches} skipped as NaN or inf)" if self.skipped_batches else ""
            raise ValueError(f"no batch has been profiled{skipped}: give at least one batch with labelled frames")
        metadata = {**self.metadata(weight_by_count, scale), "method": method}
        return profiles_from_state(
            state, self.num_groups, group_names, group_categories, weight_by_count, scale, metadata
        )

    def metadata(self, weight_by_count: bool = False, scale: str | None = None) -> dict[str, Any]:
        options = {key: getattr(self, key) for key in ("method", "absolute", "label_level", "window", "window_center")}
        return {
            **options,
            "objective": self.objective_name,
            "weight_by_count": weight_by_count,
            "scale": scale,
            "skipped_batches": self.skipped_batches,
        }
