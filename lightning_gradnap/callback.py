"""GradNAPCallback: profiles of validation batches into TensorBoard and ``.npz`` files.

A thin adapter: the engine (:mod:`lightning_gradnap.engine`) does the profiling, the analysis
and reporting modules the rest. This module is the only one that imports ``lightning``.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from lightning_gradnap.analysis import CLUSTERINGS, analyze
from lightning_gradnap.batch import BatchReader
from lightning_gradnap.engine import ProfileEngine
from lightning_gradnap.profiles import Profiles
from lightning_gradnap.recording import ActivationRecorder
from lightning_gradnap.reporting import EMBEDDINGS, VIEWS, write_tensorboard

__all__ = ["GradNAPCallback"]

METRICS = ("silhouette", "ami", "drift")


class GradNAPCallback(Callback):
    r"""Compute GradNAPs (or NAPs) on validation batches and log them at every profiling step.

    During ``fit``, profiled batches reuse the validation forward pass: hooks capture the layer
    outputs with gradients enabled for those batches only, and one ``autograd.grad`` call gives
    all layers' gradients. Under ``trainer.validate()`` (inference mode) the callback re-runs the
    forward on cloned inputs instead. Training steps and unprofiled batches pay nothing.

    Labels (see :class:`~lightning_gradnap.batch.BatchReader`): a dict batch carries frame labels
    under ``labels``; or the LightningModule has a method of that name, called as
    ``method(batch, output)``; or the batch is a tuple ``(x, y)`` (``label_level="utterance"``).
    Group names and categories are lists, or names of attributes of the data module or the
    LightningModule (default ``"group_names"`` / ``"group_categories"``).

    Args:
        layers: Module names (as in ``named_modules()`` of the LightningModule); default: the
            module's ``profile_layers`` attribute.
        labels: Batch key of the labels, or the name of a LightningModule method that returns them.
        inputs: Batch key of the model input (the input of ``forward``).
        lengths: Batch key of valid frames per example, or ``None``.
        group_names: Names of the groups, or the attribute that holds them.
        group_categories: Category per group (e.g. phonetic class), or the attribute that holds
            them; ``None`` looks for ``group_categories`` and goes without if there is none.
        num_groups: Number of groups; default ``len(group_names)``.
        label_level: ``"frame"`` (labels ``[B, T]``) or ``"utterance"`` (labels ``[B]``).
        method: ``"gradnap"`` or ``"nap"``.
        objective: ``"predicted_logit"``, ``"predicted_logprob"``, ``"target_logprob"`` or ``"ctc"``.
        absolute: Profile ``|a * g|``.
        targets: Batch key of the objective's targets (``target_logprob``, ``ctc``).
        target_lengths: Batch key of the target lengths (``ctc``).
        every_n_epochs: Profile every n-th validation epoch.
        max_batches: Profile the first ``max_batches`` validation batches (``None``: all).
        num_clusters: Flat clusters of groups (for AMI and the layer agreement).
        clustering: ``"hierarchical"`` or ``"kmeans"``.
        views: What to log: any of ``profile``, ``dendrogram``, ``groups_2d``, ``agreement``,
            ``features``, ``scalars``, ``projector``.
        embedding: 2-D view of the groups: ``"pca"`` or ``"tsne"``.
        feature_window: Input frames of the feature view around each segment.
        feature_groups: Groups shown in the feature view.
        feature_batches: The first this many profiled batches feed the feature view (its input
            gradient costs one more backward step through the first layer).
        weight_by_count: Count-weighted centring of the profiles.
        scale: ``None`` or ``"std"`` (per-neuron standardisation).
        save_profiles: Write ``profiles/epoch=NNN-step=NNNNNN.npz`` under the log directory.
        background_figures: Draw and log the figures in a worker thread while training goes on
            (files and scalars are written at once; figures are complete when ``fit`` returns).

    Raises:
        ValueError: For an argument outside its allowed values (the message lists them).

    Example::

        trainer = Trainer(callbacks=[GradNAPCallback(layers=["model.conv3", "model.dense"])])
        trainer.fit(model, datamodule)  # then: tensorboard --logdir lightning_logs
    """

    def __init__(
        self,
        layers: list[str] | None = None,
        labels: str = "phoneme_labels",
        inputs: str = "features",
        lengths: str | None = "feature_lengths",
        group_names: list[str] | str = "group_names",
        group_categories: list[str] | str | None = None,
        num_groups: int | None = None,
        label_level: Literal["frame", "utterance"] = "frame",
        method: Literal["gradnap", "nap"] = "gradnap",
        objective: Literal["predicted_logit", "predicted_logprob", "target_logprob", "ctc"] = "predicted_logit",
        absolute: bool = False,
        targets: str | None = "targets",
        target_lengths: str | None = "target_lengths",
        every_n_epochs: int = 1,
        max_batches: int | None = 8,
        num_clusters: int = 6,
        clustering: Literal["hierarchical", "kmeans"] = "hierarchical",
        views: list[str] | None = None,
        embedding: Literal["pca", "tsne"] = "pca",
        feature_window: int = 31,
        feature_groups: int = 6,
        feature_batches: int = 2,
        weight_by_count: bool = False,
        scale: Literal["std"] | None = None,
        save_profiles: bool = True,
        background_figures: bool = True,
    ) -> None:
        super().__init__()
        views = list(VIEWS) if views is None else list(views)
        unknown = sorted(set(views) - set(VIEWS))
        if unknown:
            raise ValueError(f"`views` has {unknown}; allowed: {list(VIEWS)}")
        if every_n_epochs < 1:
            raise ValueError(f"`every_n_epochs` should be at least 1, got {every_n_epochs}")
        if max_batches is not None and max_batches < 1:
            raise ValueError(f"`max_batches` should be at least 1 or None (all batches), got {max_batches}")
        if clustering not in CLUSTERINGS:
            raise ValueError(f"`clustering` should be one of {list(CLUSTERINGS)}, got {clustering!r}")
        if embedding not in EMBEDDINGS:
            raise ValueError(f"`embedding` should be one of {list(EMBEDDINGS)}, got {embedding!r}")
        if num_clusters < 2:
            raise ValueError(f"`num_clusters` should be at least 2, got {num_clusters}")
        self.layers = layers
        self.reader = BatchReader(inputs, labels, lengths, targets, target_lengths)
        self.group_names_source = group_names
        self.group_categories_source = group_categories
        self.num_groups = num_groups
        self.engine_options = dict(
            method=method, objective=objective, absolute=absolute, label_level=label_level,
            input_window=feature_window if "features" in views and label_level == "frame" else None,
        )  # fmt: skip
        # Fail now, not at the first validation, on options the engine rejects.
        ProfileEngine(["_"], 1, **self.engine_options)  # type: ignore[arg-type]
        self.every_n_epochs = every_n_epochs
        self.max_batches = max_batches
        self.num_clusters = num_clusters
        self.clustering = clustering
        self.views = views
        self.embedding = embedding
        self.feature_groups = feature_groups
        self.feature_batches = feature_batches
        self.weight_by_count = weight_by_count
        self.scale = scale
        self.save_profiles = save_profiles
        self.background_figures = background_figures
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []
        self.history: dict[str, Any] = {"steps": [], "epochs": [], "files": [], "metrics": {}}
        self.engine: ProfileEngine | None = None
        self.group_names: list[str] = []
        self.group_categories: list[str] | None = None
        self._active = False
        self._recorder: ActivationRecorder | None = None  # attached while a profiled batch runs
        self._layer_recorder: ActivationRecorder | None = None
        self._module_handles: list[torch.utils.hooks.RemovableHandle] = []
        self._output: Any = None
        self._grad_was_enabled: bool | None = None
        self._depth, self._called_again = 0, False
        self._input: torch.Tensor | None = None
        self._previous: Profiles | None = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(layers=self.layers, labels=self.reader.keys["labels"], **self.engine_options)

    # ------------------------------------------------------------------ setup
    @override
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        layers = self.layers if self.layers is not None else getattr(pl_module, "profile_layers", None)
        if not layers:
            raise ValueError(
                "GradNAPCallback needs `layers`: name the modules to profile (as in "
                f"{type(pl_module).__name__}.named_modules()), or give the module a `profile_layers` attribute"
            )
        self.group_names = self._lookup(self.group_names_source, trainer, pl_module)
        if self.group_names is None and self.num_groups is None:
            raise ValueError(
                f"GradNAPCallback found no group names (`group_names={self.group_names_source!r}` is neither a list "
                "nor an attribute of the data module or LightningModule): give `group_names` or `num_groups`"
            )
        num_groups = self.num_groups if self.num_groups is not None else len(self.group_names)  # type: ignore[arg-type]
        self.group_names = self.group_names or [str(g) for g in range(num_groups)]
        source = self.group_categories_source
        self.group_categories = self._lookup(source or "group_categories", trainer, pl_module)
        if source is not None and self.group_categories is None:
            raise ValueError(f"GradNAPCallback found no group categories under {source!r}")
        self.engine = ProfileEngine(layers, num_groups, **self.engine_options)  # type: ignore[arg-type]
        self._layer_recorder = self.engine.recorder(pl_module)  # layer names resolved once, here
        log_dir = Path(trainer.log_dir or trainer.default_root_dir)  # a broadcast: on every rank
        if self.save_profiles and trainer.is_global_zero:
            _check_writable(log_dir / "profiles")
        if not any(isinstance(logger, TensorBoardLogger) for logger in trainer.loggers) and trainer.is_global_zero:
            rank_zero_warn(
                "GradNAPCallback found no TensorBoardLogger: profiles are saved as .npz files only. "
                "Add `logger: lightning.pytorch.loggers.TensorBoardLogger` to see them in TensorBoard."
            )

    @staticmethod
    def _lookup(source, trainer: L.Trainer, pl_module: L.LightningModule) -> list[str] | None:
        """A list as given, or the attribute ``source`` of the data module or the LightningModule."""
        if source is None or isinstance(source, (list, tuple)):
            return None if source is None else [str(s) for s in source]
        for owner in (getattr(trainer, "datamodule", None), pl_module):
            value = getattr(owner, source, None) if owner is not None else None
            if value is not None:
                return [str(s) for s in value]
        return None

    # ------------------------------------------------------------------ validation
    def _profiles_epoch(self, trainer: L.Trainer) -> bool:
        return not trainer.sanity_checking and (trainer.current_epoch + 1) % self.every_n_epochs == 0

    @override
    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._active = self._profiles_epoch(trainer)
        if self._active and self.engine is not None:
            self.engine.reset()

    def _profiles_batch(self, batch_idx: int, dataloader_idx: int) -> bool:
        return self._active and dataloader_idx == 0 and (self.max_batches is None or batch_idx < self.max_batches)

    @override
    def on_validation_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not self._profiles_batch(batch_idx, dataloader_idx) or torch.is_inference_mode_enabled():
            return  # in inference mode the batch is profiled afterwards, by a separate forward
        assert self.engine is not None
        self._recorder = self._layer_recorder
        self._output = None
        # Gradients only for the module's forward: the loss and decoding that follow in the
        # validation step stay as cheap as without the callback.
        self._module_handles = [
            pl_module.register_forward_pre_hook(self._enable_grad),
            pl_module.register_forward_hook(self._capture_output),
        ]
        self._recorder.attach()
        x = self.reader.inputs(batch)
        if self.engine.needs_gradients and x.is_leaf and x.is_floating_point() and not x.requires_grad:
            # Free unless its gradient is asked for (feature view), and it keeps the layers'
            # outputs differentiable when the parameters are frozen.
            self._input = x.requires_grad_(True)

    def _feeds_features(self, batch_idx: int) -> bool:
        return bool(self.engine and self.engine.input_sums) and batch_idx < self.feature_batches

    def _enable_grad(self, module: torch.nn.Module, inputs: Any) -> None:
        if self._output is not None and self._depth == 0:
            self._called_again = True  # a second forward: the recorded layers no longer match the output
        self._depth += 1
        if self._output is None and self._grad_was_enabled is None:
            self._grad_was_enabled = torch.is_grad_enabled()
            torch.set_grad_enabled(self.engine.needs_gradients)  # type: ignore[union-attr]

    def _capture_output(self, module: torch.nn.Module, inputs: Any, output: Any) -> None:
        # The first call to finish is the innermost: under DDP, Lightning routes validation_step
        # itself through the module's __call__, and the model's own forward finishes inside it.
        self._depth -= 1
        if self._output is None:
            self._output = output
            self._restore_grad_mode()

    def _restore_grad_mode(self) -> None:
        if self._grad_was_enabled is not None:
            torch.set_grad_enabled(self._grad_was_enabled)
            self._grad_was_enabled = None

    @override
    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        if not self._profiles_batch(batch_idx, dataloader_idx):
            return
        assert self.engine is not None
        recorder, output = self._recorder, self._output
        try:
            shared = (
                recorder is not None
                and output is not None
                and not self._called_again
                and set(recorder.activations) == set(recorder.modules)
                and not recorder.changed_in_place()  # then copied from now on, and run again below
            )
            if shared:
                profile_batch = self.reader.read(batch, pl_module, output)
                inputs = self.reader.inputs(batch) if self._feeds_features(batch_idx) else None
                self.engine.accumulate(recorder, output, profile_batch, inputs)  # type: ignore[arg-type]
        finally:
            self._release()
        if not shared:  # inference mode, or validation_step did not call the module itself
            label_method = self.reader.label_method(batch, pl_module)
            label_fn = None if label_method is None else (lambda out: label_method(batch, out))
            self.engine.run_batch(
                pl_module, self.reader.read(batch, pl_module), label_fn, self._feeds_features(batch_idx), self._layer_recorder
            )

    def _release(self) -> None:
        """Remove hooks and restore the grad mode; safe to call any number of times."""
        if self._recorder is not None:
            self._recorder.remove()
            self._recorder.clear()
            self._recorder = None
        while self._module_handles:
            self._module_handles.pop().remove()
        self._output = None
        self._depth, self._called_again = 0, False
        self._restore_grad_mode()
        if self._input is not None:
            self._input.requires_grad_(False)
            self._input = None

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._release()
        try:
            self._shutdown_figures()
        except Exception as error:  # the training error is the one to report
            rank_zero_warn(f"GradNAPCallback: a figure failed while handling another error: {error}")

    @override
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._active or self.engine is None:
            return
        self._active = False
        state = self._reduced_state(trainer)
        if state is None:
            return
        step, epoch = trainer.global_step, trainer.current_epoch
        if step in self.history["steps"]:
            return  # already profiled at this step (e.g. validation re-run after a resume)
        path = None
        log_dir = Path(trainer.log_dir or trainer.default_root_dir)  # a broadcast: on every rank
        if trainer.is_global_zero:
            profiles = self.engine.result(self.group_names, self.group_categories, self.weight_by_count, self.scale, state)
            analysis = analyze(profiles, self.num_clusters, self.clustering, self._previous)
            path = self._write(trainer, log_dir, profiles, analysis, state, step, epoch)
            self._previous = profiles
            for layer, result in analysis.layers.items():
                for metric in METRICS:
                    self.history["metrics"].setdefault(f"{layer}/{metric}", []).append(float(getattr(result, metric)))
        self.history["steps"].append(step)
        self.history["epochs"].append(epoch)
        self.history["files"].append(str(path) if path else "")

    def _reduced_state(self, trainer: L.Trainer) -> dict[str, tuple[torch.Tensor, torch.Tensor]] | None:
        """Sums and counts summed over all processes (a collective call on every rank)."""
        assert self.engine is not None
        state = self.engine.state()
        profiled = torch.tensor(float(bool(state)), device=trainer.strategy.root_device)
        everywhere = trainer.strategy.reduce(profiled, reduce_op="sum")
        if float(everywhere) < trainer.world_size:
            if float(everywhere) > 0:
                raise RuntimeError(
                    "GradNAPCallback: some processes profiled no validation batch while others did; give every "
                    "process at least one validation batch (more validation data, or fewer devices)"
                )
            rank_zero_warn("GradNAPCallback: no validation batch was profiled (empty validation set?); skipping")
            return None
        names = list(state)
        flat = torch.cat([torch.cat([sums.flatten(), counts]) for sums, counts in state.values()])
        flat = trainer.strategy.reduce(flat, reduce_op="sum")
        reduced, offset = {}, 0
        for name in names:
            sums, counts = state[name]
            size = sums.numel()
            reduced[name] = (flat[offset : offset + size].view_as(sums), flat[offset + size : offset + size + len(counts)])
            offset += size + len(counts)
        if all(float(counts.sum()) == 0 for name, (_, counts) in reduced.items() if name in self.engine.sums):
            rank_zero_warn(
                "GradNAPCallback: no profiled frame carried a group label (all -1 or past the lengths); "
                "skipping this profiling. Check the labels the batches carry."
            )
            return None
        return reduced

    def _write(
        self, trainer: L.Trainer, log_dir: Path, profiles: Profiles, analysis, state, step: int, epoch: int
    ) -> Path | None:
        path = None
        if self.save_profiles:
            path = profiles.save(log_dir / "profiles" / f"epoch={epoch:03d}-step={step:06d}.npz")
        writer = next((lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if writer is not None:
            assert self.engine is not None
            job = partial(
                write_tensorboard, writer, profiles, analysis, step, epoch, self.views,
                self.engine.feature_views(state), self.feature_groups, self.embedding,
            )  # fmt: skip
            if self.background_figures:
                # Drawing takes seconds; a single worker thread overlaps it with training
                # (torch releases the GIL in its kernels) and keeps the writes in order.
                self._executor = self._executor or ThreadPoolExecutor(1, thread_name_prefix="gradnap-figures")
                self._pending.append(self._executor.submit(job))
            else:
                job()
        return path

    def wait_for_figures(self) -> None:
        """Block until every submitted figure is written; re-raise the first error of a drawing."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def _shutdown_figures(self) -> None:
        try:
            self.wait_for_figures()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._shutdown_figures()

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != "fit":
            self._shutdown_figures()  # trainer.validate(): finish before the logger closes

    @override
    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._shutdown_figures()

    # ------------------------------------------------------------------ checkpoints
    @override
    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = state_dict["history"]
        last = next((f for f in reversed(self.history["files"]) if f), None)
        if last and Path(last).exists():
            try:
                self._previous = Profiles.load(last)  # for the drift of the next profiling
            except ValueError as error:
                warnings.warn(f"GradNAPCallback: cannot read the last profiles for the drift: {error}", stacklevel=2)

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """History of each ``<layer>/<metric>`` over the profiling steps (global rank zero)."""
        return {name: np.asarray(values) for name, values in self.history["metrics"].items()}


def _check_writable(folder: Path) -> None:
    """Fail at setup, not after an epoch of training, if profiles cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ValueError(
            f"GradNAPCallback cannot write profiles to {str(folder)!r} ({error.strerror or error}): give the "
            "Trainer a writable default_root_dir or logger save_dir, or set save_profiles=False"
        ) from error
