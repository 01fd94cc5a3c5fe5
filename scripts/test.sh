#!/usr/bin/env bash
# The test suite (also what CI runs): set up .venv if needed, then lint, format and type checks
# (config in pyproject.toml), the documentation build, then pytest with any arguments given (e.g. -x -q tests/engine).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
check() {  # check NAME FIX COMMAND...: run COMMAND; if it fails, say which check and how to fix it
    local name=$1 fix=$2
    shift 2
    "$@" || { echo "scripts/test.sh: the $name failed; fix: $fix" >&2; exit 1; }
}
check "lint (ruff check .)" ".venv/bin/ruff check --fix . (the rest by hand)" .venv/bin/ruff check --quiet .
check "format check (ruff format --check .)" ".venv/bin/ruff format ." .venv/bin/ruff format --check --quiet .
check "type check (mypy)" "the errors above, then .venv/bin/mypy" .venv/bin/mypy
# The documentation site (mkdocs.yml), offline, into a folder that is thrown away: a broken link or
# reference, a page left out of the nav, or a docstring that mkdocstrings cannot read fails it (not
# --quiet: it hides the warnings from --strict too, and the build passes).
site=$(mktemp -d)
check "documentation build (mkdocs build --strict)" "the warnings above, then .venv/bin/mkdocs build --strict" \
    env NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir "$site"
rm -rf "$site"
.venv/bin/python -m pytest -q "$@"
