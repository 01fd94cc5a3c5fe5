"""Commands run as subprocesses in a process group of their own, so that nothing is left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence

from tests.helpers.paths import ROOT


def run_in_own_group(args: Sequence[str], timeout: float) -> tuple[int, str]:
    """Run ``args`` from the checkout's root in a new session; return its exit code and its output
    (stdout and stderr together). The whole process group is killed afterwards: the processes the
    command started (e.g. the other ranks of a DDP run) and, after a timeout, the command itself.

    Raises:
        subprocess.TimeoutExpired: if the command runs longer than ``timeout`` seconds.
    """
    process = subprocess.Popen(
        list(args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group may be gone already
            os.killpg(process.pid, signal.SIGKILL)  # anything left behind, also after a timeout
    return process.returncode, output
