"""Where a profiling goes: its ``.npz`` file at once, its views in a figure thread.

Drawing takes seconds; a single worker thread overlaps it with training (torch releases the GIL
in its kernels) and keeps the writes in order. The views go to a ``SummaryWriter`` or any view sink
(:mod:`~lightning_gradnap.summary.sinks`); what a sink queues in the figure thread is delivered from
the caller's thread (:meth:`ProfileWriter.deliver`: the callback calls it after each training step; also at the
next profiling and at :meth:`ProfileWriter.wait`). No Trainer needed.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from functools import partial
from pathlib import Path
from typing import Any

from lightning_gradnap.analysis.profile_analysis import ProfileAnalysis
from lightning_gradnap.analysis.profiling import Profiling
from lightning_gradnap.config import ViewOptions
from lightning_gradnap.profiles.npz import profile_file_name
from lightning_gradnap.profiles.result import FeatureViews, Profiles
from lightning_gradnap.summary.sinks import deliver, takes_images
from lightning_gradnap.summary.views import Scores, write_views

__all__ = ["ProfileWriter", "check_writable", "tag_of"]


def tag_of(run: str = "", method: str = "gradnap") -> str:
    """The TensorBoard tag prefix: the method (``gradnap`` or ``nap``), and ``-<run>`` for a repeated
    profiling at a step."""
    return f"{method}-{run}" if run else method


class ProfileWriter:
    """Writes each profiling's file and views.

    Args:
        options: The views to log and how (:class:`~lightning_gradnap.config.ViewOptions`, which
            checks them); with ``background_figures`` the figures are drawn in a worker thread
            (complete after :meth:`close`). At most :attr:`max_queued` drawings wait for it: a
            further one first waits for the oldest, so that the views never fall far behind
            training and nothing piles up in memory.
    """

    #: Drawings (one per method and profiling) that may wait while the figure thread draws another.
    max_queued = 4

    def __init__(self, options: ViewOptions) -> None:
        self.options = options
        self.views = list(options.views or ())
        self.num_feature_groups = options.feature_groups
        self.embedding = options.embedding
        self.background = options.background_figures
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []
        self._layout_written = False  # the custom-scalars layout, once per writer
        self._frames: dict = {}  # the tracked heatmaps' figures, redrawn step to step while their orders hold
        self._sinks: list[Any] = []  # what log() wrote to, for deliver()

    def reset(self) -> None:
        """A new run (another Trainer, another logger): write the custom-scalars layout again, redraw from scratch."""
        self.close(raise_errors=False)
        self._layout_written = False
        self._frames = {}
        self._sinks = []

    def write(
        self,
        profiling: Profiling,
        step: int,
        epoch: int,
        folder: Path | None,
        summary_writer: Any = None,
        run: str = "",
        scores: Scores | None = None,
    ) -> Path | None:
        """:meth:`save` into ``folder`` (if given; every method in one file) and :meth:`log` each
        method under its own tag to ``summary_writer`` (if given: a ``SummaryWriter`` or a view sink).

        ``run`` names a repeated profiling at a step (e.g. ``"validate-1"``): it goes into the file
        name and the tag prefix, so that it overwrites nothing.
        """
        path = None if folder is None else self.save_or_warn(profiling.profiles, folder, epoch, step, run)
        if summary_writer is not None:
            for method, analysis in profiling.analyses.items():
                profiles = profiling.profiles.method(method)
                watched = scores if method == profiling.methods[0] else None  # emergence maps: the first method's
                self.log(
                    summary_writer,
                    profiles,
                    analysis,
                    profiling.feature_views,
                    step,
                    epoch,
                    tag_of(run, method),
                    watched,
                )
        return path

    def save_or_warn(self, profiles: Profiles, folder: Path, epoch: int, step: int, run: str = "") -> Path | None:
        """:meth:`save`, or a warning that names the file and the reason (a full disk, a folder that became
        unwritable): training goes on, the next profiling tries again, and the history keeps no file for this one."""
        path = folder / profile_file_name(epoch, step, run)
        try:
            return self.save(profiles, folder, epoch, step, run)
        except OSError as error:
            reason = error.strerror or str(error) or type(error).__name__
            warnings.warn(
                f"GradNAPCallback: could not write the profiles of step {step} to {str(path)!r} ({reason}); "
                "training goes on and the next profiling tries again. Free disk space or fix the folder's permissions.",
                stacklevel=2,
            )
            return None

    def save(self, profiles: Profiles, folder: Path, epoch: int, step: int, run: str = "") -> Path:
        """Write ``folder/epoch=NNN-step=NNNNNN[-run].npz`` (atomically) and return its path."""
        return profiles.save(folder / profile_file_name(epoch, step, run))

    def log(
        self,
        summary_writer: Any,
        profiles: Profiles,
        analysis: ProfileAnalysis,
        feature_views: FeatureViews | None,
        step: int,
        epoch: int,
        tag: str = "gradnap",
        scores: Scores | None = None,
    ) -> None:
        """Log the views under ``tag`` to a ``SummaryWriter`` or view sink, now or in the figure thread
        (``scores``: the run's so far, for the emergence maps). A sink that takes no images gets the
        scalars only, and the figures are not drawn."""
        self.deliver()
        for sink in getattr(summary_writer, "sinks", [summary_writer]):  # a Sinks' own, or the writer itself
            if not any(known is sink for known in self._sinks):
                self._sinks.append(sink)
        views = self.views if takes_images(summary_writer) else [view for view in self.views if view == "scalars"]
        job = partial(
            _warn_on_error,
            step,
            write_views,
            summary_writer,
            profiles,
            analysis,
            step,
            epoch,
            views,
            feature_views,
            self.num_feature_groups,
            self.embedding,
            tag,
            scores,
            not self._layout_written,
            self._frames,
        )
        self._layout_written = True
        if not self.background:
            job()
            return
        self._executor = self._executor or ThreadPoolExecutor(1, thread_name_prefix="gradnap-figures")
        self._pending = [f for f in self._pending if not f.done() or f.exception() is not None]  # errors: for wait()
        self._pending.append(self._executor.submit(job))
        unfinished = [future for future in self._pending if not future.done()]  # one drawing, the rest queued
        wait_for(unfinished[: max(0, len(unfinished) - 1 - self.max_queued)])

    def wait(self) -> None:
        """Block until every submitted figure is written and delivered; re-raise the first error of a drawing."""
        pending, self._pending = self._pending, []
        try:
            for future in pending:
                future.result()
        finally:
            self.deliver()

    def deliver(self) -> None:
        """Pass on what the sinks queued in the figure thread, here, in the caller's thread (cheap when nothing is)."""
        for sink in self._sinks:
            deliver(sink)

    def close(self, raise_errors: bool = True) -> None:
        """:meth:`wait`, then stop the figure thread (a later :meth:`log` starts a new one).

        Args:
            raise_errors: Re-raise a drawing's error; if False (e.g. while another error is
                being handled), only warn.
        """
        try:
            self.wait()
        except Exception as error:
            if raise_errors:
                raise
            warnings.warn(f"GradNAPCallback: a figure failed while handling another error: {error}", stacklevel=2)
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None


def _warn_on_error(step: int, draw: Any, *args: Any) -> None:
    """``draw(*args)``, an error of which becomes a warning naming the step: a view never stops training."""
    try:
        draw(*args)
    except Exception as error:
        warnings.warn(
            f"GradNAPCallback: drawing the views of the profiling at step {step} failed ({type(error).__name__}: "
            f"{error}); its file is written, the other steps' views are drawn, and training goes on",
            stacklevel=2,
        )


def check_writable(folder: Path) -> None:
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
