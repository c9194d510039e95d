"""The real `train` command on a fake /opt/ml: artifacts, log lines, failures, signals."""

import json
import re
import shutil
import signal
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from data_layouts import write_job
from training_process import TINY, failure_text, run_train, set_hyperparameters, start_train, train_command

from image_classifier import demo_data, image_ops
from image_classifier.model import artifacts


def test_train_on_path_is_ours_not_sagemaker_trainings():
    script = Path(train_command()[0]).read_text()
    assert "image_classifier.cli" in script


def test_learns_the_demo_data_set(tmp_path):
    """The README's demo: 4 classes of 32x32 shapes, ResNet-20, through `train`: >= 95% validation accuracy."""
    base_dir = demo_data.write_job(tmp_path / "ml")
    result = run_train(base_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    accuracies = [float(v) for v in re.findall(r"^Epoch\[\d+\] Validation-accuracy=([0-9.]+)$", result.stdout, re.M)]
    assert len(accuracies) == 5
    assert max(accuracies) >= 0.95
    assert (base_dir / "output" / "success").exists()
    assert artifacts.read_classes(base_dir / "model") == dict(enumerate(demo_data.CLASS_NAMES))


def test_log_lines_and_artifacts(tiny_job):
    base_dir = tiny_job(epochs=2, top_k=2)
    result = run_train(base_dir, env={"PYTHONWARNINGS": "always"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Cannot decide type" not in result.stdout + result.stderr  # MXNet's warning at a model load
    for pattern in (
        r"Epoch\[1\] Train-accuracy=[0-9.]+",
        r"Epoch\[1\] Train-top_k_accuracy_2=[0-9.]+",
        r"Epoch\[1\] Time cost=[0-9.]+",
        r"Epoch\[1\] Validation-accuracy=[0-9.]+",
        r"Epoch\[0\] Validation-top_k_accuracy_2=[0-9.]+",
    ):
        assert re.search(rf"^{pattern}$", result.stdout, re.M), pattern
    model_dir = base_dir / "model"
    assert len(artifacts.saved_epochs(model_dir)) == 1  # only the best epoch
    assert json.loads((model_dir / "model-shapes.json").read_text()) == [{"name": "data", "shape": [1, 3, 16, 16]}]
    assert not (base_dir / "output" / "failure").exists()


def test_progress_lines(tiny_job):
    base_dir = tiny_job(num_train=336, mini_batch_size=16, num_training_samples=336)
    result = run_train(base_dir)
    assert re.search(r"^Epoch\[0\] Batch \[20\]\tSpeed: [0-9.]+ samples/sec\taccuracy=[0-9.]+$", result.stdout, re.M)


def test_checkpoint_frequency_keeps_those_epochs(tiny_job):
    base_dir = tiny_job(epochs=4, checkpoint_frequency=2)
    assert run_train(base_dir).returncode == 0
    assert artifacts.saved_epochs(base_dir / "model") == [2, 4]


def test_saved_model_classifies_validation_images_as_training_measured(tiny_job):
    base_dir = tiny_job(epochs=2, num_train=128, num_training_samples=128)
    result = run_train(base_dir)
    logged = float(re.findall(r"^Epoch\[\d+\] Validation-accuracy=([0-9.]+)$", result.stdout, re.M)[-1])
    net = artifacts.load(base_dir / "model")
    preprocessing = artifacts.read_preprocessing(base_dir / "model")
    pairs = demo_data.samples(40, 16, seed=1)  # the validation set tiny_job wrote
    batch = mx.nd.array(np.stack([preprocessing.apply(image) for _, image in pairs]))
    predicted = net(batch).asnumpy().argmax(axis=1)
    accuracy = float(np.mean(predicted == np.array([label for label, _ in pairs])))
    assert accuracy == pytest.approx(logged, abs=0.03)  # PNG round trip: same pixels as training read


def test_multi_label_with_weighted_loss(tiny_job):
    base_dir = tiny_job()
    prefix = base_dir / "input" / "data"
    for channel, count in (("train", 64), ("validation", 40)):
        for path in (prefix / channel).iterdir():
            path.unlink()
        writer = mx.recordio.MXRecordIO(str(prefix / channel / f"{channel}.rec"), "w")
        for index, (label, image) in enumerate(demo_data.samples(count, 16, 0)):
            hot = np.zeros(4, np.float32)
            hot[[label, (label + 1) % 4]] = 1
            writer.write(mx.recordio.pack(mx.recordio.IRHeader(4, hot, index, 0), image_ops.encode(image, "PNG")))
        writer.close()
    set_hyperparameters(base_dir, multi_label=1, use_weighted_loss=1)
    result = run_train(base_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    net = artifacts.load(base_dir / "model")
    probabilities = net(mx.nd.zeros((2, 3, 16, 16))).asnumpy()
    assert probabilities.shape == (2, 4) and not np.allclose(probabilities.sum(axis=1), 1.0)


def _break_first_record_label(base_dir):
    rec = base_dir / "input" / "data" / "train" / "train.rec"
    writer = mx.recordio.MXRecordIO(str(rec), "w")
    for index, (label, image) in enumerate(demo_data.samples(64, 16, 0)):
        label = 9 if index == 5 else label
        writer.write(mx.recordio.pack(mx.recordio.IRHeader(0, label, index, 0), image_ops.encode(image, "PNG")))
    writer.close()


def _empty_channel(base_dir):
    for path in (base_dir / "input" / "data" / "validation").iterdir():
        path.unlink()


def _corrupt(base_dir, offset):
    rec = base_dir / "input" / "data" / "train" / "train.rec"
    data = bytearray(rec.read_bytes())
    data[offset : offset + 8] = b"\xff" * 8
    rec.write_bytes(bytes(data))


def _corrupt_rec(base_dir):
    """Break the framing: the magic number that starts record 3."""
    index = (base_dir / "input" / "data" / "train" / "train.idx").read_text().splitlines()
    _corrupt(base_dir, int(index[3].split()[1]))


def _corrupt_image(base_dir):
    """Keep the framing, break the pixels: bytes in the middle of record 1's PNG data."""
    index = (base_dir / "input" / "data" / "train" / "train.idx").read_text().splitlines()
    start, end = (int(line.split()[1]) for line in index[1:3])
    _corrupt(base_dir, (start + end) // 2)


def _config(name, content):
    """Replace config file ``name`` with ``content`` (bytes)."""
    return lambda base_dir: (base_dir / "input" / "config" / name).write_bytes(content)


FAILURES = {
    "hyperparameters in UTF-16": (
        _config("hyperparameters.json", '{"epochs": "1"}'.encode("utf-16")),
        "hyperparameters.json is not UTF-8 text",
    ),
    "inputdataconfig a list": (_config("inputdataconfig.json", b"[]"), "inputdataconfig.json holds a JSON list"),
    "resourceconfig a list": (_config("resourceconfig.json", b"[]"), "resourceconfig.json holds a JSON list"),
    "no hosts": (_config("resourceconfig.json", b'{"hosts": []}'), '"hosts" is []; it must list the training hosts'),
    "missing channel": (
        lambda d: shutil.rmtree(d / "input" / "data" / "validation"),
        "The 'validation' channel is missing",
    ),
    "empty channel": (_empty_channel, "The 'validation' channel is empty"),
    "corrupt rec": (_corrupt_rec, "is not a valid RecordIO file"),
    "corrupt image": (_corrupt_image, "record 1 of"),
    "label too large": (_break_first_record_label, "record 5 of"),
    "images too small": (lambda d: set_hyperparameters(d, image_shape="3,32,32"), "smaller than image_shape 32x32"),
    "unknown hyperparameter": (
        lambda d: set_hyperparameters(d, learning_rat="0.1"),
        "Unknown hyperparameter 'learning_rat'",
    ),
    "bad value": (
        lambda d: set_hyperparameters(d, optimizer="adadelta"),
        "The value 'adadelta' is not valid for the 'optimizer'",
    ),
    "samples mismatch": (lambda d: set_hyperparameters(d, num_training_samples=65), "set num_training_samples=64"),
    "float16 on cpu": (
        lambda d: set_hyperparameters(d, precision_dtype="float16"),
        "precision_dtype=float16 needs a GPU",
    ),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_user_errors_leave_a_one_line_reason_and_exit_1(tiny_job, case):
    base_dir = tiny_job()
    (base_dir / "output").mkdir()
    (base_dir / "output" / "success").touch()  # a previous run's verdict does not survive
    breaks, fragment = FAILURES[case]
    breaks(base_dir)
    result = run_train(base_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    text = failure_text(base_dir)
    assert fragment in text.splitlines()[0]
    assert len(text.splitlines()) == 1 and "Traceback" not in text
    assert not (base_dir / "output" / "success").exists()


def test_corrupt_rec_names_the_file_and_record(tiny_job):
    base_dir = tiny_job()
    _corrupt_rec(base_dir)
    run_train(base_dir)
    assert re.match(r".*train\.rec is not a valid RecordIO file \(record 3 at byte \d+", failure_text(base_dir))


def test_a_truncated_image_is_refused_not_half_decoded(tmp_path):
    """Importing GluonCV lets Pillow decode truncated images; the job turns that off before packing decodes them."""
    samples = demo_data.samples(8, 16, 0), demo_data.samples(4, 16, 1)
    base_dir = write_job(tmp_path / "ml", "lst", *samples, 16, **{**TINY, "resize": 8, "image_shape": "3,8,8"})
    image = next((base_dir / "input" / "data" / "train").rglob("*.png"))
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    result = run_train(base_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"image {image} cannot be decoded (corrupt or truncated)" in failure_text(base_dir)


def test_corrupt_image_names_the_file_and_record(tiny_job):
    base_dir = tiny_job()
    _corrupt_image(base_dir)
    run_train(base_dir)
    assert re.match(r"record 1 of .*train\.rec holds an image that cannot be decoded", failure_text(base_dir))


def test_sigterm_stops_training_promptly_and_keeps_finished_epochs(tiny_job):
    base_dir = tiny_job(num_train=2000, num_training_samples=2000, epochs=50, checkpoint_frequency=1)
    process = start_train(base_dir)
    deadline = time.time() + 120
    while not (base_dir / "model" / "image-classification-0001.params").exists() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    started = time.time()
    output, _ = process.communicate(timeout=30)
    assert time.time() - started < 10
    assert process.returncode == 143, output
    assert failure_text(base_dir).startswith("Training stopped by SIGTERM during epoch")
    assert artifacts.saved_epochs(base_dir / "model")


def _sigterm_at(process, line_start):
    """SIGTERM ``process`` when it logs a line starting with ``line_start``; (exit code, its whole output)."""
    output = ""
    for line in process.stdout:
        output += line
        if line.startswith(line_start):
            process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60), output


def test_sigterm_before_any_epoch_is_kept_says_nothing_was_kept(tiny_job):
    base_dir = tiny_job(num_train=640, num_training_samples=640, epochs=2)
    code, output = _sigterm_at(start_train(base_dir), "Epoch[0] Batch [20]")
    assert code == 143, output
    assert failure_text(base_dir) == (
        "Training stopped by SIGTERM during epoch 0; no epoch had ended, so nothing was kept in the model directory\n"
    )
    assert not artifacts.saved_epochs(base_dir / "model")


def test_sigterm_before_any_epoch_is_kept_with_checkpoints_names_the_checkpoint(tiny_job):
    base_dir = tiny_job(num_train=640, num_training_samples=640, epochs=2)
    (base_dir / "checkpoints").mkdir()
    code, output = _sigterm_at(start_train(base_dir), "Epoch[0] Batch [20]")
    assert code == 143, output
    assert re.fullmatch(
        r"Training stopped by SIGTERM during epoch 0; no epoch had ended, so nothing was kept in the model "
        rf"directory; a restarted job goes on from the checkpoint in {base_dir}/checkpoints \(0 epochs and "
        r"2\d batches done\)\n",
        failure_text(base_dir),
    )


def test_sigterm_after_the_last_batch_ends_as_a_success_with_the_whole_model(tiny_job):
    """The last batch trained, validation and the save run to the end: the model is complete, so it is a success."""
    base_dir = tiny_job(epochs=1)
    code, output = _sigterm_at(start_train(base_dir), "Epoch[0] Time cost=")
    assert code == 0, output
    assert "SIGTERM came after the last batch; the model is complete, so training ends as a success" in output
    assert (base_dir / "output" / "success").exists() and not (base_dir / "output" / "failure").exists()
    assert artifacts.saved_epochs(base_dir / "model") == [1]
