#!/usr/bin/env bash
# Creates .venv/ in the repository root from the pinned lock file.
#
# `pip install tfx` cannot resolve on Linux (tfx 1.21 pins ml-metadata and
# tensorflow-data-validation 1.21, which have no Linux wheels), so we never ask the
# resolver: every package of a verified environment is pinned in requirements/lock.txt
# and installed with --no-deps. Idempotent: a second run only checks the stamp.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
VENV=.venv
STAMP=$VENV/.recsys-installed
want=$(cat requirements/lock.txt requirements/dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "setup: $VENV is up to date"
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q --no-deps -r requirements/lock.txt -r requirements/dev.txt
"$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
"$VENV/bin/python" -m pip check || echo "setup: pip check reports the known tfx/ml-metadata pin mismatch (see requirements/lock.txt)"
echo "$want" > "$STAMP"
echo "setup: $VENV ready; activate with: . $VENV/bin/activate"
