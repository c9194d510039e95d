"""One data set in every input layout, trained by the real `train`: the same validation accuracy from each.

The data set: 160 images of demo_data's four shapes at 16x16 as PNG files; the validation set is the first
80 of them, so that four epochs of a seeded ResNet-20 reach a stable high accuracy in seconds (these tests
are about the inputs delivering the same images and labels, not about generalisation). File mode: RecordIO,
images + .lst, images + JSON annotations, an augmented manifest; Pipe mode, through real FIFOs fed by
writer threads: a RecordIO stream and an augmented manifest stream.
"""

import json
import re

import pytest
from data_layouts import Fifos, manifest_stream, pipe_config, recordio_stream, replace_line, write_job
from training_process import failure_text, run_train, set_hyperparameters

from image_classifier import demo_data
from image_classifier.model import artifacts

SIZE = 16
TRAIN = demo_data.samples(160, SIZE, seed=0)
VALIDATION = TRAIN[:80]
HYPERPARAMETERS = {
    "num_layers": 20,
    "epochs": 4,
    "mini_batch_size": 16,
    "optimizer": "adam",
    "learning_rate": 0.002,
    "seed": 1,
}
NAMES = dict(enumerate(demo_data.CLASS_NAMES))


def make_job(base_dir, layout):
    write_job(base_dir, layout, TRAIN, VALIDATION, SIZE, **HYPERPARAMETERS)
    set_hyperparameters(base_dir, lr_scheduler_step=None)
    return base_dir


def trained_accuracy(base_dir):
    result = run_train(base_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    accuracies = re.findall(r"^Epoch\[\d+\] Validation-accuracy=([0-9.]+)$", result.stdout, re.M)
    assert len(accuracies) == HYPERPARAMETERS["epochs"]
    return float(accuracies[-1])


@pytest.fixture(scope="module")
def recordio_accuracy(tmp_path_factory):
    base_dir = make_job(tmp_path_factory.mktemp("recordio") / "ml", "recordio")
    return trained_accuracy(base_dir), artifacts.read_classes(base_dir / "model")


def test_recordio_reaches_a_high_accuracy(recordio_accuracy):
    accuracy, classes = recordio_accuracy
    assert accuracy >= 0.9
    assert classes == NAMES


@pytest.mark.parametrize("layout", ["lst", "annotation", "manifest"])
def test_file_mode_layouts_train_as_recordio_does(tmp_path, recordio_accuracy, layout):
    base_dir = make_job(tmp_path / "ml", layout)
    assert trained_accuracy(base_dir) == pytest.approx(recordio_accuracy[0], abs=0.02)
    assert artifacts.read_classes(base_dir / "model") == NAMES


@pytest.mark.parametrize(
    "wrapper, streams, classes",
    [
        ("None", recordio_stream, {label: str(label) for label in NAMES}),  # a .rec stream carries no names
        ("RecordIO", lambda pairs, tmp: manifest_stream(pairs, tmp, with_metadata=True), NAMES),
    ],
)
def test_pipe_mode_trains_as_recordio_does(tmp_path, recordio_accuracy, wrapper, streams, classes):
    base_dir = make_job(tmp_path / "ml", "recordio")
    data_dir = base_dir / "input" / "data"
    for channel in ("train", "validation"):
        for path in (data_dir / channel).iterdir():
            path.unlink()
        (data_dir / channel).rmdir()
    attribute_names = ["source-ref", "class", "class-metadata"] if wrapper == "RecordIO" else None
    (base_dir / "input" / "config" / "inputdataconfig.json").write_text(
        json.dumps(pipe_config(wrapper, attribute_names))
    )
    fifos = Fifos(data_dir, {"train": streams(TRAIN, tmp_path), "validation": streams(VALIDATION, tmp_path)})
    try:
        accuracy = trained_accuracy(base_dir)
    finally:
        fifos.close()
    assert accuracy == pytest.approx(recordio_accuracy[0], abs=0.02)
    assert artifacts.read_classes(base_dir / "model") == classes


def test_a_broken_list_line_fails_train_with_file_and_line(tmp_path):
    base_dir = make_job(tmp_path / "ml", "lst")
    lst = base_dir / "input" / "data" / "validation_lst" / "validation.lst"
    replace_line(lst, 7, "6\t4\ttriangle/000006.png")
    result = run_train(base_dir)
    assert result.returncode == 1
    assert failure_text(base_dir).splitlines()[0] == (
        f"line 7 of {lst}: label 4 is not a class id from 0 to 3; fix the label or raise num_classes"
    )
