"""Options to and from plain values: an options object as a dict, a dotted path as the callable it names."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightning_gradnap.config.engine import EngineOptions
    from lightning_gradnap.config.stages import AnalysisOptions, ViewOptions


def as_plain_dict(options: EngineOptions | AnalysisOptions | ViewOptions) -> dict[str, Any]:
    """The fields of ``options`` by name (shallow: callables stay themselves)."""
    return {field.name: getattr(options, field.name) for field in fields(options)}


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
