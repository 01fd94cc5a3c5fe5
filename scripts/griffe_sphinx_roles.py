"""A griffe extension (mkdocs.yml, mkdocstrings' ``extensions``): the docstrings' Sphinx roles as code.

The docstrings name other objects as Sphinx does (``:class:`~lightning_gradnap.config.EngineOptions```),
which Markdown would show as ``:class:`` followed by code. This writes each role as code of the name
(the last part of the dotted path where it starts with ``~``, as Sphinx shows it), before mkdocstrings
renders the docstring. The docstrings themselves stay as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:attr|class|data|exc|func|meth|mod|obj):`(~?)([^`]+)`")


def plain(text: str) -> str:
    """``text`` with every Sphinx role written as code of the name it shows."""

    def code(match: re.Match[str]) -> str:
        shortened, path = match.group(1), match.group(2)
        return f"`{path.rsplit('.', 1)[-1] if shortened else path}`"

    return ROLE.sub(code, text)


class SphinxRoles(griffe.Extension):
    """Rewrites the roles of each object's docstring once it is loaded."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
