"""Callback arguments given as text in YAML: a function named by its dotted path."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["resolve_callable"]


def resolve_callable(value: Callable[..., Any] | str | None, name: str) -> Callable[..., Any] | None:
    """``value`` itself if callable (or None), else the object its dotted path names.

    ``"package.module.function"`` (or ``"package.module.Class.method"``) is imported at once, so
    that a mistyped path fails when the callback is made, not at the first validation.

    Raises:
        ValueError: if ``value`` is neither callable nor the dotted path of a callable (says why).
    """
    if value is None or callable(value):
        return value
    example = f"e.g. {name}='my_package.heads.scores' for def scores(output): return output['scores']"
    if not isinstance(value, str) or "." not in value.strip("."):
        raise ValueError(f"`{name}` should be a callable or its dotted path, {example}; got {value!r}")
    parts = value.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            found: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute, None)
        if callable(found):
            return found
        raise ValueError(
            f"`{name}`={value!r}: module {module_name!r} (the longest part that imports) has no callable "
            f"{'.'.join(parts[split:])!r}; {example}"
        )
    raise ValueError(
        f"`{name}`={value!r}: no module of that path can be imported (is its package installed, or on "
        f"sys.path?); {example}"
    )
