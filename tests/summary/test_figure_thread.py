"""The figure thread never falls far behind training: drawings wait in a bounded queue, in order."""

from __future__ import annotations

import threading

import lightning_gradnap.summary.writer as writer_module
from lightning_gradnap.config import ViewOptions
from lightning_gradnap.summary.writer import ProfileWriter


def test_a_figure_thread_that_falls_behind_holds_training_back_at_max_queued_drawings(monkeypatch) -> None:
    release = threading.Event()
    drawn: list[int] = []

    def slow_views(writer, profiles, analysis, step, *args) -> None:
        release.wait()  # the figure thread is busy until released
        drawn.append(step)

    monkeypatch.setattr(writer_module, "write_views", slow_views)
    writer = ProfileWriter(ViewOptions(background_figures=True))
    for step in range(writer.max_queued + 1):  # one drawing runs, max_queued wait: no holding back yet
        writer.log(None, None, None, None, step, 0)  # type: ignore[arg-type]
    assert drawn == [] and sum(not future.done() for future in writer._pending) == writer.max_queued + 1
    blocked = threading.Thread(target=writer.log, args=(None, None, None, None, 99, 0))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # one more waits for the oldest drawing
    release.set()
    blocked.join(5)
    writer.close()
    assert not blocked.is_alive() and drawn == [*range(writer.max_queued + 1), 99]  # in order, none lost
