"""The result and its file: Profiles, built from summed state, the groups, and the .npz format.

- :mod:`~lightning_gradnap.profiles.result`: :class:`Profiles`, :class:`LayerProfile`,
  :class:`FeatureViews`, and how group means become profiles (:func:`normalize_profiles`);
- :mod:`~lightning_gradnap.profiles.from_state`: profiles and feature views from summed state;
- :mod:`~lightning_gradnap.profiles.groups`: the groups' names, categories and features;
- :mod:`~lightning_gradnap.profiles.npz`: the ``.npz`` format, the one owner of its version, keys,
  file names and header reading; :mod:`~lightning_gradnap.profiles.store` writes and reads whole files.
"""

from lightning_gradnap.profiles.from_state import feature_views_from_state, profiles_from_state
from lightning_gradnap.profiles.groups import Groups, GroupSources
from lightning_gradnap.profiles.npz import (
    FORMAT_VERSION,
    Header,
    parse_file_name,
    profile_file_name,
    read_header,
)
from lightning_gradnap.profiles.result import (
    FeatureViews,
    LayerProfile,
    Profiles,
    group_means,
    normalize_profiles,
    window_mean,
)

__all__ = [
    "FORMAT_VERSION",
    "FeatureViews",
    "GroupSources",
    "Groups",
    "Header",
    "LayerProfile",
    "Profiles",
    "feature_views_from_state",
    "group_means",
    "normalize_profiles",
    "parse_file_name",
    "profile_file_name",
    "profiles_from_state",
    "read_header",
    "window_mean",
]
