"""The front end's ES modules as one inline script, for the offline report.

A page opened from disk cannot import module files (browsers refuse ``file://`` module loads), so
the report inlines them: each module becomes a function that returns its exports, and each
``import { a, b as c } from "./x.js";`` becomes ``const { a, b: c } = modules["x.js"];``. This
handles exactly the forms the dashboard's modules use, and refuses any other, so a new form
fails here (and in the tests), not in a reader's browser.

The limits (a line-based rewrite, not a JavaScript parser; ``static/`` follows them; ``README.md``
beside this file sums them up):

- **Imports:** ``import { a, b as c } from "./x.js";`` only, whole on one line: named imports of a
  module in the same folder, double quotes, a semicolon. Refused: a default, namespace
  (``* as``) or bare (``import "./x.js";``) import, an import split over lines, ``../`` or a
  subfolder. Import a module twice to keep lines short. ``import(...)`` is left as it is (and
  fails from ``file://``).
- **Exports:** ``export function``, ``export async function``, ``export function*``,
  ``export class``, ``export const`` and ``export let``, at the start of a line, one name each.
  Refused: ``export default``, ``export { ... }``, ``export * from``, ``export var``,
  ``export const { a } = ...``. Not detected: ``export const a = 1, b = 2;`` exports only ``a``.
- **Any line** that starts (after spaces) with the word ``import`` or ``export`` is checked, in a
  template string too; comments starting ``//`` or `` *`` are not.
- **Semantics:** each module runs once, in import order, inside an arrow function: no top-level
  ``await``, and an importer sees the exports' values when their module finished (no live
  bindings: reassigning an ``export let`` later is not seen). Import cycles are refused.
- **Reach:** only modules that ``index.js`` imports, directly or not, are in the report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["bundle"]

IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"\./([\w.-]+\.js)";[ \t]*$', re.M)
EXPORT = re.compile(r"^export\s+(?:async\s+)?(?:function\*?|class|const|let)\s+(\w+)", re.M)
#: Lines of module syntax: each must be one of the two forms above.
MODULE_SYNTAX = re.compile(r"^[ \t]*(?:import\b(?!\s*\()|export\b).*$", re.M)


def bundle(folder: Path, entry: str = "index.js") -> str:
    """JavaScript that defines ``modules`` (file name -> exports) for ``entry`` and its imports.

    Raises:
        ValueError: for an import or export form this bundler does not handle, an import of a
            missing file, or an import cycle.
    """
    order: list[str] = []
    _visit(folder, entry, order, [])
    parts = ["const modules = {};"]
    for name in order:
        source = (folder / name).read_text(encoding="utf-8")
        for line in MODULE_SYNTAX.findall(source):
            if not (IMPORT.match(line) or EXPORT.match(line)):
                raise ValueError(
                    f'{name}: the report\'s bundler handles `import {{ ... }} from "./x.js";` and '
                    f"`export function/class/const/let`, not {line.strip()!r}"
                )
        exports = EXPORT.findall(source)
        body = IMPORT.sub(lambda match: _destructure(match[1], match[2]), source)
        body = re.sub(r"^export\s+", "", body, flags=re.M)
        key = json.dumps(name)
        parts.append(f"modules[{key}] = (() => {{\n{body}\nreturn {{ {', '.join(exports)} }};\n}})();")
    return "\n".join(parts).replace("</script", "<\\/script")


def _destructure(names: str, module: str) -> str:
    pairs = [re.sub(r"\s+as\s+", ": ", name.strip()) for name in names.split(",") if name.strip()]
    return f"const {{ {', '.join(pairs)} }} = modules[{json.dumps(module)}];"


def _visit(folder: Path, name: str, order: list[str], path: list[str]) -> None:
    """Depth-first: a module comes after everything it imports."""
    if name in order:
        return
    if name in path:
        raise ValueError(f"import cycle: {' -> '.join([*path, name])}")
    file = folder / name
    if not file.is_file():
        raise ValueError(f"{path[-1] if path else 'the report'} imports {name!r}, which is not in {str(folder)!r}")
    for match in IMPORT.finditer(file.read_text(encoding="utf-8")):
        _visit(folder, match[2], order, [*path, name])
    order.append(name)
