"""The dashboard's routes as plain functions: query parameters in, a payload out.

The TensorBoard plugin serves them over HTTP; the offline report calls the same functions and
inlines their payloads, so both show the same numbers.

=============================================  ===========================================================
route and parameters                           payload
=============================================  ===========================================================
``runs``                                       JSON ``{"runs": [name, ...]}``
``run?run=``                                   JSON: methods, layers (name, neurons), groups, categories,
                                               steps (step, epoch, file, methods, layers, features), the
                                               feature-view shape, the last file's metadata
``matrix?run=&method=&layer=&step=``           binary: float32 little-endian ``[G, C]``, row-major, groups
                                               and neurons in the file's order, NaN = absent group
``order?run=&method=&layer=&step=&kind=``      JSON ``{"groups": [G], "neurons": [C], "source": str}``
``scale?run=&method=&layer=``                  JSON ``{"scale": float}``: the colour limit held for the run
``tree?run=&method=&layer=&step=``             JSON dendrogram: ``icoord``, ``dcoord``, ``leaves`` (groups)
``emergence?run=&method=``                     JSON scores per layer and step (see :meth:`Dashboard.emergence`)
``features?run=&step=&group=``                 binary: float32 ``[K, F, W]``: the group's mean input window
                                               minus the overall mean, and (K = 2) its ``x * dy/dx`` window
``topomap?run=&method=&layer=&step=``          JSON: the layer's saved map layout and each map pixel's neurons
                                               and weights (see :func:`~lightning_gradnap.dashboard.topomap.topomap`)
``errors?run=&method=&layer=&step=``           JSON: the most confused groups of a profiling split by
                                               correctness (:func:`~.errors.confused_groups`)
=============================================  ===========================================================

A file is identified by its step and its repeat: ``matrix``, ``order``, ``tree``, ``topomap``, ``errors`` and
``features`` take an optional ``repeat=`` (``validate-1``: ``validate()`` again at that step; none for the first
profiling at a step), and each of the run's ``steps`` says its ``repeat``. The run's ``skipped``
lists the files left out (``file``, ``step``, ``reason``): malformed, or refused before loading.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import ThreadpoolController

from lightning_gradnap.profiles.npz import MalformedFile

if TYPE_CHECKING:  # the data module (and the analysis with it) comes with the first Dashboard, not at start-up
    from lightning_gradnap.dashboard.data import Dashboard

__all__ = ["ROUTES", "Payload", "RouteError", "query_key", "respond"]

JSON = "application/json"
BINARY = "application/octet-stream"
#: Keys of the input-feature views (docs/METHOD.md §1.7) in a profile file; the weighted means are optional.
FEATURE_KEYS = ("feature_means", "feature_overall")


@dataclass(frozen=True)
class Payload:
    """A route's answer: ``body`` of type ``mimetype``."""

    body: bytes
    mimetype: str


