"""What a finished run reached: its last validation CER, read back from its TensorBoard events.

``scripts/demo.sh`` ends with it::

    python -m example_asr.summary runs/demo/tensorboard/version_0
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

__all__ = ["main", "read_scalars", "summarize"]

_SIZE_GUIDANCE = {"scalars": 0, "images": 1, "histograms": 1, "tensors": 1}  # all scalars, little else


def read_scalars(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files of ``log_dir``: tag -> ``[(step, value), ...]`` in write order."""
    events = EventAccumulator(str(log_dir), size_guidance=_SIZE_GUIDANCE)
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _max_epochs(log_dir: Path) -> int | None:
    """``trainer.max_epochs`` of the config LightningCLI saved beside the events, if any."""
    config = log_dir / "config.yaml"
    if not config.is_file():
        return None
    value = (yaml.safe_load(config.read_text()) or {}).get("trainer", {}).get("max_epochs")
    return int(value) if value is not None and int(value) > 0 else None


def summarize(log_dir: str | Path, tag: str = "val/cer") -> str:
    """The final validation CER and the epoch it was reached at, plus a second line if training
    stopped before its ``max_epochs`` (then the one-cycle schedule was cut short)."""
    log_dir = Path(log_dir)
    scalars = read_scalars(log_dir)
    if not scalars.get(tag):
        return f"No {tag} was logged in {log_dir} (did validation run?)"
    step, cer = scalars[tag][-1]
    # Lightning logs the (0-based) epoch beside every metric, at the same step.
    epochs = [value for epoch_step, value in scalars.get("epoch", []) if epoch_step == step]
    epochs_done = int(epochs[-1]) + 1 if epochs else None
    max_epochs = _max_epochs(log_dir)
    where = f"step {step}"
    if epochs_done is not None:
        where = f"epoch {epochs_done}" + (f" of {max_epochs}" if max_epochs else "") + f", {where}"
    line = f"Final validation CER: {cer:.3f} ({where})"
    if epochs_done is not None and max_epochs is not None and epochs_done < max_epochs:
        line += (
            f"\nTraining stopped after {epochs_done} of {max_epochs} epochs (max_time or an interruption): "
            "the learning-rate schedule did not finish, so this is not the demo's final result"
        )
    return line


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m example_asr.summary LOG_DIR  (e.g. runs/demo/tensorboard/version_0)", file=sys.stderr)
        return 2
    print(summarize(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
