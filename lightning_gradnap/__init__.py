"""Gradient-adjusted Neuron Activation Profiles (GradNAPs) and NAPs for PyTorch and Lightning.

The core (recording, profiles, analysis, plots) needs no Trainer; the Lightning callback is a
thin adapter over it.
"""

from lightning_gradnap.api import compute_profiles
from lightning_gradnap.batch import ProfileBatch
from lightning_gradnap.engine import ProfileEngine
from lightning_gradnap.objectives import OBJECTIVES, ObjectiveInputs
from lightning_gradnap.profiles import LayerProfile, Profiles
from lightning_gradnap.recording import ActivationRecorder

__all__ = [
    "OBJECTIVES",
    "ActivationRecorder",
    "LayerProfile",
    "ObjectiveInputs",
    "ProfileBatch",
    "ProfileEngine",
    "Profiles",
    "compute_profiles",
]

__version__ = "0.1.0"
