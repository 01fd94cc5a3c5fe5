"""Import rules, read from the source with ``ast``: imports point one way, down the data path; and
what the top level and each subpackage offer.

The stages of one profiling, from the top (the Lightning side) down: each may import only the
stages below it (its right in :data:`LAYERS`) and itself. ``dashboard`` reads files: it may import
``profiles`` and ``analysis`` only. The package's top level (``lightning_gradnap/__init__.py``,
``__main__.py`` and the ``pytorch_lightning.py`` shim) is the facade over all of them.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGE = "lightning_gradnap"
#: The stages, top to bottom: each may import only those to its right.
LAYERS = ("callback", "api", "summary", "figures", "analysis", "engine", "recording", "profiles", "config")
#: Stages outside the line, and what each may import besides itself.
SIDE_STAGES = {"dashboard": {"profiles", "analysis"}}
#: The facade: the top-level modules, which may import every stage (named explicitly, the only exceptions).
FACADE = {PACKAGE, f"{PACKAGE}.__main__", f"{PACKAGE}.pytorch_lightning"}
#: Third-party packages, by top-level name, and the only stages that may import them.
ONLY_IN = {
    "lightning": {"callback"},
    "pytorch_lightning": {"callback"},
    "example_asr": set(),
}
#: Third-party packages a stage must never import (analysis is numbers only; figures never write summaries).
NEVER_IN = {
    "analysis": {"matplotlib", "tensorboard", "tensorboardX", "torch.utils.tensorboard"},
    "figures": {"tensorboard", "tensorboardX", "torch.utils.tensorboard"},
}

#: What a ``SummaryWriter`` is used through (figures return figures; the summary logs them).
WRITER_CALLS = {"SummaryWriter", "add_image", "add_figure", "add_scalar", "add_embedding", "add_custom_scalars"}


@dataclass(frozen=True)
class Import:
    """One imported name: who imports it, the module it comes from, and how."""

    importer: str  # dotted module name of the importing file
    module: str  # the imported module (for ``from a import b``: ``a.b`` when that is a module, else ``a``)
    line: int
    top_level: bool  # at module level (not inside a function or class), so it runs on import
    type_only: bool  # under ``if TYPE_CHECKING:``


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _resolve(importer: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(importer: str, path: Path) -> Iterator[Import]:
    """Every import in one file, with where it sits."""

    def visit(node: ast.AST, top_level: bool, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(importer, alias.name, child.lineno, top_level, type_only)
            elif isinstance(child, ast.ImportFrom):
                source = _resolve(importer, path, child)
                for alias in child.names:
                    submodule = f"{source}.{alias.name}"
                    yield Import(
                        importer, submodule if submodule in MODULES else source, child.lineno, top_level, type_only
                    )
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                yield from visit(child, top_level, True)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                yield from visit(child, False, type_only)
            else:
                yield from visit(child, top_level, type_only)

    yield from visit(ast.parse(path.read_text(), str(path)), True, False)


IMPORTS = [found for importer, path in MODULES.items() for found in imports_of(importer, path)]


def stage(module: str) -> str | None:
    """The stage of one of the package's modules (``lightning_gradnap.engine.folds.frame`` -> ``engine``)."""
    if module in FACADE or not module.startswith(f"{PACKAGE}."):
        return None
    return module.split(".")[1]


def allowed(importer_stage: str, imported_stage: str) -> bool:
    if importer_stage == imported_stage:
        return True
    if importer_stage in SIDE_STAGES:
        return imported_stage in SIDE_STAGES[importer_stage]
    if importer_stage not in LAYERS or imported_stage not in LAYERS:
        return False
    return LAYERS.index(imported_stage) > LAYERS.index(importer_stage)


def where(found: Import) -> str:
    return f"{MODULES[found.importer].relative_to(ROOT)}:{found.line} imports {found.module}"


