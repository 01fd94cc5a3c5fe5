"""When the callback profiles: which validation runs and batches, and under what name.

``every_n_epochs`` counts the validation runs of ``fit`` (the sanity check left out), not
training epochs; every ``trainer.validate()`` run is profiled. A validation at a step already
profiled (``validate()`` after ``fit``, or twice) gets a name of its own; only a resumed ``fit``
that repeats a step its checkpoint had profiled is skipped. :meth:`ProfilingSchedule.never_profiles`
says at setup when the settings mean that nothing will ever be profiled.

Reads a Trainer's attributes only, so a Trainer of either Lightning namespace works; imports neither.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["ProfilingSchedule"]


def _stage(trainer: Any) -> str:
    """``"fit"``, ``"validate"``, ... (the Trainer's entry point)."""
    function = trainer.state.fn
    return str(getattr(function, "value", function))


def _has_validation_step(module: Any) -> bool:
    """Whether the module's ``validation_step`` is its own, not LightningModule's placeholder."""
    step = getattr(type(module), "validation_step", None)
    return step is not None and not getattr(step, "__qualname__", "").startswith("LightningModule.")


def _most_validation_runs(trainer: Any) -> int | None:
    """How many validation runs ``fit`` makes at most, where the Trainer's settings tell (else None)."""
    epochs, every, interval = trainer.max_epochs, trainer.check_val_every_n_epoch, trainer.val_check_interval
    if epochs is None or epochs < 0 or every is None or not isinstance(interval, float) or not 0 < interval <= 1:
        return None  # unbounded, or validation every so many training batches (unknown before fit)
    return epochs // every * math.ceil(1 / interval)


class ProfilingSchedule:
    """Which validation runs and batches are profiled, and the name of each profiling.

    Args:
        every_n_epochs: Profile every n-th validation run of ``fit`` (every run of ``validate``).
        max_batches: Profile the first ``max_batches`` batches of the first dataloader (``None``: all).
        feature_batches: The first this many profiled batches feed the input views (``None``: all).
        profile_init: Profile once at the start of ``fit``, before the first training step
            (:mod:`~lightning_gradnap.callback.init_profiling`).

    Attributes:
        validations: ``fit``'s validation runs so far (kept in checkpoints).
        restored_steps: Steps the checkpoint this run resumed from had profiled.

    Raises:
        ValueError: for ``every_n_epochs < 1`` or ``max_batches < 1``.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        max_batches: int | None = None,
        feature_batches: int | None = 0,
        profile_init: bool = False,
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"`every_n_epochs` should be at least 1, got {every_n_epochs}")
        if max_batches is not None and max_batches < 1:
            raise ValueError(f"`max_batches` should be at least 1 or None (all batches), got {max_batches}")
        self.every_n_epochs = every_n_epochs
        self.max_batches = max_batches
        self.feature_batches = feature_batches
        self.profile_init = profile_init
        self.validations = 0
        self.restored_steps: set[int] = set()
        self.active = False
        self._repeats: dict[int, int] = {}

    def reset(self) -> None:
        """Forget the runs so far (a new Trainer's run starts afresh)."""
        self.validations = 0
        self.restored_steps = set()
        self._repeats = {}

    def start_validation(self, trainer: Any) -> bool:
        """Count a validation run and say whether it is profiled (the sanity check never is)."""
        if trainer.sanity_checking:
            self.active = False
        elif _stage(trainer) == "fit":
            self.validations += 1
            self.active = self.validations % self.every_n_epochs == 0
        else:
            self.active = True
        return self.active

    def profiles_batch(self, batch_idx: int, dataloader_idx: int) -> bool:
        return self.active and dataloader_idx == 0 and (self.max_batches is None or batch_idx < self.max_batches)

    def feeds_features(self, batch_idx: int) -> bool:
        return self.feature_batches is None or batch_idx < self.feature_batches

    def run_name(self, trainer: Any, profiled_steps: Iterable[int]) -> str | None:
        """The name of this profiling: ``""`` for the first at its step, ``"<stage>-<k>"`` for the
        k-th repeat at a step (e.g. ``"validate-1"``), or None to skip it: a resumed ``fit`` that
        repeats a step its checkpoint had profiled."""
        step = trainer.global_step
        if step not in profiled_steps:
            return ""
        if _stage(trainer) == "fit" and step in self.restored_steps:
            return None
        self._repeats[step] = self._repeats.get(step, 0) + 1
        return f"{_stage(trainer)}-{self._repeats[step]}"

    def never_profiles(self, trainer: Any, module: Any, stage: str) -> str | None:
        """Why ``fit`` will profile nothing with these settings (a warning's text), or None."""
        reason = self._never_profiles(trainer, module) if stage == "fit" else None
        return f"GradNAPCallback will profile nothing in this fit: {reason}" if reason else None

    def _never_profiles(self, trainer: Any, module: Any) -> str | None:
        if trainer.limit_val_batches == 0:
            return "limit_val_batches=0 runs no validation, and the callback profiles validation batches"
        if not _has_validation_step(module):
            return f"{type(module).__name__} has no validation_step, and the callback profiles validation batches"
        runs = _most_validation_runs(trainer)
        if runs is not None and runs < self.every_n_epochs:
            return (
                f"every_n_epochs={self.every_n_epochs} counts validation runs, and this fit makes at most {runs} "
                f"(max_epochs={trainer.max_epochs}, check_val_every_n_epoch={trainer.check_val_every_n_epoch}, "
                f"val_check_interval={trainer.val_check_interval}): lower every_n_epochs or validate more often"
            )
        return None
