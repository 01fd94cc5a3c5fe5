"""GradNAPCallback: profiles of validation batches into TensorBoard and ``.npz`` files.

A thin adapter over the core, in the order data flows: :mod:`~lightning_gradnap.capture` (the
validation step's own forward, with hooks), :mod:`~lightning_gradnap.engine` (group sums),
:mod:`~lightning_gradnap.reduction` (across processes), :mod:`~lightning_gradnap.analysis`,
:mod:`~lightning_gradnap.writer` (files and TensorBoard) and :mod:`~lightning_gradnap.history`
(what a checkpoint keeps). This module is the only one that imports ``lightning``.

Labels (see :class:`~lightning_gradnap.batch.BatchReader`): a dict batch carries frame labels
under ``labels``; or the LightningModule has a method of that name, called as
``method(batch, output)``; or the batch is a tuple ``(x, y)`` (``label_level="utterance"``).
Group names and categories are lists, or names of attributes of the data module or the
LightningModule (default ``"group_names"`` / ``"group_categories"``).
"""

from __future__ import annotations

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

from lightning_gradnap.analysis import analyze, check_clustering
from lightning_gradnap.batch import BatchReader, resolve_groups
from lightning_gradnap.capture import SharedForward
from lightning_gradnap.engine import ProfileEngine
from lightning_gradnap.history import ProfileHistory
from lightning_gradnap.reduction import NothingProfiled, reduce_state
from lightning_gradnap.replay import replay_history
from lightning_gradnap.writer import ProfileWriter, check_writable

__all__ = ["GradNAPCallback"]