def test_every_module_has_a_stage() -> None:
    stages = set(LAYERS) | set(SIDE_STAGES)
    unplaced = [name for name in MODULES if name not in FACADE and stage(name) not in stages]
    assert not unplaced, f"modules outside every stage (add them to LAYERS or SIDE_STAGES): {unplaced}"


def test_imports_point_down_the_data_path() -> None:
    against = [
        where(found)
        for found in IMPORTS
        if found.importer not in FACADE
        and found.module.startswith(f"{PACKAGE}.")
        and found.module not in FACADE
        and not allowed(stage(found.importer), stage(found.module))
    ]
    assert not against, "imports of a stage above (or beside) the importer:\n" + "\n".join(against)
    facade_imports = [where(found) for found in IMPORTS if found.module in FACADE and found.importer not in FACADE]
    assert not facade_imports, "the stages must not import the top level:\n" + "\n".join(facade_imports)


@pytest.mark.parametrize("package", sorted(ONLY_IN))
def test_third_party_packages_only_where_allowed(package: str) -> None:
    found = [
        where(item)
        for item in IMPORTS
        if item.module.split(".")[0] == package
        and item.importer not in FACADE
        and stage(item.importer) not in ONLY_IN[package]
    ]
    assert not found, f"only {sorted(ONLY_IN[package]) or 'no module'} may import {package}:\n" + "\n".join(found)


@pytest.mark.parametrize("stage_name", sorted(NEVER_IN))
def test_stages_keep_off_what_they_must_not_import(stage_name: str) -> None:
    banned = NEVER_IN[stage_name]
    found = [
        where(item)
        for item in IMPORTS
        if stage(item.importer) == stage_name
        and any(item.module == name or item.module.startswith(f"{name}.") for name in banned)
    ]
    assert not found, f"{stage_name} must not import {sorted(banned)}:\n" + "\n".join(found)
    if stage_name == "figures":
        writers = [
            str(MODULES[name].relative_to(ROOT)) for name in MODULES if stage(name) == "figures" and _names_writer(name)
        ]
        assert not writers, f"figures must not use a SummaryWriter: {writers}"


def _names_writer(module: str) -> bool:
    """Whether a module's code (not its text) names ``SummaryWriter`` or calls a writer's methods."""
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Name) and node.id == "SummaryWriter":
            return True
        if isinstance(node, ast.Attribute) and node.attr in WRITER_CALLS:
            return True
        if isinstance(node, ast.alias) and node.name.split(".")[-1] == "SummaryWriter":
            return True
    return False


