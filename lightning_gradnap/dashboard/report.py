"""The dashboard as one self-contained HTML file: ``python -m lightning_gradnap report``.

The report holds the same front end as the TensorBoard tab and the answers to every request it
can make, computed by the same route functions and inlined as base64 (identical payloads once).
It opens from disk with no server, to be shared or attached to a paper.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from lightning_gradnap.dashboard.bundle import bundle
from lightning_gradnap.dashboard.data import DEFAULT_NUM_CLUSTERS, ORDERINGS, Dashboard
from lightning_gradnap.dashboard.files import printable_name
from lightning_gradnap.dashboard.routes import BINARY, query_key, respond, run_info

__all__ = ["add_arguments", "main", "write_report"]

STATIC = Path(__file__).parent / "static"
PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<style>
{style}
</style></head>
<body><div id="gradnap-root"></div>
<script type="application/json" id="gradnap-index">{index}</script>
{payloads}
<script type="module">
{script}
modules["index.js"].render(
  document.getElementById("gradnap-root"), modules["source.js"].inlineSource(), {{ stylesheet: false }}
);
</script>
</body>
</html>
"""


def requests(dashboard: Dashboard) -> Iterator[tuple[str, dict[str, str]]]:
    """Every request the front end can make of these runs."""
    yield "runs", {}
    for run in dashboard.runs():
        info = run_info(dashboard, run)
        yield "run", {"run": run}
        for method in info["methods"]:
            yield "emergence", {"run": run, "method": method}
            for layer in (entry["name"] for entry in info["layers"]):
                steps = [_step(s) for s in info["steps"] if method in s["methods"] and layer in s["layers"]]
                if not steps:
                    continue
                at = {"run": run, "method": method, "layer": layer}
                yield "scale", at
                for step in steps:
                    yield "matrix", {**at, **step}
                    yield "tree", {**at, **step}
                    yield "topomap", {**at, **step}
                    for kind in ORDERINGS:
                        yield "order", {**at, **step, "kind": kind}
                    if info["metadata"].get("split_by_correctness"):  # the right/wrong view
                        yield "errors", {**at, **step}
        for step in (_step(s) for s in info["steps"] if s["features"]):
            for group in range(len(info["groups"])):
                yield "features", {"run": run, **step, "group": str(group)}


def _step(entry: dict[str, Any]) -> dict[str, str]:
    """A step's query parameters: ``step``, and ``repeat`` for a repeat at it (as the front end asks)."""
    return {"step": str(entry["step"]), **({"repeat": entry["repeat"]} if entry["repeat"] else {})}


