"""The GradNAP tab of TensorBoard: a small ``TBPlugin`` over :mod:`~lightning_gradnap.dashboard.routes`.

It reads the runs' ``profiles/*.npz`` files from the log directory on demand (nothing goes into
the event files) and serves the plain ES-module front end in ``static/``. Installed with the
package through the ``tensorboard_plugins`` entry point; or, by hand::

    from tensorboard import default, program
    from lightning_gradnap.dashboard.plugin import GradNAPLoader

    board = program.TensorBoard(plugins=[*default.get_plugins(), GradNAPLoader])

TensorBoard imports and loads every plugin at start-up: this module, the loader and the plugin's
construction import neither torch nor matplotlib nor the analysis. The :class:`Dashboard` (and with
it numpy's and scipy's analysis and the profile classes) is made when the first route asks for it.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tensorboard.plugins import base_plugin
from werkzeug import Request, Response

from lightning_gradnap.dashboard.files import has_runs
from lightning_gradnap.dashboard.routes import ROUTES, RouteError, respond

if TYPE_CHECKING:
    from lightning_gradnap.dashboard.data import Dashboard

__all__ = ["STATIC", "GradNAPLoader", "GradNAPPlugin"]

STATIC = Path(__file__).parent / "static"
#: An inactive log directory is searched again after this many seconds (a run may start writing).
RECHECK_SECONDS = 10.0
#: TensorBoard asks every plugin response for this header.
HEADERS = {"X-Content-Type-Options": "nosniff"}
logger = logging.getLogger(__name__)


class GradNAPPlugin(base_plugin.TBPlugin):
    """Serves the dashboard's routes under ``/data/plugin/gradnap/``.

    Args:
        context: TensorBoard's ``TBContext``; only its ``logdir`` is used (a local folder).
    """

    plugin_name = "gradnap"

    def __init__(self, context: base_plugin.TBContext) -> None:
        super().__init__(context)
        self.logdir = context.logdir or ""
        self._dashboard: Dashboard | None = None
        self._dashboard_lock = threading.Lock()  # TensorBoard serves requests from several threads
        self._active = False
        self._checked_at = -float("inf")

    @property
    def dashboard(self) -> Dashboard | None:
        """The log directory's :class:`Dashboard`, made on first use; None without a ``--logdir``."""
        if self._dashboard is None and self.logdir:
            with self._dashboard_lock:
                if self._dashboard is None:
                    from lightning_gradnap.dashboard.data import Dashboard  # the first route pays for it

                    self._dashboard = Dashboard(self.logdir)
        return self._dashboard

    def get_plugin_apps(self) -> dict[str, Callable]:
        apps: dict[str, Callable] = {f"/{route}": self._route_app(route) for route in ROUTES}
        # Each front-end file at the top level, so that the modules' "./heatmap.js" imports resolve.
        apps.update({f"/{path.name}": _serve_static for path in STATIC.iterdir() if path.is_file()})
        return apps

    def is_active(self) -> bool:
        """True once any run in the log directory has a profile file (then it stays active)."""
        if not self._active and self.logdir and time.monotonic() - self._checked_at > RECHECK_SECONDS:
            self._checked_at = time.monotonic()
            self._active = has_runs(self.logdir)
        return self._active

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="GradNAP")

    def _route_app(self, route: str) -> Callable:
        @Request.application
        def app(request: Request) -> Response:
            dashboard = self.dashboard
            if dashboard is None:
                return _error(404, "TensorBoard has no local --logdir: the GradNAP tab reads profile files from it")
            try:
                payload = respond(dashboard, route, request.args)
            except RouteError as error:
                if error.status == 500:
                    logger.warning("GradNAP dashboard: %s", error)
                return _error(error.status, str(error))
            except OSError as error:  # a file removed meanwhile
                logger.warning("GradNAP dashboard: %s", error)
                return _error(500, f"a profile file could not be read ({error.strerror or type(error).__name__})")
            return Response(
                payload.body, content_type=payload.mimetype, headers={**HEADERS, "Cache-Control": "no-cache"}
            )

        return app


class GradNAPLoader(base_plugin.TBLoader):
    """Loads :class:`GradNAPPlugin` (the ``tensorboard_plugins`` entry point names this class)."""

    def load(self, context: base_plugin.TBContext) -> GradNAPPlugin:
        return GradNAPPlugin(context)


@Request.application
def _serve_static(request: Request) -> Response:
    name = request.path.rsplit("/", 1)[-1]
    path = STATIC / name  # only names routed in get_plugin_apps arrive here
    if not path.is_file():
        return _error(404, f"no static file {name!r}")
    content_type = "text/javascript" if name.endswith(".js") else mimetypes.guess_type(name)[0] or "text/plain"
    return Response(path.read_bytes(), content_type=f"{content_type}; charset=utf-8", headers=HEADERS)


def _error(status: int, message: str) -> Response:
    return Response(message, status=status, content_type="text/plain; charset=utf-8", headers=HEADERS)
