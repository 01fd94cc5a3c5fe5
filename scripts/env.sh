# Sourced by scripts/demo.sh and scripts/test.sh: create or reuse .venv and install the pinned
# packages (constraints.txt) and this project, once per change of those files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    python=$(command -v python3.11 || command -v python3)
    echo "creating .venv with $($python --version)"
    "$python" -m venv .venv
fi
stamp=".venv/.installed-$(cat constraints.txt pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    echo "installing packages into .venv (first run: torch is large, a few minutes)"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[asr,test,docs]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
export PYTHONUNBUFFERED=1
