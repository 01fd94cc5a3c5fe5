#!/usr/bin/env bash
# The test suite (also what CI runs): set up .venv if needed, then pytest.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
.venv/bin/python -m pytest -q "$@"
