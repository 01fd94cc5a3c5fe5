"""TensorBoard's start-up with the GradNAP plugin: the code before the lazy imports against the code now.

Each measurement runs in a fresh Python process (nothing cached in memory; the disk cache is warm
after the first), alternating the variants so that a load change on the machine hits them alike:

- ``entry point``: what TensorBoard does first with the plugin, ``importlib.metadata`` entry point
  ``tensorboard_plugins: gradnap`` loaded (the module imported), timed inside the process;
- ``tensorboard``: the real ``tensorboard --logdir`` command, from its start until it prints that it
  serves (every plugin imported, loaded and asked for its routes), timed from outside;
- ``stub`` (baseline): the same two with a plugin that does nothing, so that ``tensorboard`` minus
  ``stub`` is what the GradNAP tab adds to TensorBoard's own start-up.

"Before" is the package from a git revision (``--before``, default ``main``), extracted to a temporary
folder with ``git archive``; "after" is this checkout. The entry point installed in the environment
names ``lightning_gradnap.dashboard.plugin:GradNAPLoader``; ``PYTHONPATH`` picks which code it loads.

    .venv/bin/python bench/bench_tensorboard_startup.py [--before main] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).parent.parent
TENSORBOARD = Path(sys.executable).parent / "tensorboard"
#: Loads the entry point as TensorBoard's ``default.get_dynamic_plugins`` does, and prints the seconds it took.
LOAD_ENTRY_POINT = """
import sys, time
start = time.perf_counter()
from importlib import metadata
(entry_point,) = [e for e in metadata.entry_points(group='tensorboard_plugins') if e.name == 'gradnap']
loader = entry_point.load()
print(time.perf_counter() - start)
print(sys.modules[loader.__module__].__file__)
print(sorted({name.split('.')[0] for name in sys.modules} & {'torch', 'lightning', 'matplotlib', 'scipy', 'numpy'}))
"""
STUB_PLUGIN = """from tensorboard.plugins import base_plugin


class GradNAPLoader(base_plugin.TBLoader):
    def load(self, context):
        return None  # no plugin: TensorBoard's start-up without the tab
"""


def extract_before(revision: str, folder: Path) -> Path:
    """The package as it was at ``revision``, under ``folder/before``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "lightning_gradnap"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder / "before", filter="data")
    return folder / "before"


def write_stub(folder: Path) -> Path:
    """A package ``lightning_gradnap`` whose plugin loads nothing, under ``folder/stub``."""
    package = folder / "stub" / "lightning_gradnap" / "dashboard"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(STUB_PLUGIN)
    return folder / "stub"


def write_logdir(folder: Path) -> Path:
    """A log directory with one small run of profile files (the tab is active)."""
    sys.path.insert(0, str(ROOT))
    from tests.helpers.dashboard import make_run

    make_run(folder / "logs" / "version_0" / "profiles", (10, 20))
    return folder / "logs"


def time_entry_point(source: Path) -> tuple[float, str]:
    environment = {**os.environ, "PYTHONPATH": str(source)}
    # From the source's parent folder: ``python -c`` puts the working folder first on sys.path.
    result = subprocess.run(
        [sys.executable, "-c", LOAD_ENTRY_POINT],
        capture_output=True,
        text=True,
        env=environment,
        cwd=source,
        check=True,
    )
    assert f"{source}/lightning_gradnap/" in result.stdout, result.stdout  # the code meant, not another
    seconds, _, modules = result.stdout.splitlines()[-3:]
    return float(seconds), modules


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def time_tensorboard(source: Path, logdir: Path, timeout: float = 120.0) -> float:
    """Seconds from starting ``tensorboard --logdir`` to its "serving" line."""
    environment = {**os.environ, "PYTHONPATH": str(source)}
    command = [str(TENSORBOARD), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(free_port())]
    start = time.perf_counter()
    board = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=environment, cwd=source
    )
    try:
        assert board.stderr is not None
        for line in board.stderr:
            if "TensorBoard" in line and "http://" in line:
                return time.perf_counter() - start
            if time.perf_counter() - start > timeout:
                break
        raise RuntimeError(f"tensorboard did not start with PYTHONPATH={source}")
    finally:
        board.terminate()
        board.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="main", help="the git revision of the code before (default: main)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.before], capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="gradnap-tb-startup-") as temporary:
        folder = Path(temporary)
        variants = {"before": extract_before(args.before, folder), "after": ROOT, "stub": write_stub(folder)}
        logdir = write_logdir(folder)
        loads: dict[str, list[float]] = {name: [] for name in variants}
        starts: dict[str, list[float]] = {name: [] for name in variants}
        imported: dict[str, str] = {}
        for _ in range(args.repeats):
            for name, source in variants.items():
                seconds, imported[name] = time_entry_point(source)
                loads[name].append(seconds)
                starts[name].append(time_tensorboard(source, logdir))
    print(f"before = {args.before} ({revision}), after = this checkout; {args.repeats} repeats, medians")
    print(f"{'variant':8} {'entry point (s)':>16} {'tensorboard (s)':>16}  modules after the entry point")
    median = {name: (statistics.median(loads[name]), statistics.median(starts[name])) for name in variants}
    for name in variants:
        print(f"{name:8} {median[name][0]:16.3f} {median[name][1]:16.3f}  {imported[name]}")
    (load_before, start_before), (load_after, start_after), (_, start_stub) = (median[n] for n in variants)
    print(f"entry point: before / after = {load_before / load_after:.1f}x")
    print(f"tensorboard start-up: before / after = {start_before / start_after:.2f}x")
    print(
        f"what the tab adds to TensorBoard's start-up: before {start_before - start_stub:+.2f} s, "
        f"after {start_after - start_stub:+.2f} s"
    )


if __name__ == "__main__":
    main()
