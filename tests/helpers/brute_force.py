"""A plain-autograd reference for profiles of any model, one utterance at a time (no padding).

Slow and obvious on purpose: forward hooks keep the chosen layers' outputs, ``y`` is the objective
on the scores, ``g = torch.autograd.grad(y, outputs)``, ``r = a * g`` (NAP: ``r = a``), and each layer
frame adds ``r`` to the group of the label at its receptive-field centre, in explicit Python loops.
Nothing is found from the model: the caller states each layer's layout (which axes are batch, time
and neurons) and, worked out by hand from the layers' geometry, each layer frame's receptive-field
centre on the input. The definitions mirror DESIGN §1 and the engine:

* a layer frame is *valid* when its centre lies inside the utterance (``0 <= centre < length``, in
  input steps); run alone, every frame the layer has exists for the utterance;
* its label is that of the input step at its centre, with ``label_rate`` input steps per label
  (``labels[centre // label_rate]``; ``-1`` = ignore);
* the default objective ``predicted_logit`` is the sum over valid output frames of the arg-max score;
* ``S[g] += r`` (float64) over valid frames labelled ``g``, ``N[g] += 1``; means ``S / N``; profiles
  centred on the unweighted mean over present groups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "Layout",
    "Utterance",
    "ReferenceLayer",
    "brute_force_profiles",
    "assert_profiles_match",
    "conv_centres",
    "correctness_labels",
]


@dataclass(frozen=True)
class Layout:
    """Which axes of one utterance's tensor (batch size 1) are batch, time and neurons.

    Attributes:
        name: Module name (``"<output>"`` for the scores).
        batch_axis: Axis of size 1 (the batch).
        time_axis: Axis of the frames.
        centres: ``num_frames -> [num_frames]`` input step at the centre of each frame's receptive
            field, worked out by hand from the model's geometry.
        pick: Takes the tensor out of the module's output (default: the tensor itself, a tuple's
            first element, ``output.logits`` for a ``ModelOutput``).

    The remaining axes are the neurons, flattened in their order (channel x frequency for 4-D layers).
    """

    name: str
    batch_axis: int
    time_axis: int
    centres: Callable[[int], Sequence[int]]
    pick: Callable[[Any], torch.Tensor] | None = None

    def tensor_of(self, output: Any) -> torch.Tensor:
        if self.pick is not None:
            return self.pick(output)
        if isinstance(output, torch.Tensor):
            return output
        if isinstance(output, (tuple, list)):
            return output[0]
        if hasattr(output, "logits"):
            return output.logits
        raise TypeError(f"{self.name}: cannot find a tensor in {type(output).__name__}; give Layout.pick")

    def frames_by_neurons(self, tensor: torch.Tensor) -> torch.Tensor:
        """``[T, C]`` of one utterance: batch and time moved to the front, the rest flattened."""
        assert tensor.shape[self.batch_axis] == 1, f"{self.name}: batch axis {self.batch_axis} of {tuple(tensor.shape)}"
        moved = tensor.movedim((self.batch_axis, self.time_axis), (0, 1))[0]
        return moved.reshape(moved.shape[0], -1)


@dataclass
class Utterance:
    """One example, unpadded.

    Attributes:
        inputs: The model's positional inputs, each with batch size 1.
        labels: ``[L_labels]`` long, one label per ``label_rate`` input steps (``-1`` = ignore).
        length: Input steps of the utterance (samples, feature frames, tokens).
    """

    inputs: tuple[torch.Tensor, ...]
    labels: torch.Tensor
    length: int


@dataclass
class ReferenceLayer:
    """One layer's reference: ``sums [G, C]`` (float64), ``counts [G]``, ``means = S / N`` (NaN rows absent)."""

    sums: np.ndarray
    counts: np.ndarray
    means: np.ndarray = field(init=False)
    profile: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.means = np.full_like(self.sums, np.nan)
        present = self.counts > 0
        self.means[present] = self.sums[present] / self.counts[present, None]
        self.profile = np.full_like(self.sums, np.nan)
        centre = sum(self.means[g] for g in range(len(self.counts)) if present[g]) / max(present.sum(), 1)
        for g in range(len(self.counts)):
            if present[g]:
                self.profile[g] = self.means[g] - centre