def test_no_import_cycles_between_modules() -> None:
    """Imports that run (at module level, or inside a function when it is called; not those under
    ``TYPE_CHECKING``) form no cycle. Importing a module of another package also runs that package's
    ``__init__``."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for found in IMPORTS:
        if found.type_only or found.module not in MODULES or found.importer in FACADE:
            continue
        graph[found.importer].add(found.module)
        parts = found.module.split(".")
        for depth in range(2, len(parts)):  # the packages above it, up to (not with) the top level
            package = ".".join(parts[:depth])
            if package in MODULES and not (found.importer + ".").startswith(f"{package}."):
                graph[found.importer].add(package)
    graph = {name: {target for target in targets if target not in FACADE} for name, targets in graph.items()}
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_rules_catch_what_they_forbid() -> None:
    """The checks above are not vacuous: a few imports they must reject, and the cycle finder."""
    assert not allowed("analysis", "summary") and not allowed("profiles", "engine")
    assert not allowed("dashboard", "summary") and not allowed("engine", "dashboard")
    assert allowed("summary", "analysis") and allowed("callback", "profiles") and allowed("dashboard", "profiles")
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    found = {(item.importer, item.module, item.type_only) for item in IMPORTS}
    assert (f"{PACKAGE}.profiles.store", f"{PACKAGE}.profiles.result", True) in found  # TYPE_CHECKING seen
    assert (f"{PACKAGE}.callback.gradnap", "lightning", False) in found  # third-party imports seen
    lazy = [item for item in IMPORTS if item.importer == PACKAGE and item.module == f"{PACKAGE}.callback.gradnap"]
    assert lazy and all(item.type_only for item in lazy)  # the callback is imported on first use
    # Every public name is imported on first use (PEP 562): at run time the top level imports no stage.
    eager = [where(item) for item in IMPORTS if item.importer == PACKAGE and item.top_level and not item.type_only]
    assert not any(f"imports {PACKAGE}." in line for line in eager), eager


# ------------------------------------------------------------------ what the packages offer
PUBLIC = {
    "GradNAPCallback",
    "compute_profiles",
    "Profiles",
    "LayerProfile",
    "FeatureViews",
    "ProfileBatch",
    "ProfileEngine",
    "FrameMap",
    "OBJECTIVES",
    "ObjectiveInputs",
    "analyze",
    "OrderTracker",
    "track_orderings",
    "write_views",
}
#: Internal names that left the top level, and the module each is imported from now.
MOVED = {
    "BatchReader": "lightning_gradnap.recording.batch",
    "ActivationRecorder": "lightning_gradnap.recording.hooks",
    "write_tensorboard": "lightning_gradnap.summary.step_views",
}


def test_the_top_level_offers_the_public_api_and_its_version() -> None:
    import lightning_gradnap

    assert set(lightning_gradnap.__all__) == PUBLIC == set(lightning_gradnap._PUBLIC_MODULES)
    for name in PUBLIC:
        assert getattr(lightning_gradnap, name) is not None, name
    assert lightning_gradnap.GradNAPCallback.__module__ == "lightning_gradnap.callback.gradnap"
    assert lightning_gradnap.__version__ == importlib.metadata.version("lightning-gradnap"), (
        "the installed metadata is not this source's version: reinstall the project"
        " (pip install --no-deps --no-build-isolation -e .; scripts/env.sh does when pyproject.toml changes)"
    )
    for name, module in MOVED.items():
        assert not hasattr(lightning_gradnap, name), f"{name} is internal: import it from {module}"
        assert hasattr(importlib.import_module(module), name)


def test_each_subpackage_names_what_it_offers() -> None:
    packages = [name for name, path in MODULES.items() if path.name == "__init__.py" and name != PACKAGE]
    assert {stage(name) for name in packages} >= set(LAYERS) - {"api", "config"} | set(SIDE_STAGES)
    for name in packages:
        package = importlib.import_module(name)
        assert package.__doc__ and package.__all__, f"{name} names nothing in __all__"
        lazy = getattr(package, "_NAME_MODULES", None)  # a package that imports its names on first use
        assert lazy is None or set(lazy) == set(package.__all__), f"{name}: __all__ and _NAME_MODULES differ"
        missing = [item for item in package.__all__ if not hasattr(package, item)]
        assert not missing, f"{name}.__all__ names {missing}, which it does not hold"


def test_the_docs_say_where_moved_names_are_now() -> None:
    """Every path in the "now" column of the table of moved import paths (docs/layout.md) resolves."""
    page = (ROOT / "docs" / "layout.md").read_text()
    table = page.split("## Import paths that moved with the subpackages", 1)[1].split("\n\n", 2)[2]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) >= len(MOVED), "the table of moved import paths is missing"
    for row in rows:
        before, now = row.strip("|").split("|")[:2]
        for path in re.findall(r"`(lightning_gradnap[\w.]*)`", now):
            assert _resolves(path), f"{path} (for {before.strip()}) does not resolve"
    for name, module in MOVED.items():
        assert f"`{module}.{name}`" in page, f"docs/layout.md does not say where {name} is now"


def _resolves(path: str) -> bool:
    """Whether a dotted path is a module, or a name in one."""
    try:
        importlib.import_module(path)
        return True
    except ModuleNotFoundError:
        module, _, name = path.rpartition(".")
        return hasattr(importlib.import_module(module), name)
