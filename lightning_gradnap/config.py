"""Options: the values the engine allows, and callback arguments given as text in YAML (a function
named by its dotted path)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["LABEL_LEVELS", "METHODS", "WINDOW_CENTRES", "check_engine_options", "resolve_callable"]

METHODS = ("gradnap", "nap")
LABEL_LEVELS = ("frame", "utterance")
WINDOW_CENTRES = ("segment", "salient")


def check_engine_options(
    num_groups: int,
    methods: list[str],
    label_level: str,
    window: int | None,
    window_center: str,
    input_window: int | None,
) -> None:
    """Raise a ``ValueError`` that says what is allowed, for an option out of its range."""
    if not methods or len(set(methods)) != len(methods):
        raise ValueError(f"`method` should name each of {list(METHODS)} at most once, got {methods!r}")
    for name, value, allowed in (
        *(("method", m, METHODS) for m in methods),
        ("label_level", label_level, LABEL_LEVELS),
        ("window_center", window_center, WINDOW_CENTRES),
    ):
        if value not in allowed:
            raise ValueError(f"`{name}` should be one of {list(allowed)}, got {value!r}")
    if num_groups < 1:
        raise ValueError(f"`num_groups` must be at least 1, got {num_groups}")
    if window is not None and (window < 1 or label_level != "frame"):
        raise ValueError("`window` must be a positive number of frames, with label_level='frame'")
    if input_window is not None and (input_window < 1 or label_level != "frame"):
        raise ValueError("`input_window` must be a positive number of frames, with label_level='frame'")
    if window_center == "salient" and "gradnap" not in methods:
        raise ValueError("window_center='salient' needs gradients: use method='gradnap'")


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
