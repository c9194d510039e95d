"""Fixtures for every test: Pillow and logging as the entry points leave them, and a small RecordIO job.

The helpers that run the real `train` command are in training_process.py."""

import logging
from pathlib import Path

import pytest
from PIL import ImageFile
from training_process import TINY

from image_classifier import demo_data, libraries

libraries.before_mxnet()  # as every entry point that loads MXNet does (the image has no libGL for cv2)


def pytest_collection_modifyitems(items):
    """Every integration test runs the real `train` or `serve`, seconds each: all of them are slow."""
    integration = Path(__file__).parent / "integration"
    for item in items:
        if item.path.is_relative_to(integration):
            item.add_marker(pytest.mark.slow)


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