def conv_centres(kernels: Sequence[int], strides: Sequence[int], paddings: Sequence[int] | None = None):
    """``num_frames -> centres`` of a stack of 1-D convolutions, by the textbook recursion.

    Layer ``n`` frame ``t`` starts at input step ``t * J_n - P_n`` (``J_n = s_1 ... s_n``, ``P_n`` the
    padding carried back to the input) and spans ``R_n = 1 + sum_i (k_i - 1) J_{i-1}`` steps; its centre
    is ``floor(start + (R_n - 1) / 2)``.
    """
    paddings = list(paddings or [0] * len(kernels))
    jump, span, start = 1, 1, 0
    for kernel, stride, padding in zip(kernels, strides, paddings, strict=True):
        start -= padding * jump
        span += (kernel - 1) * jump
        jump *= stride

    def centres(num_frames: int) -> list[int]:
        return [int(np.floor(t * jump + start + (span - 1) / 2)) for t in range(num_frames)]

    return centres


def _predicted_logit(scores: torch.Tensor, valid: list[bool]) -> torch.Tensor:
    """Sum over valid frames of the arg-max score; ``scores`` is ``[T, K]``."""
    y = scores.sum() * 0.0
    for t, keep in enumerate(valid):
        if keep:
            y = y + scores[t].max()
    return y


def brute_force_profiles(
    model: nn.Module,
    utterances: Sequence[Utterance],
    layers: Sequence[Layout],
    output: Layout,
    num_groups: int,
    label_rate: int = 1,
    method: str = "gradnap",
    relabel: Callable[[Utterance, torch.Tensor, list[int]], torch.Tensor] | None = None,
) -> dict[str, ReferenceLayer]:
    """Per-layer sums, counts, means and profiles of ``model`` over ``utterances``, one at a time.

    Args:
        model: Called as ``model(*utterance.inputs)`` (floating inputs cast to the model's dtype);
            its output holds the scores (``output`` says where: its ``time_axis`` is the frames, the
            remaining non-batch axis the classes).
        utterances: Unpadded examples.
        layers: The profiled layers' layouts and centres, by module name.
        output: Layout and centres of the scores (``name`` is not looked up).
        num_groups: ``G``.
        label_rate: Input steps per label.
        method: ``"gradnap"`` (``r = a * dy/da``) or ``"nap"`` (``r = a``).
        relabel: ``(utterance, scores [T, K], output centres) -> labels``: the utterance's labels replaced
            from its own scores (e.g. :func:`correctness_labels`; ``num_groups`` is then that of the new labels).
    """
    modules = dict(model.named_modules())
    kept: dict[str, torch.Tensor] = {}

    def keeper(layer: Layout) -> Callable[..., Any]:
        def hook(_module: nn.Module, _inputs: Any, out: Any) -> Any:
            kept[layer.name] = layer.tensor_of(out)
            # The network goes on with a copy: an in-place op downstream cannot change what is kept.
            copy = kept[layer.name].clone()
            if isinstance(out, torch.Tensor):
                return copy
            if isinstance(out, (tuple, list)):
                return type(out)(copy if item is kept[layer.name] else item for item in out)
            return None

        return hook

    handles = [modules[layer.name].register_forward_hook(keeper(layer)) for layer in layers]
    sums: dict[str, np.ndarray] = {}
    counts = {layer.name: np.zeros(num_groups) for layer in layers}
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    try:
        for utterance in utterances:
            inputs = tuple(x.to(dtype) if x.is_floating_point() else x for x in utterance.inputs)
            kept.clear()
            with torch.enable_grad():
                scores = output.frames_by_neurons(output.tensor_of(model(*inputs)))
                output_centres = list(output.centres(scores.shape[0]))
                valid = [0 <= c < utterance.length for c in output_centres]
                y = _predicted_logit(scores, valid)
                labels = utterance.labels if relabel is None else relabel(utterance, scores.detach(), output_centres)
                activations = [kept[layer.name] for layer in layers]
                gradients = torch.autograd.grad(y, activations, allow_unused=True)
            for layer, activation, gradient in zip(layers, activations, gradients, strict=True):
                a = layer.frames_by_neurons(activation.detach())
                g = torch.zeros_like(a) if gradient is None else layer.frames_by_neurons(gradient)
                relevance = a * g if method == "gradnap" else a
                centres = list(layer.centres(a.shape[0]))
                assert len(centres) == a.shape[0], f"{layer.name}: {len(centres)} centres for {a.shape[0]} frames"
                layer_sums = sums.setdefault(layer.name, np.zeros((num_groups, a.shape[1])))
                for t, centre in enumerate(centres):
                    if not 0 <= centre < utterance.length:
                        continue
                    index = centre // label_rate
                    label = int(labels[index]) if index < len(labels) else -1
                    if label < 0:
                        continue
                    layer_sums[label] += relevance[t].double().numpy()
                    counts[layer.name][label] += 1
    finally:
        for handle in handles:
            handle.remove()
    return {name: ReferenceLayer(sums[name], counts[name]) for name in sums}


