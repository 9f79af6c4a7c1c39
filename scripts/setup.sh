#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: a virtual environment in .venv with torch for this machine and the
# project (editable) with the extras the demo and the tests need. A second run only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${MEMO_VENV:-.venv}
PY="$VENV/bin/python"
STAMP="$VENV/.memo-setup-stamp"

if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
  "$PY" -m pip install -q --upgrade pip
fi

# The stamp records what was installed from; unchanged inputs mean nothing to do.
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && "$PY" -c "import mediaeval_memo" 2>/dev/null; then
  echo "set-up: .venv is up to date"
  exit 0
fi

# Without an NVIDIA GPU an unpinned torch resolves to a multi-GB CUDA build; 2.13.0 is the CPU build
# this machine kind keeps on disk. With a GPU, the default (CUDA) wheel is what we want.
if ! command -v nvidia-smi >/dev/null 2>&1; then
  "$PY" -m pip install -q "torch==2.13.0"
fi
"$PY" -m pip install -q -e ".[all,dev]"
echo "$want" > "$STAMP"
echo "set-up: done ($("$PY" -c 'import torch; print("torch", torch.__version__)'))"
