"""A package's names imported from their modules on first use (PEP 562), so that importing the package stays light.

Used by ``lightning_gradnap`` (whose import must not pull in torch, lightning or matplotlib: TensorBoard
loads the dashboard plugin through it at start-up) and by ``lightning_gradnap.profiles`` (reading a file's
header must not import torch).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, modules: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose globals are ``namespace``.

    Args:
        package: The package's ``__name__``.
        modules: Each name it offers and the module that holds it (absolute, or relative to ``package``
            when it starts with a dot).
        namespace: The package's ``globals()``: a name, once imported, is kept there, so that
            ``__getattr__`` runs once per name.
    """

    def __getattr__(name: str) -> Any:
        """Imports ``name`` from its module on first use and keeps it in the package.

        Raises:
            AttributeError: ``name`` is not one the package offers (nor a submodule).
        """
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *modules})

    return __getattr__, __dir__
