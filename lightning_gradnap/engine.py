"""The profiling engine: one batch in, per-layer group sums updated (DESIGN §1, §2 data flow).

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

from lightning_gradnap.accumulators import GroupSums
from lightning_gradnap.batch import ProfileBatch, as_profile_batch, check_labels
from lightning_gradnap.folds import BatchSums, Fold, FoldBatch, FrameFold, InputWindowFold, UtteranceFold, WindowFold
from lightning_gradnap.frame_maps import AnyFrameMap, FrameMapSpec, check_frame_maps
from lightning_gradnap.frames import mask_lengths
from lightning_gradnap.objectives import ObjectiveInputs, default_output_transform, resolve_objective, scores_of
from lightning_gradnap.probing import probe_frame_maps
from lightning_gradnap.profiles import FeatureViews, LayerProfile, Profiles, check_group_names, group_means, normalize_profiles
from lightning_gradnap.recording import ActivationRecorder

__all__ = ["OUTPUT", "ProfileEngine"]

METHODS = ("gradnap", "nap")
LABEL_LEVELS = ("frame", "utterance")
WINDOW_CENTRES = ("segment", "salient")
OUTPUT = "<output>"  # the model's scores, in frame maps


def _choice(name: str, value: object, allowed: Sequence[object]) -> None:
    if value not in allowed:
        raise ValueError(f"`{name}` should be one of {list(allowed)}, got {value!r}")


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
        channels_last: Layer outputs (and the input) are ``[B, T, C]`` instead of ``[B, C, T]``.
        blank: CTC blank index (``objective="ctc"``).
        output_transform: Picks the scores from the model's output (default: the tensor, the
            first tensor of a tuple with a class axis, or ``output["logits"]``).
        input_window: If set (frame level), also average windows of this many input frames of
            the first input ``x`` (``[B, F, T]``) and of ``x * dy/dx`` around each labelled
            segment: the input-domain feature views (:meth:`feature_views`).
        frame_maps: Where layer frames sit on the input, by layer name (``"<output>"``: the
            model's scores): ``(stride, offset[, length_offset])``, a
            :class:`~lightning_gradnap.frame_maps.FrameMap`, or a callable ``num_layer_frames ->
            input frames``. Layers not given are probed once, at the first batch.
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
        frame_maps: Mapping[str, FrameMapSpec] | None = None,
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
        self.fold: Fold = (
            UtteranceFold() if label_level == "utterance" else FrameFold() if window is None else WindowFold(window, window_center)
        )
        self.sums = {name: GroupSums(num_groups) for name in self.layers}
        self.input_window = input_window
        self.input_fold = None if input_window is None else InputWindowFold(input_window)
        input_views = [] if input_window is None else ["<input>"] + (["<input_x_grad>"] if method == "gradnap" else [])
        self.input_sums = {name: GroupSums(num_groups) for name in input_views}
        self.given_frame_maps = check_frame_maps(frame_maps)
        unknown = sorted(set(self.given_frame_maps) - {*self.layers, OUTPUT})
        if unknown:
            raise ValueError(f"`frame_maps` names {unknown}, which are not profiled: use names from `layers` or {OUTPUT!r}")
        self.frame_maps: dict[str, AnyFrameMap] | None = None  # found at the first batch (prepare)
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

    # ---------------------------------------------------------------- once, at the first batch
    def prepare(self, model: nn.Module, batch: ProfileBatch | Any) -> None:
        """Find the frame maps of the layers and the scores, once (see :mod:`lightning_gradnap.probing`).

        Called by :meth:`run_batch`; call it yourself before a forward whose hooks feed
        :meth:`accumulate`. It runs the model on random inputs shaped like ``batch``'s: the first
        input gets new lengths along its time axis (the last, or axis 1 with ``channels_last``),
        an input that *is* the ``lengths`` tensor is set to those lengths, other inputs are
        repeated from the first example.
        """
        if self.frame_maps is not None:
            return
        batch = as_profile_batch(batch)
        if self.label_level == "utterance" and batch.lengths is None:
            return  # every position counts: no map needed until a batch brings lengths
        names = [name for name in [*self.layers, OUTPUT] if name not in self.given_frame_maps]
        probed = probe_frame_maps(model, self._probe_run(model, batch, names), names) if names else {}
        self.frame_maps = {**probed, **self.given_frame_maps}

    def _probe_run(self, model: nn.Module, batch: ProfileBatch, names: list[str]):
        template = batch.input_tuple
        first = template[0]
        if not isinstance(first, torch.Tensor) or not first.is_floating_point() or first.dim() < 2:
            raise ValueError(
                "cannot probe where layer frames sit on the input: the first model input is not a floating "
                f"[B, ..., T] tensor; give frame_maps for {names}"
            )
        time_axis = 1 if self.channels_last else first.dim() - 1
        device, recorder = first.device, ActivationRecorder(model, [n for n in names if n != OUTPUT], keep_graph=True)
        generator = torch.Generator().manual_seed(0)  # never the global generators

        def run(frames: int, batch_size: int, nan_frames: list[int] | None = None):
            shape = [batch_size, *first.shape[1:]]
            shape.pop(time_axis)
            x = torch.randn(*shape, frames, generator=generator).to(device, first.dtype)
            if nan_frames is not None:
                x[torch.arange(batch_size), ..., torch.tensor(nan_frames)] = float("nan")
            x.requires_grad_(nan_frames is None)
            lengths = torch.full((batch_size,), frames, device=device)
            others = [lengths if t is batch.lengths else _repeat_first(t, batch_size) for t in template[1:]]
            with recorder:
                output = model(x.movedim(-1, time_axis), *others)
            recorder.check_called()
            outputs = {  # layers without a time axis need no map (accumulate rejects them at frame level)
                name: a.transpose(1, 2) if self.channels_last else a for name, a in recorder.activations.items() if a.dim() == 3
            }
            scores = self.output_transform(output)
            if OUTPUT in names and isinstance(scores, torch.Tensor) and scores.dim() == 3:
                outputs[OUTPUT] = scores.movedim(self.class_dim, 1)
            return x, outputs

        return run

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
            if batch.lengths is not None:  # the lengths an input may share with the batch (see prepare)
                lengths = next((c for x, c in zip(batch.input_tuple, inputs) if x is batch.lengths), batch.lengths)
                batch = replace(batch, inputs=inputs, lengths=lengths)
            self.prepare(model, replace(batch, inputs=inputs))
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
        fold_batch = self._fold_batch(batch, labels, device)
        gradients: dict[str, torch.Tensor] = {}
        input_gradient = None
        wants_input_gradient = "<input_x_grad>" in self.input_sums and inputs is not None and inputs.requires_grad
        if self.needs_gradients:
            with torch.enable_grad():  # the forward ran with gradients; the caller may not
                objective = self._objective(output, batch, fold_batch)
            gradients, extra = recorder.gradients(objective, [inputs] if wants_input_gradient else [])
            input_gradient = extra[0] if extra else None
            gradients = {name: self._channels_first(name, g) for name, g in gradients.items()}
        if self.window is not None and self.window_center == "salient":
            fold_batch.saliency = {name: g.abs().sum(dim=1) for name, g in gradients.items()}
        relevance = {name: self._relevance(a, gradients.get(name)) for name, a in activations.items()}
        recorder.clear()
        batch_sums = self.fold.batch_sums(relevance, fold_batch, self.sums)
        if self.input_fold is not None and inputs is not None:
            views = {"<input>": inputs.detach()}
            if input_gradient is not None:
                views["<input_x_grad>"] = inputs.detach() * input_gradient
            batch_sums.update(self.input_fold.batch_sums(views, fold_batch, self.input_sums))
        return self._add(batch_sums)

    def _fold_batch(self, batch: ProfileBatch, labels: torch.Tensor, device: torch.device) -> FoldBatch:
        lengths = batch.lengths
        if lengths is None and self.label_level == "frame":
            lengths = torch.full((labels.shape[0],), labels.shape[1])
        if lengths is not None and self.frame_maps is None:
            raise RuntimeError(
                "the frame maps are not known yet: call engine.prepare(model, batch) once before the forward "
                "pass whose hooks feed accumulate (run_batch does so)"
            )
        lengths = None if lengths is None else lengths.to(device)
        if self.label_level == "frame":
            labels = mask_lengths(labels.to(device), lengths)
        return FoldBatch(labels.to(device), lengths, self.frame_maps or {})

    def _objective(self, output: Any, batch: ProfileBatch, fold_batch: FoldBatch) -> torch.Tensor:
        scores = scores_of(output, self.output_transform, self.class_dim)
        frames = scores.shape[2]
        frame_map = fold_batch.frame_maps.get(OUTPUT)
        if fold_batch.lengths is None or frame_map is None:
            valid = torch.ones(scores.shape[0], frames, dtype=torch.bool, device=scores.device)
            frame_index = None
        else:
            valid = frame_map.valid(fold_batch.lengths.to(scores.device), frames)
            frame_index = frame_map.input_frames(frames, scores.device)
        scores = scores.masked_fill(~valid[:, None, :], 0)  # a NaN in padding reaches no gradient
        return self.objective(scores, ObjectiveInputs(valid, batch.targets, batch.target_lengths, self.blank, frame_index))

    def _add(self, batch_sums: BatchSums) -> bool:
        """Fold a finite batch into the running sums; skip (with a warning) one that is not."""
        if not _all_finite(sums[: self.num_groups] for sums, _ in batch_sums.values()):
            self.skipped_batches += 1
            warnings.warn(
                f"skipped a batch whose relevance is NaN or inf in labelled frames ({self.skipped_batches} so far)",
                RuntimeWarning,
                stacklevel=3,
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
            skipped = f" ({self.skipped_batches} skipped as NaN or inf)" if self.skipped_batches else ""
            raise ValueError(f"no batch has been profiled{skipped}: give at least one batch with labelled frames")
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


def _repeat_first(value: object, batch_size: int) -> object:
    """A batch of ``batch_size`` copies of the first example of a tensor input (others as they are)."""
    if not isinstance(value, torch.Tensor) or value.dim() == 0:
        return value
    return value[:1].clone().repeat(batch_size, *[1] * (value.dim() - 1))


def _all_finite(tensors) -> bool:
    """One host synchronisation for all layers (the tensors are small per-batch group sums).

    A NaN or inf anywhere makes its tensor's sum NaN or inf (float64 sums of float32 values
    cannot overflow), so the sums are checked instead of every element.
    """
    totals = [t.sum() for t in tensors]
    return bool(torch.isfinite(torch.stack(totals)).all()) if totals else True