class RouteError(Exception):
    """A request that cannot be answered; ``status`` is its HTTP status (400, 404, or 500 for an unreadable file)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(value: Any) -> Payload:
    return Payload(json.dumps(value, separators=(",", ":"), allow_nan=False).encode(), JSON)


def _binary(array: np.ndarray) -> Payload:
    return Payload(np.ascontiguousarray(array, dtype="<f4").tobytes(), BINARY)


def _text(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None:
        raise RouteError(400, f"query parameter {name!r} is required")
    return value


def _int(params: Mapping[str, str], name: str) -> int:
    value = _text(params, name)
    try:
        return int(value)
    except ValueError:
        raise RouteError(400, f"query parameter {name!r} should be an integer, got {value!r}") from None


def _repeat(params: Mapping[str, str]) -> str:
    """The optional ``repeat`` parameter: which profiling at the step (``"validate-1"``), ``""`` for the first."""
    return params.get("repeat", "")


def runs(dashboard: Dashboard, params: Mapping[str, str]) -> Payload:
    return _json({"runs": list(dashboard.runs(fresh=True))})


def run(dashboard: Dashboard, params: Mapping[str, str]) -> Payload:
    return _json(run_info(dashboard, _text(params, "run")))


def run_info(dashboard: Dashboard, name: str) -> dict[str, Any]:
    """What the pickers and the slider need to know about a run."""
    from lightning_gradnap.dashboard.data import ORDERINGS  # loaded with the dashboard already

    files = dashboard.files(name)
    skipped = dashboard.index.skipped(name)
    if not files:
        left_out = "".join(f"; skipped {error.name!r}: {error.reason}" for _, error in skipped)
        raise KeyError(f"run {name!r} has no readable profile files{left_out}")
    headers = [dashboard.header(file) for file in files]
    last = headers[-1]
    methods: list[str] = []
    layers: dict[str, int] = {}
    steps = []
    for file, header in zip(files, headers, strict=True):
        file_methods = dashboard.methods(header)
        methods += [m for m in file_methods if m not in methods]
        names = dashboard.layer_names(header)
        for layer in names:
            layers.setdefault(layer, header.shapes[dashboard.key(header, file_methods[0], "profile", layer)][1])
        has_features = all(key in header.keys for key in FEATURE_KEYS)
        steps.append(
            {
                "step": file.step,
                "epoch": file.epoch,
                "repeat": file.repeat,
                "file": file.path.name,
                "methods": file_methods,
                "layers": names,
                "features": has_features,
            }
        )
    with_features = [header for header in headers if all(key in header.keys for key in FEATURE_KEYS)]
    features = None
    if with_features:
        shape = with_features[-1].shapes["feature_means"]
        features = {
            "bins": shape[1],
            "window": shape[2],
            "weighted": "feature_weighted_means" in with_features[-1].keys,
        }
    return {
        "run": name,
        "methods": methods,
        "layers": [{"name": k, "neurons": v} for k, v in layers.items()],
        "groups": last.group_names,
        "categories": last.group_categories,
        "steps": steps,
        "features": features,
        "orderings": list(ORDERINGS),
        "metadata": _plain(last.metadata),
        "skipped": [{"file": error.name, "step": file.step, "reason": error.reason} for file, error in skipped],
    }


def matrix(dashboard: Dashboard, params: Mapping[str, str]) -> Payload:
    args = _text(params, "run"), _text(params, "method"), _text(params, "layer"), _int(params, "step")
    return _binary(dashboard.matrix(*args, _repeat(params)))


def order(dashboard: Dashboard, params: Mapping[str, str]) -> Payload:
    args = _text(params, "run"), _text(params, "method"), _text(params, "layer"), _int(params, "step")
    return _json(dashboard.order(*args, _text(params, "kind"), _repeat(params)))


def scale(dashboard: Dashboard, params: Mapping[str, str]) -> Payload:
    args = _text(params, "run"), _text(params, "method"), _text(params, "layer")
    return _json({"scale": dashboard.scale(*args)})


def tree(dashboard: Dashboard, params: Mapping[str, str]) -> Payload:
    args = _text(params, "run"), _text(params, "method"), _text(params, "layer"), _int(params, "step")
    return _json(dashboard.tree(*args, _repeat(params)))


def topomap(dashboard: Dashboard, params: Mapping[str, str]) -> Payload:
    args = _text(params, "run"), _text(params, "method"), _text(params, "layer"), _int(params, "step")
    from lightning_gradnap.dashboard.topomap import topomap as topomap_payload  # with its analysis, on first use

    return _json(topomap_payload(dashboard, *args, _repeat(params)))


def emergence(dashboard: Dashboard, params: Mapping[str, str]) -> Payload:
    return _json(dashboard.emergence(_text(params, "run"), _text(params, "method")))


def errors(dashboard: Dashboard, params: Mapping[str, str]) -> Payload:
    args = _text(params, "run"), _text(params, "method"), _text(params, "layer"), _int(params, "step")
    from lightning_gradnap.dashboard.errors import confused_groups  # with its analysis, on first use

    return _json(confused_groups(dashboard, *args, _repeat(params)))


def features(dashboard: Dashboard, params: Mapping[str, str]) -> Payload:
    name, step, group, repeat = _text(params, "run"), _int(params, "step"), _int(params, "group"), _repeat(params)
    file = next((f for f in dashboard.files(name) if (f.step, f.repeat) == (step, repeat)), None)
    if file is None:
        raise KeyError(f"run {name!r} has no profiling at step {step}" + (f" (repeat {repeat!r})" if repeat else ""))
    header = dashboard.header(file)
    if not all(key in header.keys for key in FEATURE_KEYS):
        raise KeyError(f"the profiling at step {step} has no input-feature views")
    if not 0 <= group < len(header.group_names):
        raise KeyError(f"group {group} is out of range 0 .. {len(header.group_names) - 1}")
    overall = dashboard.cache.array(file.path, "feature_overall")
    views = [dashboard.cache.array(file.path, "feature_means")[group] - overall]
    if "feature_weighted_means" in header.keys:
        views.append(dashboard.cache.array(file.path, "feature_weighted_means")[group])
    return _binary(np.stack(views))


ROUTES: dict[str, Callable[[Dashboard, Mapping[str, str]], Payload]] = {
    "runs": runs,
    "run": run,
    "matrix": matrix,
    "order": order,
    "scale": scale,
    "tree": tree,
    "emergence": emergence,
    "features": features,
    "topomap": topomap,
    "errors": errors,
}


def respond(dashboard: Dashboard, route: str, params: Mapping[str, str]) -> Payload:
    """The payload of ``route`` for ``params``.

    Raises:
        RouteError: 404 for an unknown route, run, method, layer, step or group (the message
            lists the known ones), 400 for a missing or malformed parameter or a file that is
            malformed or refused (too large, a zip bomb, a header that lies about its shape),
            500 for an unreadable file; each names the file, never a server path.
    """
    if route not in ROUTES:
        raise RouteError(404, f"no route {route!r}; routes: {list(ROUTES)}")
    try:
        with one_blas_thread():
            return ROUTES[route](dashboard, params)
    except KeyError as error:
        raise RouteError(404, _without_paths(dashboard, str(error.args[0]) if error.args else str(error))) from None
    except MalformedFile as error:
        raise RouteError(400, f"{error.name!r} {error.reason}") from None
    except ValueError as error:  # an unreadable file (names it)
        raise RouteError(500, _without_paths(dashboard, str(error))) from None


def _without_paths(dashboard: Dashboard, text: str) -> str:
    """``text`` with the log directory's path left out (file names relative to it)."""
    for root in {str(dashboard.root.resolve()), str(dashboard.root), os.path.abspath(dashboard.root)}:
        text = text.replace(root.rstrip(os.sep) + os.sep, "")
    return text


_threadpools: ThreadpoolController | None = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while a route computes: its matrices are small (groups x neurons), and
    threads that wait for busy cores cost more than they give. Measured on 2 shared cores under
    load: a 40 x 2,000 Gram matrix took 70 ms with OpenBLAS's 2 threads, 0.3 ms with one."""
    global _threadpools
    if _threadpools is None:
        _threadpools = ThreadpoolController()  # finds the loaded BLAS libraries once (~20 ms)
    with _threadpools.limit(limits=1, user_api="blas"):
        yield


def query_key(route: str, params: Mapping[str, str]) -> str:
    """The key of a request in the offline report; ``source.js`` builds the same string."""
    return json.dumps(
        [route, sorted((str(k), str(v)) for k, v in params.items())], separators=(",", ":"), ensure_ascii=False
    )


def _plain(value: Any) -> Any:
    """Metadata with non-finite numbers as None (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
