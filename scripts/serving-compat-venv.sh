#!/usr/bin/env bash
# A virtualenv with only the TensorFlow of the TF Serving image (requirements/serving-compat.txt),
# for tests/e2e/serving/test_serving_compat.py: every pushed model is loaded and called there the
# way that model server would (components/infra_check/probe.py). About 600 MB, made once:
# a second run with the same pins is a no-op. CI (.ci/run) runs it; the test fails without it.
#
#   RECSYS_SERVING_VENV  where (default: ~/.cache/recsys-tfx/serving-venv)
#   PYTHON               the interpreter to create it with (default: python3.11)
set -euo pipefail
cd "$(dirname "$0")/.."

PINS=requirements/serving-compat.txt
VENV=${RECSYS_SERVING_VENV:-$HOME/.cache/recsys-tfx/serving-venv}
PYTHON=${PYTHON:-python3.11}

image=$(sed -n 's|^ *image: tensorflow/serving:\([0-9.]*\)$|\1|p' k8s_serving/base/deployment.yaml)
pinned=$(sed -n 's|^tensorflow-cpu==\(.*\)$|\1|p' "$PINS")
if [ -z "$image" ] || [ "$image" != "$pinned" ]; then
  echo "serving-compat: k8s_serving runs tensorflow/serving:${image:-?} but $PINS pins" \
       "tensorflow-cpu==${pinned:-?}; make them agree" >&2
  exit 1
fi

stamp="$VENV/.recsys-serving-compat"
digest=$(sha256sum "$PINS" | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
  echo "serving-compat: $VENV already has TensorFlow $image"
  exit 0
fi
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$PINS"
"$VENV/bin/python" - "$image" <<'PY'
import sys

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2  # noqa: F401  (the probe reads it)

assert tf.__version__ == sys.argv[1], (tf.__version__, sys.argv[1])
PY
echo "$digest" > "$stamp"
echo "serving-compat: made $VENV with TensorFlow $image (tensorflow/serving:$image)"
