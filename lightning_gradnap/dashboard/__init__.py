"""The GradNAP dashboard: an interactive TensorBoard tab and the same page as an offline HTML report.

- :mod:`~lightning_gradnap.dashboard.files`: runs, profile files and their arrays (cached by mtime);
- :mod:`~lightning_gradnap.dashboard.data`: matrices, orderings, trees and scores (the one place
  orderings come from: saved in the files, else :mod:`lightning_gradnap.analysis.profile_analysis`);
- :mod:`~lightning_gradnap.dashboard.routes`: the routes' payloads (JSON, float32 arrays);
- :mod:`~lightning_gradnap.dashboard.plugin`: the TensorBoard plugin (``tensorboard_plugins`` entry point);
- :mod:`~lightning_gradnap.dashboard.report`: ``python -m lightning_gradnap report`` (one HTML file);
- ``static/``: the front end, plain ES modules with no build step.

The plugin module imports TensorBoard; nothing here imports ``lightning``.
"""

from lightning_gradnap.dashboard.data import Dashboard

__all__ = ["Dashboard"]
