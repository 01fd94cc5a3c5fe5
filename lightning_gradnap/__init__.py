"""Gradient-adjusted Neuron Activation Profiles (GradNAPs) and NAPs for PyTorch and Lightning.

The core (recording, profiles, analysis, plots) needs no Trainer and never imports ``lightning``;
the Lightning callback (:class:`GradNAPCallback`) is a thin adapter over it. The subpackages follow
one profiling down the data path, each importing only those below it: ``callback``, ``summary``,
``figures``, ``analysis``, ``engine``, ``recording``, ``profiles`` (and ``dashboard``, which reads
the files through ``profiles``); each one's ``__init__`` names what it offers.

Importing this package imports nothing heavy: each public name is imported from its module on
first use (PEP 562), so ``import lightning_gradnap`` (and TensorBoard, which loads the dashboard
plugin at start-up) pays for torch, lightning and matplotlib only when they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: The release; the one source of the version (pyproject.toml reads it with ``attr``, without importing).
__version__ = "0.2.0"

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time, __getattr__ imports these on first use
    from lightning_gradnap.analysis.profile_analysis import analyze
    from lightning_gradnap.analysis.tracking import OrderTracker, track_orderings
    from lightning_gradnap.api import compute_profiles
    from lightning_gradnap.callback.gradnap import GradNAPCallback
    from lightning_gradnap.engine.engine import ProfileEngine
    from lightning_gradnap.profiles.result import FeatureViews, LayerProfile, Profiles
    from lightning_gradnap.recording.batch import ProfileBatch
    from lightning_gradnap.recording.frame_maps import FrameMap
    from lightning_gradnap.recording.objectives import OBJECTIVES, ObjectiveInputs
    from lightning_gradnap.summary.views import write_views

#: Each public name and the module that holds it (the callback's imports ``lightning``; the rest do not).
_PUBLIC_MODULES = {
    "OBJECTIVES": "lightning_gradnap.recording.objectives",
    "FeatureViews": "lightning_gradnap.profiles.result",
    "FrameMap": "lightning_gradnap.recording.frame_maps",
    "GradNAPCallback": "lightning_gradnap.callback.gradnap",
    "LayerProfile": "lightning_gradnap.profiles.result",
    "ObjectiveInputs": "lightning_gradnap.recording.objectives",
    "OrderTracker": "lightning_gradnap.analysis.tracking",
    "ProfileBatch": "lightning_gradnap.recording.batch",
    "ProfileEngine": "lightning_gradnap.engine.engine",
    "Profiles": "lightning_gradnap.profiles.result",
    "analyze": "lightning_gradnap.analysis.profile_analysis",
    "compute_profiles": "lightning_gradnap.api",
    "track_orderings": "lightning_gradnap.analysis.tracking",
    "write_views": "lightning_gradnap.summary.views",
}

__all__ = [
    "FeatureViews",
    "FrameMap",
    "GradNAPCallback",
    "LayerProfile",
    "OBJECTIVES",
    "ObjectiveInputs",
    "OrderTracker",
    "ProfileBatch",
    "ProfileEngine",
    "Profiles",
    "analyze",
    "compute_profiles",
    "track_orderings",
    "write_views",
]  # the keys of _PUBLIC_MODULES (tests/test_imports.py checks)


if not TYPE_CHECKING:  # hidden from type checkers, so that a misspelt name is still an error there

    def __getattr__(name: str) -> Any:
        """Imports a public name from its module on first use and keeps it here (PEP 562).

        Raises:
            AttributeError: ``name`` is not one of :data:`__all__` (nor a submodule).
        """
        module = _PUBLIC_MODULES.get(name)
        if module is None:
            raise AttributeError(f"module 'lightning_gradnap' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
