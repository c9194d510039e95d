"""Pipe mode streamed by the real `train`: every epoch reads its own FIFO, as SageMaker writes them.

A test thread per FIFO writes ``<channel>_N`` once a reader opens it (tests/data_layouts.py ``Fifos``); the
scratch window (IMAGE_CLASSIFIER_PIPE_WINDOW) is a quarter of the training stream, so each epoch trains from
several chunks. The data set and recipe are test_inputs.py's, whose File-mode accuracy the stream must match.
"""

import json
import re

import pytest
from data_layouts import Fifos, manifest_stream, recordio_stream
from test_inputs import HYPERPARAMETERS, NAMES, TRAIN, VALIDATION, make_job
from training_process import failure_text, run_train, set_hyperparameters

from image_classifier.data import scratch
from image_classifier.model import artifacts

EPOCHS = HYPERPARAMETERS["epochs"]


def pipe_job(base_dir, wrapper="None"):
    """test_inputs' RecordIO job with both channels in Pipe mode (no files: FIFOs only)."""
    make_job(base_dir, "recordio")
    data_dir = base_dir / "input" / "data"
    for channel in ("train", "validation"):
        for path in (data_dir / channel).iterdir():
            path.unlink()
        (data_dir / channel).rmdir()
    entry = {"ContentType": "application/x-recordio", "TrainingInputMode": "Pipe", "RecordWrapperType": wrapper}
    if wrapper == "RecordIO":
        entry["AttributeNames"] = ["source-ref", "class", "class-metadata"]
    (base_dir / "input" / "config" / "inputdataconfig.json").write_text(
        json.dumps({"train": entry, "validation": entry})
    )
    return base_dir


def manifest_with_names(pairs, tmp_path):
    return manifest_stream(pairs, tmp_path, with_metadata=True)


def streamed_train(base_dir, tmp_path, train_fifos, validation_fifos, train_streams=None, make=recordio_stream):
    train_data, validation_data = make(TRAIN, tmp_path), make(VALIDATION, tmp_path)
    streams = {
        "train": train_streams or [train_data] * train_fifos,
        "validation": [validation_data] * validation_fifos,
    }
    fifos = Fifos(base_dir / "input" / "data", streams)
    environ = {scratch.MODE_ENV: "stream", scratch.WINDOW_ENV: str(len(train_data) // 4)}
    try:
        result = run_train(base_dir, env=environ)
    finally:
        fifos.close()
    return result, fifos.finished


@pytest.fixture(scope="module")
def file_mode_accuracy(tmp_path_factory):
    result = run_train(make_job(tmp_path_factory.mktemp("file") / "ml", "recordio"))
    assert result.returncode == 0, result.stdout
    return float(re.findall(r"^Epoch\[\d+\] Validation-accuracy=([0-9.]+)$", result.stdout, re.M)[-1])


@pytest.mark.parametrize(
    "wrapper, make, classes",
    [
        ("None", recordio_stream, {label: str(label) for label in NAMES}),  # a .rec stream carries no names
        ("RecordIO", manifest_with_names, NAMES),
    ],
)
def test_every_epoch_streams_its_own_fifo_within_the_window(tmp_path, file_mode_accuracy, wrapper, make, classes):
    base_dir = pipe_job(tmp_path / "ml", wrapper)
    result, finished = streamed_train(base_dir, tmp_path, EPOCHS + 1, EPOCHS + 2, make=make)
    assert result.returncode == 0, result.stdout
    accuracies = [float(x) for x in re.findall(r"^Epoch\[\d+\] Validation-accuracy=([0-9.]+)$", result.stdout, re.M)]
    assert len(accuracies) == EPOCHS
    assert accuracies[-1] == pytest.approx(file_mode_accuracy, abs=0.05)
    # one train FIFO an epoch; one validation FIFO an epoch and one for the final evaluation
    assert sorted(name for name in finished if name.startswith("train")) == [f"train_{n}" for n in range(EPOCHS)]
    assert sorted(name for name in finished if name.startswith("valid")) == [
        f"validation_{n}" for n in range(EPOCHS + 1)
    ]
    assert not (base_dir / "input" / scratch.FOLDER).exists()  # the scratch folder is removed at the end
    assert artifacts.read_classes(base_dir / "model") == classes


def test_a_restarted_job_resumes_from_its_checkpoint_reading_fifo_0_again(tmp_path):
    base_dir = pipe_job(tmp_path / "ml")
    (base_dir / "checkpoints").mkdir()
    set_hyperparameters(base_dir, epochs=2)
    result, _ = streamed_train(base_dir, tmp_path, 2, 3)
    assert result.returncode == 0, result.stdout
    for path in (base_dir / "input" / "data").iterdir():
        path.unlink()  # SageMaker's restart: new FIFOs, numbered from 0 again
    set_hyperparameters(base_dir, epochs=3)
    result, finished = streamed_train(base_dir, tmp_path, 2, 3)
    assert result.returncode == 0, result.stdout
    assert re.findall(r"^Epoch\[(\d+)\] Train-accuracy", result.stdout, re.M) == ["2"]
    assert "train_0" in finished and "train_1" not in finished  # epoch 2 read this run's first FIFO
    assert {"validation_0", "validation_1"} <= set(finished)


def test_a_stream_cut_short_fails_naming_its_fifo(tmp_path):
    base_dir = pipe_job(tmp_path / "ml")
    data = recordio_stream(TRAIN, tmp_path)
    result, _ = streamed_train(base_dir, tmp_path, 0, EPOCHS + 1, train_streams=[data, data[: len(data) // 2]])
    assert result.returncode == 1, result.stdout
    fifo = base_dir / "input" / "data" / "train_1"
    assert re.match(
        f"the Pipe-mode stream {re.escape(str(fifo))} ends inside record \\d+; the stream was cut short",
        failure_text(base_dir),
    )
