"""A fully convolutional Wav2Letter-style acoustic model (Collobert et al., 2016) with named layers."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvBlock", "Wav2Letter", "padding_mask"]


def padding_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """``[B, 1, frames]`` bool, True at the frames at or after each example's ``lengths`` ``[B]``."""
    return (torch.arange(frames, device=lengths.device) >= lengths[:, None])[:, None, :]


class ConvBlock(nn.Module):
    """Conv1d -> (BatchNorm) -> zero the padding -> ReLU -> (Dropout). Its output is what
    profiling hooks see, so they see the padding already zeroed.

    Stride-1 convolutions keep the length (an even kernel is padded one more on the right).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        batch_norm: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        padding = (kernel_size - stride) // 2 if stride > 1 else (kernel_size - 1) // 2
        extra = kernel_size - 1 - 2 * padding if stride == 1 else 0
        self.pad = nn.ConstantPad1d((0, extra), 0.0) if extra else nn.Identity()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding, bias=not batch_norm)
        self.norm = nn.BatchNorm1d(out_channels) if batch_norm else nn.Identity()
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """
        Args:
            x: ``[B, in_channels, T]``, finite.
            keep: ``[B, 1, T']``, 1 at the valid output frames and 0 at those to zero (padding);
                ``None``: nothing is zeroed.

        Returns:
            ``[B, out_channels, T']``, ``T' = output_lengths(T)``.
        """
        x = self.norm(self.conv(self.pad(x)))
        if keep is not None:
            # A product, not masked_fill: x is finite (the model's input is zeroed with
            # masked_fill), so it is exact here, and on CPU it is ~6x faster than masked_fill,
            # whose cost showed in training steps. In place (nothing saves the normalised
            # tensor) and before the ReLU, which keeps the zeros (as does dropout): the block
            # output stays one tensor, saved by the ReLU's and the next convolution's backward.
            x.mul_(keep)
        return self.dropout(self.activation(x))

    def output_lengths(self, lengths: torch.Tensor | int) -> torch.Tensor | int:
        """Valid output frames for ``lengths`` valid input frames (a tensor ``[B]`` or an int)."""
        conv = self.conv
        if conv.stride[0] == 1:
            return lengths
        return (lengths + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1


class Wav2Letter(nn.Module):
    """Strided input convolution, a stack of kernel-7 convolutions, a wide convolution, a 1x1
    convolution and a 1x1 output layer over characters + CTC blank.

    The full model of the paper is ``channels=250, wide_channels=2000``; the CPU demo uses
    narrower layers. Layers are named ``input_conv``, ``conv1`` .. ``conv<num_layers>``,
    ``wide_conv``, ``dense``, ``output``.

    Args:
        n_features: Input features per frame (e.g. log-mel bands).
        num_classes: Output classes, blank included.
        channels: Width of the input and kernel-7 convolutions.
        num_layers: Number of kernel-7 convolutions.
        wide_channels: Width of the wide and 1x1 convolutions.
        input_kernel: Kernel of the strided input convolution.
        input_stride: Its stride (halves the frame rate by default).
        kernel_size: Kernel of the stacked convolutions.
        wide_kernel: Kernel of the wide convolution.
        batch_norm: Batch normalisation after each convolution (trains much faster on CPU).
        dropout: Dropout after each hidden block.
    """

    def __init__(
        self,
        n_features: int = 40,
        num_classes: int = 29,
        channels: int = 250,
        num_layers: int = 7,
        wide_channels: int = 2000,
        input_kernel: int = 48,
        input_stride: int = 2,
        kernel_size: int = 7,
        wide_kernel: int = 32,
        batch_norm: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        block = dict(batch_norm=batch_norm, dropout=dropout)
        self.input_conv = ConvBlock(n_features, channels, input_kernel, input_stride, **block)
        for i in range(1, num_layers + 1):
            self.add_module(f"conv{i}", ConvBlock(channels, channels, kernel_size, **block))
        self.wide_conv = ConvBlock(channels, wide_channels, wide_kernel, **block)
        self.dense = ConvBlock(wide_channels, wide_channels, 1, **block)
        self.output = nn.Conv1d(wide_channels, num_classes, 1)
        self.num_layers = num_layers

    @property
    def hidden_layer_names(self) -> list[str]:
        """The blocks whose outputs are profiled by default."""
        return ["input_conv"] + [f"conv{i}" for i in range(1, self.num_layers + 1)] + ["wide_conv", "dense"]

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """
        Args:
            features: ``[B, n_features, T]``.
            lengths: Valid input frames per example ``[B]``, or ``None`` (nothing is padded).
                Given, the input frames at and after them and, after every block, the frames
                past its valid output (:meth:`output_lengths`) are set to zero, so an
                utterance's outputs do not depend on what it is batched with (padding may
                hold anything, even ``-inf`` or NaN).

        Returns:
            Logits ``[B, num_classes, T']`` (not normalised), ``T' = output_lengths(T)``; the
            logits past an example's ``output_lengths(lengths)`` are not meaningful.
        """
        keep = None
        if lengths is not None:
            lengths = lengths.to(features.device)
            # masked_fill: the padding may hold anything, and NaN * 0 is NaN
            features = features.masked_fill(padding_mask(lengths, features.shape[-1]), 0.0)
            frames = self.output_lengths(features.shape[-1])
            keep = (~padding_mask(self.output_lengths(lengths), frames)).to(features.dtype)  # every block's
        x = self.input_conv(features, keep)
        for i in range(1, self.num_layers + 1):
            x = getattr(self, f"conv{i}")(x, keep)
        return self.output(self.dense(self.wide_conv(x, keep), keep))

    def output_lengths(self, lengths: torch.Tensor | int) -> torch.Tensor | int:
        """Valid output frames for ``lengths`` valid input frames (a tensor ``[B]`` or an int)."""
        return self.input_conv.output_lengths(lengths)
