"""InfraCheck executor: runs probe.py on the candidate in a fresh interpreter and records the
verdict as a standard InfraBlessing, which the Pusher checks before pushing.

TFX's InfraValidator does the same with a real model server, started through Docker or
Kubernetes; neither is available to a local run or inside a Vertex AI step, so the server is
emulated by probe.py: TensorFlow alone, loading the SavedModel and replaying its warm-up
requests the way tensorflow_model_server does (see its docstring).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from absl import logging
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, path_utils

from contract.keys import INFRA_CHECKED, INFRA_REASON

MODEL_KEY = standard_component_specs.MODEL_KEY
MODEL_BLESSING_KEY = standard_component_specs.MODEL_BLESSING_KEY
BLESSING_KEY = standard_component_specs.BLESSING_KEY
LATENCY_BUDGET_KEY = "latency_budget_ms"
TIMEOUT_KEY = "timeout_seconds"
# The InfraBlessing conventions of TFX's InfraValidator (tfx.components.infra_validator), which
# the Pusher reads: the `blessed` custom property and one marker file.
BLESSED_PROPERTY = "blessed"
BLESSED_FILE, NOT_BLESSED_FILE = "INFRA_BLESSED", "INFRA_NOT_BLESSED"
# Ours (contract/keys.py): whether it was checked and why, in one line (the run summary prints
# it); and the probe's whole report in the artifact.
REPORT_FILE = "report.json"
PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.py")
NOT_EVALUATED = "not checked: the Evaluator did not bless the model"


class Executor(base_executor.BaseExecutor):
    """Blesses the model only if it loads, answers its warm-up requests as its signatures say
    (batched too) and within the latency budget, in a process that imports only TensorFlow."""

    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],
           exec_properties: dict[str, Any]) -> None:
        blessing = artifact_utils.get_single_instance(output_dict[BLESSING_KEY])
        model_blessings = input_dict.get(MODEL_BLESSING_KEY) or []
        if model_blessings and not model_utils.is_model_blessed(model_blessings[0]):
            # The Pusher would refuse it anyway: no model server is worth starting.
            record(blessing, {"blessed": False, "reason": NOT_EVALUATED}, checked=False)
            return
        model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        model_path = path_utils.serving_model_path(
            model.uri, path_utils.is_old_model_artifact(model))
        report = run_probe(model_path, float(exec_properties[LATENCY_BUDGET_KEY]),
                           int(exec_properties.get(TIMEOUT_KEY) or 600))
        record(blessing, report)


def run_probe(model_path: str, latency_budget_ms: float, timeout_seconds: int,
              python: str = sys.executable) -> dict:
    """probe.py's report on `model_path`, run by the interpreter `python` (this one: the
    pipeline's TensorFlow); a probe that crashes or hangs refuses the model."""
    command = [python, "-I", PROBE, model_path,
               "--latency-budget-ms", str(latency_budget_ms)]
    logging.info("infra check: %s", " ".join(command))
    with tempfile.TemporaryDirectory(prefix="infra_check_") as cwd:  # nothing importable
        try:
            done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                                  timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            return {"blessed": False,
                    "reason": f"the model server did not load and answer in {timeout_seconds} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        stderr = done.stderr.strip().splitlines()
        return {"blessed": False, "reason": f"the model server process failed (exit status "
                                            f"{done.returncode}): "
                                            f"{stderr[-1] if stderr else 'no output'}"}
    return json.loads(lines[-1])


def record(blessing, report: dict, checked: bool = True) -> None:
    """The verdict on the InfraBlessing artifact: property, marker file, reason, report."""
    blessed = bool(report["blessed"])
    logging.info("infra check: %s: %s", "blessed" if blessed else "NOT blessed",
                 report["reason"])
    io_utils.write_string_file(
        os.path.join(blessing.uri, BLESSED_FILE if blessed else NOT_BLESSED_FILE), "")
    io_utils.write_string_file(os.path.join(blessing.uri, REPORT_FILE),
                               json.dumps(report, indent=2))
    blessing.set_int_custom_property(BLESSED_PROPERTY, int(blessed))
    blessing.set_int_custom_property(INFRA_CHECKED, int(checked))
    blessing.set_string_custom_property(INFRA_REASON, report["reason"])
