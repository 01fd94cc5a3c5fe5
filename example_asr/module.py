"""The reference CTC speech recogniser as a LightningModule."""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torchmetrics.text import CharErrorRate, WordErrorRate

from example_asr.ctc_alignment import forced_character_labels
from example_asr.model import Wav2Letter
from example_asr.text import CharTokenizer

__all__ = ["SpeechRecognizer"]


def default_optimizer(params) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-2)


class SpeechRecognizer(L.LightningModule):
    """Wav2Letter-style CTC recogniser over characters, trained on log-mel features.

    Batches are dicts from :class:`example_asr.data.SpeechDataModule`: ``features`` ``[B, F, T]``,
    ``feature_lengths`` ``[B]``, ``targets`` ``[B, S]``, ``target_lengths`` ``[B]``,
    ``transcripts``, and, where the data has alignments, ``phoneme_labels`` ``[B, T]``.

    Args:
        n_features: Log-mel bands of the input (must match the data module's ``n_mels``).
        channels: Width of the input and kernel-7 convolutions (250 in the full model).
        num_layers: Number of kernel-7 convolutions (7 in the full model).
        wide_channels: Width of the wide and 1x1 convolutions (2000 in the full model).
        input_kernel: Kernel of the strided input convolution.
        input_stride: Stride of the input convolution.
        kernel_size: Kernel of the stacked convolutions.
        wide_kernel: Kernel of the wide convolution.
        batch_norm: Batch normalisation after each convolution.
        dropout: Dropout after each hidden block.
        optimizer: Builds the optimizer from the parameters (YAML: ``class_path`` + ``init_args``);
            default AdamW, lr 3e-3, weight decay 0.01.
        lr_scheduler: Builds a scheduler from the optimizer, stepped every batch; overrides
            ``schedule``.
        schedule: ``"one_cycle"`` (OneCycleLR up to the optimizer's lr over the whole fit) or
            ``"constant"``; used when ``lr_scheduler`` is not given.
    """

    def __init__(
        self,
        n_features: int = 40,
        channels: int = 250,
        num_layers: int = 7,
        wide_channels: int = 2000,
        input_kernel: int = 48,
        input_stride: int = 2,
        kernel_size: int = 7,
        wide_kernel: int = 32,
        batch_norm: bool = True,
        dropout: float = 0.0,
        optimizer: OptimizerCallable = default_optimizer,
        lr_scheduler: LRSchedulerCallable | None = None,
        schedule: Literal["one_cycle", "constant"] = "one_cycle",
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "lr_scheduler"])
        self.tokenizer = CharTokenizer()
        self.model = Wav2Letter(
            n_features,
            self.tokenizer.num_classes,
            channels,
            num_layers,
            wide_channels,
            input_kernel,
            input_stride,
            kernel_size,
            wide_kernel,
            batch_norm,
            dropout,
        )
        self.optimizer_factory = optimizer
        self.scheduler_factory = lr_scheduler
        self.schedule = schedule
        self.val_cer, self.val_wer = CharErrorRate(), WordErrorRate()
        self.test_cer, self.test_wer = CharErrorRate(), WordErrorRate()

    # ----------------------------------------------------------------- what the profiler reads
    @property
    def profile_layers(self) -> list[str]:
        """Layers profiled by default: every hidden block (``model.input_conv`` .. ``model.dense``)."""
        return [f"model.{name}" for name in self.model.hidden_layer_names]

    @property
    def character_group_names(self) -> list[str]:
        """Groups for character profiles: one per character (space shown as ``"␣"``)."""
        return self.tokenizer.group_names

    @property
    def character_group_categories(self) -> list[str]:
        """``"vowel letter"``, ``"consonant letter"`` or ``"separator"`` (space, apostrophe)."""
        return self.tokenizer.group_categories

    def character_frame_labels(self, batch: dict[str, Any], logits: torch.Tensor) -> torch.Tensor:
        """Character group per input frame, by CTC forced alignment of ``logits`` to the transcript."""
        return forced_character_labels(
            logits.detach(),
            batch["targets"],
            self.model.output_lengths(batch["feature_lengths"]),
            batch["target_lengths"],
            batch["features"].shape[-1],
            blank=self.tokenizer.blank,
        )

    def frame_labels(self, batch: dict[str, Any], logits: torch.Tensor) -> torch.Tensor:
        """The batch's ``phoneme_labels`` when it has them, else :meth:`character_frame_labels`.

        One profiler setting for both kinds of data: with ``labels: frame_labels`` and the data
        module's ``group_names`` (phonemes when its batches carry ``phoneme_labels``, characters
        otherwise), aligned data gives phoneme profiles and unaligned data character profiles.
        """
        if "phoneme_labels" in batch:
            return batch["phoneme_labels"]
        return self.character_frame_labels(batch, logits)

    # ----------------------------------------------------------------- steps
    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, num_classes, T']`` for features ``[B, n_features, T]`` with ``lengths``
        ``[B]`` valid frames (``None``: unpadded); padding is masked (see :class:`Wav2Letter`)."""
        return self.model(features, lengths)

    def ctc_loss(self, logits: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        log_probs = logits.float().log_softmax(dim=1).permute(2, 0, 1)  # [T', B, K]
        return F.ctc_loss(
            log_probs,
            batch["targets"],
            self.model.output_lengths(batch["feature_lengths"]),
            batch["target_lengths"],
            blank=self.tokenizer.blank,
            zero_infinity=True,
        )

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.ctc_loss(self(batch["features"], batch["feature_lengths"]), batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["transcripts"]))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._evaluate(batch, "val", self.val_cer, self.val_wer)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._evaluate(batch, "test", self.test_cer, self.test_wer)

    def _evaluate(self, batch: dict[str, Any], stage: str, cer: CharErrorRate, wer: WordErrorRate) -> torch.Tensor:
        logits = self(batch["features"], batch["feature_lengths"])
        loss = self.ctc_loss(logits, batch)
        hypotheses = self.tokenizer.greedy_decode(logits, self.model.output_lengths(batch["feature_lengths"]))
        cer.update(hypotheses, batch["transcripts"])
        wer.update(hypotheses, batch["transcripts"])
        size = len(batch["transcripts"])
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=size, sync_dist=True)
        self.log(f"{stage}/cer", cer, prog_bar=True, batch_size=size)
        self.log(f"{stage}/wer", wer, batch_size=size)
        return loss

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is not None:
            scheduler = self.scheduler_factory(optimizer)
        elif self.schedule == "one_cycle":
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=[group["lr"] for group in optimizer.param_groups],
                total_steps=max(int(self.trainer.estimated_stepping_batches), 1),
                pct_start=0.15,
            )
        else:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
