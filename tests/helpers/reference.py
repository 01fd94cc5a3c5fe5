"""Brute-force references: plain Python loops over batch, frame and channel.

Slow and obvious on purpose; the vectorised engine is tested against these.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

IDENTITY = (1, 0.0, 0)


def input_frame(t: int, frame_map=IDENTITY) -> int:
    """docs/METHOD.md §1.2 as written: the input frame at the centre of layer frame t's receptive field,
    for a map ``(stride, offset, length_offset)`` stated by hand in the test."""
    stride, offset, _ = frame_map
    return math.floor(stride * t + offset)


def frame_valid(t: int, frame_map, length: int) -> bool:
    """Layer frame t belongs to an utterance of ``length`` input frames: its centre lies inside and
    the frame exists when the utterance is alone ((length + length_offset) // stride frames)."""
    stride, _, length_offset = frame_map
    centre = input_frame(t, frame_map)
    return 0 <= centre < length and t < (length + length_offset) // stride


def activations_and_gradients(
    model: nn.Sequential, x: torch.Tensor, lengths, objective: str, targets=None, output_map=IDENTITY
):
    """Run a Sequential step by step, keeping every named output, and backpropagate with retain_grad.

    ``lengths`` None means every utterance fills the padded length."""
    outputs = {}
    h = x
    for name, module in model.named_children():
        h = module(h)
        h.retain_grad()
        outputs[name] = h
    scores = h  # [B, K, T]
    num_input_frames = x.shape[-1]
    y = scores.sum() * 0.0  # stays differentiable when no frame is valid
    for b in range(scores.shape[0]):
        for t in range(scores.shape[2]):
            if not frame_valid(t, output_map, num_input_frames if lengths is None else lengths[b]):
                continue
            column = scores[b, :, t]
            if objective == "predicted_logit":
                y = y + column.max()
            elif objective == "predicted_logprob":
                y = y + column.log_softmax(0).max()
            elif objective == "target_logprob":
                target = int(targets[b, input_frame(t, output_map)])
                if target >= 0:
                    y = y + column.log_softmax(0)[target]
    y.backward()
    return {name: (out.detach(), out.grad) for name, out in outputs.items()}


def frame_sums(activation, gradient, labels, lengths, num_groups, method="gradnap", absolute=False, frame_map=IDENTITY):
    """S[g, c] and N[g] with loops, for one layer's [B, C, T] activation and gradient."""
    batch, channels, frames = activation.shape
    num_input_frames = labels.shape[1]
    sums = np.zeros((num_groups, channels))
    counts = np.zeros(num_groups)
    for b in range(batch):
        for t in range(frames):
            if not frame_valid(t, frame_map, num_input_frames if lengths is None else lengths[b]):
                continue
            g = int(labels[b, input_frame(t, frame_map)])
            if g < 0:
                continue
            counts[g] += 1
            for c in range(channels):
                value = float(activation[b, c, t])
                if method == "gradnap":
                    value *= float(gradient[b, c, t])
                sums[g, c] += abs(value) if absolute else value
    return sums, counts


def utterance_sums(activation, gradient, labels, lengths, num_input_frames, num_groups, frame_map=IDENTITY):
    """Average a*g over each example's valid frames first, then sum per group."""
    batch, channels, frames = activation.shape
    sums = np.zeros((num_groups, channels))
    counts = np.zeros(num_groups)
    for b in range(batch):
        kept = [t for t in range(frames) if lengths is None or frame_valid(t, frame_map, lengths[b])]
        g = int(labels[b])
        if g < 0:
            continue
        counts[g] += 1
        for c in range(channels):
            sums[g, c] += sum(float(activation[b, c, t] * gradient[b, c, t]) for t in kept) / max(len(kept), 1)
    return sums, counts


def segments_of(labels, lengths):
    """(b, start, end_inclusive, label) runs of equal labels >= 0, inside each length."""
    runs = []
    for b in range(labels.shape[0]):
        limit = labels.shape[1] if lengths is None else int(lengths[b])
        t = 0
        while t < limit:
            g = int(labels[b, t])
            if g < 0:
                t += 1
                continue
            start = t
            while t + 1 < limit and int(labels[b, t + 1]) == g:
                t += 1
            runs.append((b, start, t, g))
            t += 1
    return runs


def window_sums(activation, gradient, labels, lengths, num_groups, window, center="segment", frame_map=IDENTITY):
    """S[g, c, w] of windows of layer frames around each segment's centre or most salient frame.

    The centre: the layer frame whose receptive-field centre is nearest the segment's centre."""
    batch, channels, frames = activation.shape
    num_input_frames = labels.shape[1]
    sums = np.zeros((num_groups, channels, window))
    counts = np.zeros(num_groups)
    relevance = (activation * gradient).numpy()
    stride, offset, _ = frame_map
    for b, start, end, g in segments_of(labels, lengths):
        length = num_input_frames if lengths is None else lengths[b]
        inside = [t for t in range(frames) if frame_valid(t, frame_map, length)]
        centre = math.floor(((start + end) / 2 - offset) / stride + 0.5)
        if center == "salient":
            members = [t for t in inside if start <= input_frame(t, frame_map) <= end]
            if members:
                saliency = [float(gradient[b, :, t].abs().sum()) for t in members]
                centre = members[int(np.argmax(saliency))]
        counts[g] += 1
        for w in range(window):
            t = centre + w - window // 2
            if t in inside:
                sums[g, :, w] += relevance[b, :, t]
    return sums, counts


def centred(means: np.ndarray, counts: np.ndarray) -> np.ndarray:
    present = counts > 0
    out = np.full_like(means, np.nan)
    rows = [means[g] for g in range(len(counts)) if present[g]]
    centre = sum(rows) / len(rows)
    for g in range(len(counts)):
        if present[g]:
            out[g] = means[g] - centre
    return out
