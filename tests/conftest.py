"""Shared helpers: a fake /opt/ml with the demo data set, and the real `train` command run on it."""

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import ImageFile

from image_classifier import demo_data, libraries

libraries.import_cv2_or_mark_absent()  # as every entry point that loads MXNet does (the image has no libGL for cv2)
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
    environ = dict(os.environ, SAGEMAKER_BASE_DIR=str(base_dir), **(env or {}))
    return subprocess.run(train_command(), env=environ, capture_output=True, text=True, timeout=timeout)


def set_hyperparameters(base_dir, **changes):
    path = Path(base_dir) / "input" / "config" / "hyperparameters.json"
    values = json.loads(path.read_text())
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = str(value)
    path.write_text(json.dumps(values))


def failure_text(base_dir):
    return (Path(base_dir) / "output" / "failure").read_text()


@pytest.fixture(autouse=True)
def truncated_images_refused(monkeypatch):
    """As in `train` (libraries.refuse_truncated_images) and `serve` (which never imports GluonCV); importing
    GluonCV (some tests do) turns Pillow's global switch on."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)


@pytest.fixture(autouse=True)
def root_logging_restored():
    """Entry points called in-process (``cli.main``) point the root logger at pytest's captured stdout, which
    is closed after the test: later tests' log lines would then fail to print."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def tiny_job(tmp_path):
    """A small RecordIO job: 64 training and 40 validation images of 16x16, one epoch of ResNet-20."""

    def make(num_train=64, num_validation=40, size=16, **hyperparameters):
        return demo_data.write_job(tmp_path / "ml", num_train, num_validation, size, **{**TINY, **hyperparameters})

    return make
