"""The real `train` command on a fake /opt/ml: start or run it, change its hyperparameters, read its failure."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# A job that trains in seconds: ResNet-20, one epoch, small batches.
TINY = {"num_layers": 20, "epochs": 1, "mini_batch_size": 16, "learning_rate": 0.02}


def train_command():
    """The `train` console script beside this interpreter (ours, not sagemaker-training's)."""
    script = Path(sys.executable).with_name("train")
    return [str(script)] if script.exists() else [shutil.which("train")]


def start_train(base_dir, **options):
    """The real `train` on ``base_dir`` as a running process, its output (both streams) on ``stdout``."""
    return subprocess.Popen(
        train_command(),
        env={**os.environ, "SAGEMAKER_BASE_DIR": str(base_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **options,
    )


def run_train(base_dir, timeout=300, env=None):
    """The real `train` on ``base_dir`` run to its end: the completed process, its output captured."""
    environ = dict(os.environ, SAGEMAKER_BASE_DIR=str(base_dir), **(env or {}))
    return subprocess.run(train_command(), env=environ, capture_output=True, text=True, timeout=timeout)


def set_hyperparameters(base_dir, **changes):
    """Change the job's hyperparameters.json: each value as a string, None removes the name."""
    path = Path(base_dir) / "input" / "config" / "hyperparameters.json"
    values = json.loads(path.read_text())
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = str(value)
    path.write_text(json.dumps(values))


def failure_text(base_dir):
    """What the job wrote to /opt/ml/output/failure."""
    return (Path(base_dir) / "output" / "failure").read_text()
