"""The GradNAP dashboard: an interactive TensorBoard tab and the same page as an offline HTML report.

- :mod:`~lightning_gradnap.dashboard.files`: runs, profile files and their arrays (cached by mtime);
- :mod:`~lightning_gradnap.dashboard.data`: matrices, orderings, trees and scores (the one place
  orderings come from: saved in the files, else :mod:`lightning_gradnap.analysis.profile_analysis`);
- :mod:`~lightning_gradnap.dashboard.routes`: the routes' payloads (JSON, float32 arrays);
- :mod:`~lightning_gradnap.dashboard.plugin`: the TensorBoard plugin (``tensorboard_plugins`` entry point);
- :mod:`~lightning_gradnap.dashboard.report`: ``python -m lightning_gradnap report`` (one HTML file);
- ``static/``: the front end, plain ES modules with no build step.

The plugin module imports TensorBoard; nothing here imports ``lightning``. TensorBoard imports
the plugin at start-up: nothing on that path imports torch, matplotlib or the analysis
(:class:`Dashboard` is imported on first use, here and in the plugin).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightning_gradnap.dashboard.data import Dashboard

__all__ = ["Dashboard"]


if not TYPE_CHECKING:  # hidden from type checkers, so that a misspelt name is still an error there

    def __getattr__(name: str) -> Any:
        """Imports :class:`Dashboard` on first use (PEP 562).

        Raises:
            AttributeError: ``name`` is not ``Dashboard`` (nor a submodule).
        """
        if name == "Dashboard":
            from lightning_gradnap.dashboard.data import Dashboard

            return Dashboard
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