def assert_profiles_match(profiles: Any, reference: dict[str, ReferenceLayer], rtol: float = 1e-5) -> None:
    """The saved profiles' counts equal the reference's; means and profiles agree to ``rtol`` relative
    to each layer's largest value (NaN rows in the same places)."""
    for name, expected in reference.items():
        got = profiles[name]
        np.testing.assert_array_equal(got.counts, expected.counts, err_msg=f"{name}: counts")
        for what in ("means", "profile"):
            actual, wanted = np.asarray(getattr(got, what)), getattr(expected, what)
            assert actual.shape == wanted.shape, f"{name}: {what} {actual.shape} != {wanted.shape}"
            scale = np.nanmax(np.abs(wanted)) if np.isfinite(wanted).any() else 1.0
            np.testing.assert_allclose(actual, wanted, rtol=rtol, atol=rtol * scale, err_msg=f"{name}: {what}")


def correctness_labels(
    group_classes: Sequence[Sequence[int]], blank: int | None, blank_frames: str = "segment", label_rate: int = 1
) -> Callable[[Utterance, torch.Tensor, list[int]], torch.Tensor]:
    """A ``relabel`` for :func:`brute_force_profiles`: each label frame ``f`` becomes ``2 g + wrong``.

    In explicit loops: the output frame whose centre lies nearest to the label frame's centre (a tie goes to
    the later frame) gives the best class; right if it is one of ``group_classes[g]``. Where it is the
    ``blank`` (``None``: no blank): ``"wrong"``, ``"ignore"`` (``-1``), or ``"segment"``: right if some frame
    of the same run of label ``g`` is right.
    """

    def relabel(utterance: Utterance, scores: torch.Tensor, centres: list[int]) -> torch.Tensor:
        labels = [int(v) for v in utterance.labels]
        best, right, blanks = [], [], []
        for f, label in enumerate(labels):
            position = f * label_rate + (label_rate - 1) / 2
            distances = [abs(c - position) for c in centres]
            nearest = max(t for t in range(len(centres)) if distances[t] == min(distances))
            if not 0 <= centres[nearest] < utterance.length:
                label = labels[f] = -1
            best.append(int(scores[nearest].argmax()))
            right.append(label >= 0 and best[f] in group_classes[label])
            blanks.append(blank is not None and best[f] == blank)
        out = []
        for f, label in enumerate(labels):
            if label < 0 or (blanks[f] and blank_frames == "ignore"):
                out.append(-1)
                continue
            wrong = not right[f]
            if blanks[f] and blank_frames == "segment":
                start, end = f, f
                while start > 0 and labels[start - 1] == label:
                    start -= 1
                while end + 1 < len(labels) and labels[end + 1] == label:
                    end += 1
                wrong = not any(right[start : end + 1])
            out.append(2 * label + int(wrong))
        return torch.tensor(out, dtype=torch.long)

    return relabel
