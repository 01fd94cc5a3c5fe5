"""GradNAPCallback: profiles of validation batches into TensorBoard and ``.npz`` files.

A thin adapter over the core, in the order data flows: ``callback.shared_forward`` (the step's own forward,
with hooks), ``engine.engine`` (group sums), ``engine.reduction`` (across processes), ``analysis.profiling``,
``summary.writer`` (files and TensorBoard), ``callback.history`` (what a checkpoint keeps). ``callback.schedule``
says which validations and batches are profiled, ``callback.arguments`` turns the flat arguments into options,
``callback.runs`` holds setup's checks, ``callback.epoch_end`` a validation's profiling and
``callback.init_profiling`` the one before training. Only ``callback`` imports ``lightning``; a
``pytorch_lightning`` Trainer works too. Batches are read once, where they enter (``recording.batch.BatchReader``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from typing_extensions import override

from lightning_gradnap import config
from lightning_gradnap.callback.arguments import callback_engine_options, callback_frame_maps, state_key_options
from lightning_gradnap.callback.early_checks import check_before_training, first_validation_batch
from lightning_gradnap.callback.epoch_end import profile_validation
from lightning_gradnap.callback.faithfulness import FaithfulnessCheck
from lightning_gradnap.callback.history import ProfileHistory
from lightning_gradnap.callback.init_profiling import profile_before_training
from lightning_gradnap.callback.loggers import log_dir
from lightning_gradnap.callback.run_end import RunEnd
from lightning_gradnap.callback.runs import rank_zero_setup_warnings, starts_fresh_run, trainer_reference, warn_if_any
from lightning_gradnap.callback.schedule import ProfilingSchedule
from lightning_gradnap.callback.shared_forward import SharedForward, forward_module, profiled_layers
from lightning_gradnap.config import AnalysisOptions, ViewOptions, as_plain_dict
from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.profiles.groups import Groups, GroupSources
from lightning_gradnap.recording.batch import BatchReader, LabelFn, ProfileBatch
from lightning_gradnap.summary.writer import ProfileWriter

__all__ = ["GradNAPCallback"]


class GradNAPCallback(RunEnd, Callback):
    r"""Compute GradNAPs (or NAPs) on validation batches and log them at every profiling step.

    During ``fit``, profiled batches reuse the validation forward pass: hooks capture the layer
    outputs with gradients enabled for those batches only, and one ``autograd.grad`` call gives
    all layers' gradients. Under ``trainer.validate()`` (inference mode) the callback re-runs the
    forward on cloned inputs instead. Training steps and unprofiled batches pay nothing. Labels
    and group names: see the module's docstring.

    The arguments are flat and typed, as LightningCLI reads them; they build the option objects of
    :mod:`lightning_gradnap.config`, which check and document them under the same names.

    Args:
        layers: Module names (as in ``named_modules()`` of the LightningModule); default: the
            module's ``profile_layers`` attribute.
        labels: Batch key of the labels, or the name of a LightningModule method that returns them.
        inputs: Batch key of the model input, or the keys of ``forward``'s positional inputs
            (e.g. ``[features, feature_lengths]`` for a model that masks its padding).
        lengths: Batch key of valid frames per example, or ``None``.
        group_names: Names of the groups, or the attribute that holds them.
        group_categories: Category per group (e.g. phonetic class), or its attribute (default:
            ``group_categories``, if there is one).
        group_features: ``[G, D]`` numbers per group for the ``rsa`` score (e.g. articulatory
            features), or its attribute (default ``group_features``, if any).
        num_groups: Number of groups; default ``len(group_names)``.
        label_level: ``"frame"`` (labels ``[B, T]``) or ``"utterance"`` (labels ``[B]``).
        channels_last: Whether layer outputs are ``[B, T, C]`` (per layer: a dict); ``None``: found by
            probing the model (see :class:`~lightning_gradnap.config.EngineOptions`).
        class_dim: Axis of the classes in the model's scores; ``None``: found by probing the model.
        label_rate: Input time steps per frame label (``160`` for 10 ms labels of 16 kHz audio).
        frame_maps: For what probing cannot find, layer name (or ``"<output>"``) -> ``[stride, offset]`` or
            ``[stride, offset, length_offset]``, as in YAML ``frame_maps: {encoder.layers.0: [320, 39.5, -80]}``;
            from Python also a :class:`~lightning_gradnap.FrameMap` or a callable ``num_frames -> input steps``.
        output_transform: Picks the scores from the model's output: a callable or its dotted path
            (for YAML); default: the tensor, a tuple's first tensor with classes, ``output["logits"]``.
        method: ``"gradnap"``, ``"nap"``, or both (``[gradnap, nap]``: from one forward and
            backward, logged under their own tags, with their agreement per layer).
        objective: ``"predicted_logit"``, ``"predicted_logprob"``, ``"target_logprob"`` or ``"ctc"``.
        absolute: Profile ``|a * g|``.
        targets: Batch key of the objective's targets (``target_logprob``, ``ctc``).
        target_lengths: Batch key of the target lengths (``ctc``).
        every_n_epochs: Profile every n-th validation run of ``fit`` (every ``validate()``).
        max_batches: Profile the first ``max_batches`` validation batches (``None``: all).
        split_by_correctness: Split each group into ``"g correct"`` and ``"g wrong"`` by the model's best class
            at each frame (docs/errors.md; :class:`~lightning_gradnap.config.EngineOptions` documents the three).
        group_classes: The model's output class (or classes) of each group, for ``split_by_correctness``.
        blank_frames: What a frame whose best class is the blank counts as, with ``split_by_correctness``.
        reliability_threshold: Warn once per layer whose split-half reliability is below this.
        save_profiles: Write ``profiles/epoch=NNN-step=NNNNNN.npz`` under the log directory.
        profile_init: Profile once before the first training step (the untrained network, a
            checkpoint's weights if it has no such profiling): each score's ``_init`` baseline.
        faithfulness_k: The causal check's neurons per group (``None``: off; docs/faithfulness.md,
            :class:`~lightning_gradnap.config.FaithfulnessOptions` documents the three).
        faithfulness_layers: The layers it checks (``None``: every profiled layer).
        faithfulness_batches: The first this many validation batches it forwards again.

    Raises:
        ValueError: For an argument outside its allowed values (listed), or an unimportable path.

    Example:
        ```python
        trainer = Trainer(callbacks=[GradNAPCallback(layers=["model.conv3", "model.dense"])])
        trainer.fit(model, datamodule)  # then: tensorboard --logdir lightning_logs
        ```
    """

    def __init__(
        self,
        layers: list[str] | None = None,
        labels: str = "phoneme_labels",
        inputs: str | list[str] = "features",
        lengths: str | None = "feature_lengths",
        group_names: list[str] | str = "group_names",
        group_categories: list[str] | str | None = None,
        group_features: list[list[float]] | str | None = None,
        num_groups: int | None = None,
        label_level: config.LabelLevel = "frame",
        channels_last: bool | dict[str, bool] | None = None,
        class_dim: int | None = None,
        output_transform: str | Callable[[Any], torch.Tensor] | None = None,
        frame_maps: dict[str, list[float]] | None = None,
        label_rate: int = 1,
        method: config.Method | list[config.Method] = "gradnap",
        objective: config.Objective = "predicted_logit",
        absolute: bool = False,
        targets: str | None = "targets",
        target_lengths: str | None = "target_lengths",
        window: int | None = None,
        window_center: config.WindowCenter = "segment",
        every_n_epochs: int = 1,
        max_batches: int | None = 8,
        num_clusters: int = 6,
        clustering: config.Clustering = "hierarchical",
        views: list[str] | None = None,
        embedding: config.Embedding = "pca",
        feature_window: int = 31,
        feature_groups: int = 6,
        feature_batches: int | None = None,
        weight_by_count: bool = False,
        scale: config.Scale | None = None,
        reliability_threshold: float = 0.8,
        save_profiles: bool = True,
        background_figures: bool = True,
        profile_init: bool = True,
        topomap_layers: int | None = 2,
        split_by_correctness: bool = False,
        group_classes: list[int | list[int]] | None = None,
        blank_frames: config.BlankFrames = "segment",
        faithfulness_k: int | None = None,
        faithfulness_layers: list[str] | None = None,
        faithfulness_batches: int = 2,
    ) -> None:
        super().__init__()
        self.view_options = ViewOptions(
            views, embedding, feature_window, feature_groups, feature_batches, background_figures, topomap_layers
        )
        self.writer = ProfileWriter(self.view_options)
        self.schedule = ProfilingSchedule(every_n_epochs, max_batches, feature_batches, profile_init)
        self.layers = layers
        self.reader = BatchReader(inputs, labels, lengths, targets, target_lengths)
        self.group_sources = GroupSources(group_names, group_categories, group_features, num_groups)
        self._engine_options = callback_engine_options(  # the flat arguments, a few to a line
            method=method, objective=objective, absolute=absolute, label_level=label_level, window=window,
            window_center=window_center, class_dim=class_dim, channels_last=channels_last, label_rate=label_rate,
            output_transform=output_transform, feature_window=feature_window, views=self.writer.views,
            split_by_correctness=split_by_correctness, group_classes=group_classes, blank_frames=blank_frames,
        )  # fmt: skip
        self.frame_maps = callback_frame_maps(frame_maps)  # checked now
        self.analysis_options = AnalysisOptions(num_clusters, clustering, weight_by_count, scale)
        self.save_profiles, self.reliability_threshold = save_profiles, reliability_threshold
        self.faithfulness = FaithfulnessCheck(faithfulness_k, faithfulness_layers, faithfulness_batches)
        self._history = ProfileHistory.of(self.view_options)
        self.tracker = self._history.tracker  # the tracked views' orders: ``tracker.reanchor()`` on request
        self._trainer: Callable[[], Any] | None = None  # the Trainer of the last setup: another one starts a fresh run
        self.engine: ProfileEngine | None = None
        self.groups = Groups([])
        self._capture: SharedForward | None = None
        self._batch: tuple[ProfileBatch, LabelFn | None] | None = None  # read at the batch's start, until its end
        self._model: Any = None  # the module whose forward gives the scores
        self._checked_batch = False  # the first validation batch's keys and labels, before training

    @property
    def engine_options(self) -> dict[str, Any]:
        """The engine's options (:class:`~lightning_gradnap.config.EngineOptions`) as plain data, by name."""
        return as_plain_dict(self._engine_options)

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(labels=self.reader.keys["labels"], **state_key_options(self.engine_options))

    # ------------------------------------------------------------------ setup
    @override
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if starts_fresh_run(self._trainer, trainer, stage):
            self._history = ProfileHistory.of(self.view_options)
            self.tracker = self._history.tracker
            self.schedule.reset()
            self.writer.reset()
        self._trainer = trainer_reference(trainer)
        self._checked_batch = stage != "fit"
        layers = profiled_layers(pl_module, self.layers)
        self.groups = self.group_sources.resolve([getattr(trainer, "datamodule", None), pl_module])
        self.engine = ProfileEngine(layers, len(self.groups.names), self._engine_options, self.frame_maps)
        if self._engine_options.split_by_correctness:  # 2G groups: "g correct", "g wrong"
            self.groups = self.groups.split_by_correctness()
        self._model = forward_module(pl_module, layers)[1]
        self.faithfulness.setup(layers)
        self._capture = SharedForward(self.engine, self.engine.recorder(pl_module))  # layers resolved once
        warn_if_any(self._history.keep_layers(layers))
        self._history.set_root(log_dir(trainer))
        folder = log_dir(trainer) / "profiles" if self.save_profiles else None  # a broadcast: on every rank
        if trainer.is_global_zero:
            warn_if_any(*rank_zero_setup_warnings(trainer, pl_module, stage, folder, self.schedule))

    # ------------------------------------------------------------------ validation
    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._checked_batch:  # no sanity check ran: the first validation batch, before the first step
            self._check_batch(first_validation_batch(trainer), pl_module)
        if self.schedule.profile_init and self._history.init_scores is None and self._capture is not None:
            finish = partial(self._profile, trainer, pl_module, self._capture.engine, True)
            profile_before_training(trainer, pl_module, self._capture, self._model, self.reader, self.schedule, finish)

    def _check_batch(self, batch: Any, pl_module: L.LightningModule) -> None:
        self._checked_batch = True
        if batch is not None:
            level = self._engine_options.label_level
            check_before_training(self.reader, batch, pl_module, level, self.engine.num_groups if self.engine else 0)

    @override
    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.schedule.start_validation(trainer) and self.engine is not None:
            self.engine.reset()

    @override
    def on_validation_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if trainer.sanity_checking and not self._checked_batch and dataloader_idx == 0:
            self._check_batch(batch, pl_module)  # read and checked, not profiled
        if not self.schedule.profiles_batch(batch_idx, dataloader_idx):
            return
        self._batch = self.reader.read(batch, pl_module)  # once, where the batch enters
        if torch.is_inference_mode_enabled():
            return  # in inference mode the batch is profiled afterwards, by a separate forward
        assert self._capture is not None
        self._capture.start(self._model, self._batch[0])

    @override
    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        read, self._batch = self._batch, None
        if self.schedule.profiles_batch(batch_idx, dataloader_idx):
            assert self._capture is not None and self.engine is not None
            profile_batch, label_fn = read if read is not None else self.reader.read(batch, pl_module)
            feeds_features = bool(self.engine.input_sums) and self.schedule.feeds_features(batch_idx)
            self._capture.finish(self._model, profile_batch, label_fn, feeds_features)

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._batch = None
        if self._capture is not None:  # the framework has restored its grad mode: keep it
            self._capture.release(restore_grad_mode=False)
        self.writer.close(raise_errors=False)  # the training error is the one to report

    @override
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.writer.deliver()  # views drawn meanwhile, to the loggers other than TensorBoard (from this thread)

    @override
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.schedule.active or self.engine is None:
            return
        self.schedule.active = False
        self._profile(trainer, pl_module, self.engine)

    def _profile(
        self, trainer: L.Trainer, pl_module: L.LightningModule, engine: ProfileEngine, init: bool = False
    ) -> None:
        parts = (self.groups, self.analysis_options, self._history, self.schedule, self.writer)
        check = self.faithfulness.measurer(trainer, pl_module, self._model, self.reader, engine)  # None: off
        profile_validation(trainer, engine, *parts, self.save_profiles, self.reliability_threshold, init, check)