def write_report(
    root: str | Path,
    output: str | Path,
    num_clusters: int = DEFAULT_NUM_CLUSTERS,
    layers: Sequence[str] | None = None,
    half: bool = False,
    recompute: bool = False,
    title: str | None = None,
    progress: bool = True,
) -> Path:
    """Write the report of every run under ``root`` to ``output``.

    Args:
        root: A log directory (runs with ``profiles/*.npz``), one run's log directory, or any
            folder of ``.npz`` files written by ``Profiles.save``.
        output: The ``.html`` file to write.
        num_clusters: Flat clusters of groups, for the AMI score.
        layers: Only these layers (default: all).
        half: Store the profiles as float16 (half the size; values rounded to about 3 digits).
        recompute: Ignore orderings and scores saved in the files; compute them with these options.
        title: The page title (default: the folder's name).
        progress: Show a progress bar (tqdm).

    Raises:
        ValueError: if there are no profile files under ``root``, or a requested layer is in none.

    Warns:
        UserWarning: for each file left out, malformed or refused (names it).
    """
    root, output = Path(root), Path(output)
    dashboard = Dashboard(root, num_clusters, list(layers) if layers else None, recompute=recompute)
    dashboard.index.warn = lambda message: warnings.warn(message, stacklevel=2)  # once: no logger line as well
    if not dashboard.runs():
        raise ValueError(
            f"no .npz profile files under {str(root)!r}: give a log directory (with profiles/*.npz), "
            "or a folder of files saved with Profiles.save"
        )
    _check_layers(dashboard, layers)
    wanted = list(tqdm(requests(dashboard), desc="listing", unit=" requests", disable=not progress, leave=False))
    index: dict[str, dict[str, str]] = {}
    blobs: dict[str, str] = {}
    for route, params in tqdm(wanted, desc="analysing", unit=" views", disable=not progress):
        payload = respond(dashboard, route, params)
        body, encoding, scale = payload.body, "json", 1.0
        if payload.mimetype == BINARY:
            encoding = "float16" if half else "float32"
            if half:
                body, scale = _to_half(np.frombuffer(body, "<f4"))
        digest = hashlib.sha1(body + f"{encoding}{scale}".encode()).hexdigest()[:16]
        if digest not in blobs:
            blobs[digest] = _escape_json(body.decode()) if encoding == "json" else base64.b64encode(body).decode()
        entry: dict[str, Any] = {"id": f"p{digest}", "encoding": encoding}
        if encoding == "float16":
            entry["scale"] = scale
        index[query_key(route, params)] = entry
    payloads = "\n".join(f'<script type="text/plain" id="p{digest}">{text}</script>' for digest, text in blobs.items())
    page = PAGE.format(
        title=html.escape(title or f"GradNAP report: {printable_name(root.resolve().name)}"),
        style=(STATIC / "style.css").read_text(encoding="utf-8"),
        index=_escape_json(json.dumps(index, separators=(",", ":"), ensure_ascii=False)),
        payloads=payloads,
        script=bundle(STATIC),
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.tmp")
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(output)
    return output


def _escape_json(text: str) -> str:
    """JSON that cannot end or change its ``<script>`` element (``</script>``, ``<!--``, ``<script>`` in a group
    name): every ``<`` as ``\\u003c``, which JSON reads back as ``<`` (``<`` stands only inside JSON strings)."""
    return text.replace("<", "\\u003c")


def _to_half(values: np.ndarray) -> tuple[bytes, float]:
    """float16 bytes of ``values`` times a power of two that puts the largest finite magnitude near 2**14, and that
    scale (the front end divides by it): no value overflows to infinity, and small profiles keep their digits."""
    finite = np.abs(values[np.isfinite(values)])
    largest = float(finite.max()) if finite.size else 0.0
    scale = 2.0 ** (14 - int(np.ceil(np.log2(largest)))) if largest > 0 else 1.0
    return (values.astype(np.float64) * scale).astype("<f2").tobytes(), scale


def _check_output(output: Path) -> None:
    """Refuse, in words, an output path that is a folder or lies under a file."""
    if output.is_dir():
        raise SystemExit(
            f"error: -o {str(output)!r} is a folder: give the report's file name, e.g. {output / 'report.html'}"
        )
    blocking = next((parent for parent in output.parents if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise SystemExit(f"error: cannot write {str(output)!r}: {str(blocking)!r} is a file, not a folder")


def _check_layers(dashboard: Dashboard, layers: Sequence[str] | None) -> None:
    if not layers:
        return
    known: list[str] = []
    for run in dashboard.runs():
        for file in dashboard.files(run):
            known += [name for name in dashboard.header(file).layers if name not in known]
    unknown = [name for name in layers if name not in known]
    if unknown:
        raise ValueError(f"--layers {unknown} are in no profile file; layers: {known}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``report`` command's options."""
    parser.add_argument(
        "log_dir", type=Path, help="log directory, one run's log directory, or a folder of .npz profile files"
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("report.html"), help="HTML file to write (default: report.html)"
    )
    parser.add_argument(
        "--num-clusters", type=int, default=DEFAULT_NUM_CLUSTERS, help="flat clusters of groups, for the AMI score"
    )
    parser.add_argument(
        "--layers", nargs="+", metavar="LAYER", help="only these layers (names, or one comma-separated list)"
    )
    parser.add_argument("--recompute", action="store_true", help="ignore orderings and scores saved in the files")
    parser.add_argument("--half", action="store_true", help="store profiles as float16: half the size, about 3 digits")
    parser.add_argument("--title", help="page title")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> Any:
    """Run the ``report`` command; print where the file went."""
    if args.num_clusters < 2:
        raise SystemExit(f"--num-clusters should be at least 2, got {args.num_clusters}")
    layers = [name for item in args.layers or [] for name in item.split(",") if name]
    _check_output(args.output)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            path = write_report(
                args.log_dir,
                args.output,
                args.num_clusters,
                layers,
                args.half,
                args.recompute,
                args.title,
                not args.no_progress,
            )
        for warning in caught:  # one plain line each (a file left out), no source line
            print(f"warning: {warning.message}", file=sys.stderr)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    except OSError as error:
        raise SystemExit(f"error: cannot write {str(args.output)!r}: {error.strerror or error}") from None
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): open it in a browser, no server needed")
    return path