class GradNAPCallback(Callback):
    r"""Compute GradNAPs (or NAPs) on validation batches and log them at every profiling step.

    During ``fit``, profiled batches reuse the validation forward pass: hooks capture the layer
    outputs with gradients enabled for those batches only, and one ``autograd.grad`` call gives
    all layers' gradients. Under ``trainer.validate()`` (inference mode) the callback re-runs the
    forward on cloned inputs instead. Training steps and unprofiled batches pay nothing. Labels
    and group names: see the module's docstring.

    Args:
        layers: Module names (as in ``named_modules()`` of the LightningModule); default: the
            module's ``profile_layers`` attribute.
        labels: Batch key of the labels, or the name of a LightningModule method that returns them.
        inputs: Batch key of the model input, or the keys of ``forward``'s positional inputs
            (e.g. ``[features, feature_lengths]`` for a model that masks its padding).
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
        views: What to log (default: all but ``profile_clustered``): ``profile`` (tracked), ``profile_clustered``,
            ``profile_replay`` (at the end of ``fit``), ``dendrogram``, ``groups_2d``, ``agreement``,
            ``features``, ``scalars``, ``projector``, ``emergence``.
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
        inputs: str | list[str] = "features",
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
        self.writer = ProfileWriter(views, feature_groups, embedding, background_figures)  # checks views, embedding
        check_clustering(num_clusters, clustering)
        if every_n_epochs < 1:
            raise ValueError(f"`every_n_epochs` should be at least 1, got {every_n_epochs}")
        if max_batches is not None and max_batches < 1:
            raise ValueError(f"`max_batches` should be at least 1 or None (all batches), got {max_batches}")
        self.layers = layers
        self.reader = BatchReader(inputs, labels, lengths, targets, target_lengths)
        self.group_names_source = group_names
        self.group_categories_source = group_categories
        self.num_groups = num_groups
        self.engine_options = dict(
            method=method, objective=objective, absolute=absolute, label_level=label_level,
            input_window=feature_window if "features" in self.writer.views and label_level == "frame" else None,
        )  # fmt: skip
        # Fail now, not at the first validation, on options the engine rejects.
        ProfileEngine(["_"], 1, **self.engine_options)  # type: ignore[arg-type]
        self.every_n_epochs = every_n_epochs
        self.max_batches = max_batches
        self.num_clusters = num_clusters
        self.clustering = clustering
        self.feature_batches = feature_batches
        self.weight_by_count = weight_by_count
        self.scale = scale
        self.save_profiles = save_profiles
        self._history = ProfileHistory(embedding)
        self.tracker = self._history.tracker  # the tracked views' orders: ``tracker.reanchor()`` on request
        self.engine: ProfileEngine | None = None
        self.group_names: list[str] = []
        self.group_categories: list[str] | None = None
        self._active = False
        self._capture: SharedForward | None = None

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
        owners = [getattr(trainer, "datamodule", None), pl_module]
        self.group_names, self.group_categories = resolve_groups(
            self.group_names_source, self.group_categories_source, self.num_groups, owners
        )
        num_groups = len(self.group_names)
        self.engine = ProfileEngine(layers, num_groups, **self.engine_options)  # type: ignore[arg-type]
        self._capture = SharedForward(self.engine, self.reader, self.engine.recorder(pl_module))  # layers resolved once
        log_dir = self._log_dir(trainer)  # a broadcast: on every rank, before any rank-zero branch
        if self.save_profiles and trainer.is_global_zero:
            check_writable(log_dir / "profiles")
        if self._summary_writer(trainer) is None and trainer.is_global_zero:
            rank_zero_warn(
                "GradNAPCallback found no TensorBoardLogger: profiles are saved as .npz files only. "
                "Add `logger: lightning.pytorch.loggers.TensorBoardLogger` to see them in TensorBoard."
            )

    @staticmethod
    def _log_dir(trainer: L.Trainer) -> Path:
        return Path(trainer.log_dir or trainer.default_root_dir)  # a broadcast: call it on every rank

    @staticmethod
    def _summary_writer(trainer: L.Trainer) -> Any:
        return next((lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)

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

    def _feeds_features(self, batch_idx: int) -> bool:
        return bool(self.engine and self.engine.input_sums) and batch_idx < self.feature_batches

    @override
    def on_validation_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not self._profiles_batch(batch_idx, dataloader_idx) or torch.is_inference_mode_enabled():
            return  # in inference mode the batch is profiled afterwards, by a separate forward
        assert self._capture is not None
        self._capture.start(pl_module, batch)

    @override
    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        if self._profiles_batch(batch_idx, dataloader_idx):
            assert self._capture is not None
            self._capture.finish(pl_module, batch, self._feeds_features(batch_idx))

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if self._capture is not None:
            self._capture.release()
        try:
            self.writer.close()
        except Exception as error:  # the training error is the one to report
            rank_zero_warn(f"GradNAPCallback: a figure failed while handling another error: {error}")

    @override
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._active or self.engine is None:
            return
        self._active = False
        try:  # a collective call: on every rank
            state = reduce_state(
                self.engine.state(), partial(trainer.strategy.reduce, reduce_op="sum"), trainer.world_size,
                trainer.strategy.root_device, set(self.engine.sums), self.engine.skipped_batches,
            )  # fmt: skip
        except NothingProfiled as reason:
            rank_zero_warn(str(reason))
            return
        step, epoch = trainer.global_step, trainer.current_epoch
        if self._history.has_step(step):
            return  # already profiled at this step (e.g. validation re-run after a resume)
        log_dir = self._log_dir(trainer)  # a broadcast: on every rank
        if not trainer.is_global_zero:
            self._history.add(step, epoch)
            return
        profiles = self.engine.result(self.group_names, self.group_categories, self.weight_by_count, self.scale, state)
        analysis = analyze(profiles, self.num_clusters, self.clustering, self._history.previous)
        folder = log_dir / "profiles" if self.save_profiles else None
        feature_views = self.engine.feature_views(state)
        scores = self._history.track(profiles, step, analysis)  # orders into profiles.orderings; scores so far
        path = self.writer.write(profiles, analysis, feature_views, step, epoch, folder, self._summary_writer(trainer), scores)
        self._history.add(step, epoch, path, profiles, analysis)

    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.writer.close()
        if "profile_replay" in self.writer.views and self.save_profiles and trainer.is_global_zero:
            replay_history(self._summary_writer(trainer), self.history)  # from the files; warns about unreadable ones

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != "fit":
            self.writer.close()  # trainer.validate(): finish before the logger closes

    @override
    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.writer.close()

    # ------------------------------------------------------------------ checkpoints
    @override
    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._history.load(state_dict["history"])

    @property
    def history(self) -> dict[str, Any]:
        """Steps, epochs, files and ``metrics`` of every profiling so far (plain data, as checkpointed)."""
        return self._history.state

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """History of each ``<layer>/<metric>`` over the profiling steps (global rank zero)."""
        return self._history.metrics
