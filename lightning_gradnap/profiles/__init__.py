"""The result and its file: Profiles, built from summed state, the groups, and the .npz format.

- :mod:`~lightning_gradnap.profiles.result`: :class:`Profiles`, :class:`LayerProfile`,
  :class:`FeatureViews`, and how group means become profiles (:func:`normalize_profiles`);
- :mod:`~lightning_gradnap.profiles.from_state`: profiles and feature views from summed state;
- :mod:`~lightning_gradnap.profiles.groups`: the groups' names, categories and features;
- :mod:`~lightning_gradnap.profiles.npz`: the ``.npz`` format, the one owner of its version, keys,
  file names and header reading; :mod:`~lightning_gradnap.profiles.store` writes and reads whole files.

Each name is imported from its module on first use (PEP 562), so that reading a file's header or
name (:mod:`~lightning_gradnap.profiles.npz`, numpy only: the dashboard at TensorBoard's start-up)
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time, __getattr__ imports these on first use
    from lightning_gradnap.profiles.from_state import feature_views_from_state, profiles_from_state
    from lightning_gradnap.profiles.groups import Groups, GroupSources
    from lightning_gradnap.profiles.npz import FORMAT_VERSION, Header, parse_file_name, profile_file_name, read_header
    from lightning_gradnap.profiles.result import (
        FeatureViews,
        LayerProfile,
        Profiles,
        group_means,
        normalize_profiles,
        window_mean,
    )

#: Each name this package offers and the module that holds it.
_NAME_MODULES = {
    "FORMAT_VERSION": "npz",
    "FeatureViews": "result",
    "GroupSources": "groups",
    "Groups": "groups",
    "Header": "npz",
    "LayerProfile": "result",
    "Profiles": "result",
    "feature_views_from_state": "from_state",
    "group_means": "result",
    "normalize_profiles": "result",
    "parse_file_name": "npz",
    "profile_file_name": "npz",
    "profiles_from_state": "from_state",
    "read_header": "npz",
    "window_mean": "result",
}

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
]  # the keys of _NAME_MODULES (tests/test_imports.py checks)


if not TYPE_CHECKING:  # hidden from type checkers, so that a misspelt name is still an error there

    def __getattr__(name: str) -> Any:
        """Imports one of :data:`__all__` from its module on first use and keeps it here (PEP 562).

        Raises:
            AttributeError: ``name`` is not one of :data:`__all__` (nor a submodule).
        """
        module = _NAME_MODULES.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
