"""Fixtures that several test files share. Code that tests import by name (models, data, constants
such as the checkout's root) lives in :mod:`tests.helpers`; pytest finds these fixtures by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.helpers.dashboard import make_run


@pytest.fixture
def profile_logdir(tmp_path: Path) -> Callable[..., Path]:
    """A log directory of small runs of profile files, laid out as the callback writes them (no training).

    ``profile_logdir((10, 20, 30), (10, 20))`` writes ``<tmp_path>/logs/version_0/profiles/`` with
    files at steps 10, 20 and 30, and ``version_1/profiles/`` at steps 10 and 20 (run ``i`` with the
    random seed ``i``; see :func:`tests.helpers.dashboard.make_run`), and returns ``<tmp_path>/logs``.
    """

    def write(*steps_of_each_run: Sequence[int]) -> Path:
        logs = tmp_path / "logs"
        for seed, steps in enumerate(steps_of_each_run):
            make_run(logs / f"version_{seed}" / "profiles", tuple(steps), seed=seed)
        return logs

    return write
