#!/usr/bin/env bash
# Makes docs/img/ui.png, the README's picture of the UI: the headless-Chromium test of the UI
# run against real models.
#   scripts/ui-screenshot.sh MODELS_DIR DATA_DIR    e.g. runs/local/serving ../shared/data/ml-100k
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then
  echo "usage: $0 MODELS_DIR DATA_DIR (a run's serving/ and the raw data it was trained on)" >&2
  exit 2
fi
RECSYS_UI_MODELS_DIR=$(realpath "$1") RECSYS_UI_DATA_DIR=$(realpath "$2") \
RECSYS_UI_SCREENSHOT=$PWD/docs/img/ui.png \
  .venv/bin/python -m pytest -q tests/e2e/serving/test_browser.py
echo "wrote docs/img/ui.png"
