"""Gradient-adjusted Neuron Activation Profiles (GradNAPs) and NAPs for PyTorch and Lightning.

The core (recording, profiles, analysis, plots) needs no Trainer and never imports ``lightning``;
the Lightning callback (:class:`GradNAPCallback`) is a thin adapter over it. The subpackages follow
one profiling down the data path, each importing only those below it: ``callback``, ``summary``,
``figures``, ``analysis``, ``engine``, ``recording``, ``profiles`` (and ``dashboard``, which reads
the files through ``profiles``); each one's ``__init__`` names what it offers.
"""

from importlib.metadata import PackageNotFoundError, version

from lightning_gradnap.analysis.profile_analysis import analyze
from lightning_gradnap.analysis.tracking import OrderTracker, track_orderings
from lightning_gradnap.api import compute_profiles
from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.profiles.result import FeatureViews, LayerProfile, Profiles
from lightning_gradnap.recording.batch import ProfileBatch
from lightning_gradnap.recording.frame_maps import FrameMap
from lightning_gradnap.recording.objectives import OBJECTIVES, ObjectiveInputs
from lightning_gradnap.summary.views import write_views

__all__ = [
    "OBJECTIVES",
    "FeatureViews",
    "FrameMap",
    "GradNAPCallback",
    "LayerProfile",
    "ObjectiveInputs",
    "OrderTracker",
    "ProfileBatch",
    "ProfileEngine",
    "Profiles",
    "analyze",
    "compute_profiles",
    "track_orderings",
    "write_views",
]

try:
    __version__ = version("lightning-gradnap")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"


def __getattr__(name: str):
    # The callback is imported on first use, so that the core never imports ``lightning``.
    if name == "GradNAPCallback":
        from lightning_gradnap.callback.gradnap import GradNAPCallback

        return GradNAPCallback
    raise AttributeError(f"module 'lightning_gradnap' has no attribute {name!r}")
