"""Small profiles for the views' edge cases (one channel, one or two present groups), and the
warnings the views give when one of them cannot be drawn."""

from __future__ import annotations

import warnings

import numpy as np

from lightning_gradnap import FeatureViews, LayerProfile, Profiles
from lightning_gradnap.profiles.result import normalize_profiles
from tests.helpers.callback import CATEGORIES, GROUPS


def view_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "view of" in str(w.message)]


def small_profiles(channels: int, present: int) -> tuple[Profiles, FeatureViews]:
    rng = np.random.default_rng(0)
    counts = np.zeros(len(GROUPS))
    counts[:present] = 5
    layers = {}
    for name in ("a", "b"):
        means = rng.normal(size=(len(GROUPS), channels))
        means[counts == 0] = np.nan
        layers[name] = LayerProfile(normalize_profiles(means, counts), means, counts)
    features = FeatureViews(rng.normal(size=(4, 3, 5)), rng.normal(size=(4, 3, 5)), counts, rng.normal(size=(3, 5)))
    return Profiles(layers, GROUPS, CATEGORIES, {"method": "gradnap"}), features
