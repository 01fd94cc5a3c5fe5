"""The callback's work at the end of a profiled validation: the group sums reduced across processes, profiled
(:mod:`~lightning_gradnap.analysis.profiling`), tracked over steps and written (files and TensorBoard)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import lightning as L
from lightning.pytorch.utilities import rank_zero_warn

from lightning_gradnap.analysis.profiling import profile_state
from lightning_gradnap.callback.history import ProfileHistory
from lightning_gradnap.callback.loggers import log_dir, summary_writer
from lightning_gradnap.callback.runs import warn_if_any
from lightning_gradnap.callback.schedule import ProfilingSchedule
from lightning_gradnap.config import AnalysisOptions
from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.engine.reduction import NothingProfiled, reduce_state
from lightning_gradnap.profiles.from_state import State, profiles_of_method
from lightning_gradnap.profiles.groups import Groups
from lightning_gradnap.profiles.npz import profile_file_name
from lightning_gradnap.profiles.result import Profiles
from lightning_gradnap.summary.writer import ProfileWriter

__all__ = ["profile_validation"]


def profile_validation(
    trainer: L.Trainer,
    engine: ProfileEngine,
    groups: Groups,
    analysis_options: AnalysisOptions,
    history: ProfileHistory,
    schedule: ProfilingSchedule,
    writer: ProfileWriter,
    save_profiles: bool,
    reliability_threshold: float,
    init: bool = False,
    faithfulness: Callable[[dict, AnalysisOptions], Mapping[str, Mapping[str, float]]] | None = None,
) -> None:
    """Profile the validation that ends: a collective call, on every rank; files, views and the history entry
    on global rank zero (the other ranks keep the step in their history).

    Args:
        trainer: The Trainer (its strategy reduces the sums; its step, epoch and log directory name the files).
        engine: Holds this validation's group sums.
        groups: The groups' names, categories and features.
        analysis_options: How the profiles are analysed.
        history: The profilings so far (what a checkpoint keeps).
        schedule: Names the run (``None``: a step a resumed fit's checkpoint had profiled).
        writer: Writes the file and the TensorBoard views.
        save_profiles: Write the ``.npz`` file under ``profiles/`` of the log directory.
        reliability_threshold: Warn once per layer whose split-half reliability is below this.
        init: This is the untrained-network profiling (before the first training step): its scores become
            every later profiling's ``_init``; at a step already profiled it is written as ``...-init.npz``.
        faithfulness: The causal check (``callback.faithfulness``), given the reduced state; ``None``: off.
    """
    try:  # a collective call: on every rank
        state = reduce_state(
            engine.state(),
            partial(trainer.strategy.reduce, reduce_op="sum"),
            trainer.world_size,
            trainer.strategy.root_device,
            set(engine.sums),
            engine.skipped_batches,
        )
    except NothingProfiled as reason:
        rank_zero_warn(str(reason))
        return
    step, epoch = trainer.global_step, trainer.current_epoch
    if init:  # its own file where the step has one already (a resumed run whose checkpoint had no init)
        run: str | None = "init" if history.has_step(step) else ""
    else:
        run = schedule.run_name(trainer, history.state["steps"])
    if run is None:
        return  # a resumed fit repeats a step its checkpoint had profiled
    folder = log_dir(trainer) / "profiles" if save_profiles else None  # a broadcast: on every rank
    inits = history.init_scores
    faithful = None if faithfulness is None else faithfulness(state, analysis_options)  # a collective call too
    if not trainer.is_global_zero:
        if init:
            history.set_init(step, {})  # done on this rank too (the scores are rank zero's)
        if not run:
            history.add(step, epoch)
        return
    try:  # any error of the analysis or the views: a warning that names the step, the file still written
        previous = history.previous
        profiling = profile_state(engine.contents, state, groups, analysis_options, previous, inits, init, faithful)
        first, analysis = profiling.first
        scores = None
        if not run:  # orders of the views watched over steps (first method), into the file; scores so far
            scores = history.track(first, step, analysis, anchor=not init)
            profiling.profiles.orderings.update(first.orderings)
            profiling.refresh_scores()  # with the topographic maps' scores
    except Exception as error:
        _warn_failed("analysis", step, error, "its profiles are saved without scores")
        path = (
            None
            if folder is None
            else writer.save_or_warn(_profiles_only(engine, state, groups, analysis_options), folder, epoch, step, run)
        )
        if not run:
            history.add(step, epoch, path)  # no scores at this step (NaN)
        return
    if init:
        history.set_init(step, profiling.init)
    try:
        path = writer.write(profiling, step, epoch, folder, summary_writer(trainer), run, scores)
    except Exception as error:
        _warn_failed("views", step, error, "the views of this step are incomplete")
        written = None if folder is None else folder / profile_file_name(epoch, step, run)
        path = written if written is not None and written.exists() else None
    if not init:  # an untrained network's profiles are noisier: the trained ones are the ones compared
        warn_if_any(history.check_reliability(analysis, reliability_threshold))
    if not run:  # a repeat at a step (e.g. validate() on other data) has its own file, not a history entry
        history.add(step, epoch, path, profiling.profiles, analysis)


def _profiles_only(engine: ProfileEngine, state: State, groups: Groups, options: AnalysisOptions) -> Profiles:
    """Every method's profiles of ``state``, without analysis (where the analysis failed)."""
    norm = (options.weight_by_count, options.scale)
    by_method = {
        method: profiles_of_method(state, engine.contents, method, groups.names, groups.categories, *norm)
        for method in engine.contents.methods
    }
    return Profiles.combine(by_method)


def _warn_failed(stage: str, step: int, error: Exception, consequence: str) -> None:
    rank_zero_warn(
        f"GradNAPCallback: the {stage} of the profiling at step {step} failed ({type(error).__name__}: {error}); "
        f"{consequence}, and training goes on. Please report this with the traceback (warnings.simplefilter('error'))."
    )
