"""A stand-in run_fn for tests/unit/pipeline/test_vertex_training.py: records what
trainer.task.run_fn would get on one Vertex AI training replica (custom_config, environment,
task) as JSON in the model run directory, named after the replica's task; the chief also
writes the SavedModel dir."""

import json
import os

from trainer.task import DISTRIBUTION_ENV


def run_fn(fn_args) -> None:
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    record = {"custom_config": fn_args.custom_config, "task": task,
              "distribution": os.environ.get(DISTRIBUTION_ENV),
              "train_files": fn_args.train_files, "eval_files": fn_args.eval_files}
    os.makedirs(fn_args.model_run_dir, exist_ok=True)
    with open(os.path.join(fn_args.model_run_dir, f"{task['type']}-{task['index']}.json"),
              "w") as file:
        json.dump(record, file)
    if task["type"] == "chief":  # as trainer.task.output_dirs: only the chief's model is kept
        os.makedirs(fn_args.serving_model_dir, exist_ok=True)
        with open(os.path.join(fn_args.serving_model_dir, "saved_model.pb"), "wb"):
            pass
