"""Where the views go: one ``SummaryWriter``, or several sinks at once (docs/loggers.md).

The views (:mod:`~lightning_gradnap.summary.views`, :mod:`~lightning_gradnap.summary.step_views`,
:mod:`~lightning_gradnap.summary.replay`) write to anything with the part of ``SummaryWriter``'s
interface that :class:`ViewSink` names. A ``SummaryWriter`` is such a sink as it is, with its extras
(projector, custom-scalars layout). :class:`Sinks` sends every call to several sinks: an extra that
a sink lacks (``add_embedding``, ``add_custom_scalars``) goes only to the sinks that have it.

A sink may queue what it is given in the figure thread and pass it on in the thread that made it
(:meth:`Sinks.deliver`), for loggers that are not made for calls from two threads. No Trainer needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["Sinks", "ViewSink", "deliver", "takes_images"]


class ViewSink(Protocol):
    """What every view sink takes: ``SummaryWriter``'s ``add_image``, ``add_scalar`` and ``flush``."""

    def add_image(self, tag: str, img_tensor: Any, global_step: int | None = None, dataformats: str = "CHW") -> None:
        """One image (the views pass ``[H, W, 3]`` uint8 arrays with ``dataformats="HWC"``) at a step."""

    def add_scalar(self, tag: str, scalar_value: float, global_step: int | None = None) -> None:
        """One number at a step."""

    def flush(self) -> None:
        """The end of one profiling's (or the replay's) views."""


class Sinks:
    """Several sinks as one: each call goes to each sink (in order) that has the method.

    Args:
        sinks: The sinks, e.g. a ``SummaryWriter`` and a
            :class:`~lightning_gradnap.callback.logger_sink.LoggerSink`.
    """

    def __init__(self, sinks: Sequence[Any]) -> None:
        self.sinks = list(sinks)

    @property
    def takes_images(self) -> bool:
        """Whether any sink takes images (if none does, the figures need not be drawn)."""
        return any(takes_images(sink) for sink in self.sinks)

    def add_image(self, tag: str, img_tensor: Any, global_step: int | None = None, dataformats: str = "CHW") -> None:
        for sink in self.sinks:
            sink.add_image(tag, img_tensor, global_step, dataformats=dataformats)

    def add_scalar(self, tag: str, scalar_value: float, global_step: int | None = None) -> None:
        for sink in self.sinks:
            sink.add_scalar(tag, scalar_value, global_step)

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()

    def deliver(self) -> None:
        """Pass on what the sinks queued in another thread (call it in the thread that made them)."""
        for sink in self.sinks:
            deliver(sink)

    def __getattr__(self, name: str) -> Any:
        """A ``SummaryWriter`` extra (``add_embedding``, ``add_custom_scalars``, any ``add_*``): to the sinks
        that have it (none: nothing happens)."""
        if not name.startswith("add_"):
            raise AttributeError(f"{type(self).__name__} passes on add_* methods, flush and deliver only, not {name!r}")
        having = [getattr(sink, name) for sink in self.sinks if hasattr(sink, name)]

        def call_each(*args: Any, **kwargs: Any) -> None:
            for method in having:
                method(*args, **kwargs)

        return call_each


def takes_images(sink: Any) -> bool:
    """Whether ``sink`` takes images (a ``SummaryWriter`` does; a sink says so by ``takes_images``)."""
    return bool(getattr(sink, "takes_images", True))


def deliver(sink: Any) -> None:
    """``sink.deliver()`` where the sink queues (a ``SummaryWriter`` writes at once and has nothing to deliver)."""
    method = getattr(sink, "deliver", None)
    if callable(method):
        method()
