"""`image-classifier quantize MODEL_DIR --calibration DIR`: the int8 model of a model already trained, ours or the
built-in algorithm's, calibrated on a folder laid out as a validation channel."""

import hashlib
import logging
import shutil
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from serving_models import demo_inputs, export_model, train_demo_model

from image_classifier import demo_data, quantize_command
from image_classifier.errors import UserError
from image_classifier.image_ops import encode
from image_classifier.model import artifacts
from image_classifier.serving.predictor import Predictor

SIZE = 16
CLI = "import sys; from image_classifier import cli; sys.exit(cli.main())"


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    return train_demo_model(tmp_path_factory.mktemp("model"), SIZE)


@pytest.fixture
def model_dir(trained_dir, tmp_path):
    return shutil.copytree(trained_dir, tmp_path / "model")


def _recordio_folder(folder, count, seed=1):
    demo_data.write_recordio(folder / "validation", demo_data.samples(count, SIZE, seed))
    return folder


def _images_with_lst(folder, count, seed=1):
    """PNG images and a .lst naming them, as an images + .lst validation channel holds them."""
    folder.mkdir(parents=True)
    lines = []
    for index, (label, image) in enumerate(demo_data.samples(count, SIZE, seed)):
        (folder / f"{index:04d}.png").write_bytes(encode(image, "PNG"))
        lines.append(f"{index}\t{label}\t{index:04d}.png\n")
    (folder / "validation.lst").write_text("".join(lines))
    return folder


def _digests(model_dir):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(model_dir.iterdir())}


def test_the_command_writes_an_int8_model_that_agrees_with_float32(model_dir, tmp_path):
    calibration = _recordio_folder(tmp_path / "calibration", 100)
    float32_files = _digests(model_dir)
    result = subprocess.run(
        [sys.executable, "-c", CLI, "quantize", str(model_dir), "--calibration", str(calibration), "--images", "64"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "calibrated on 64 images" in result.stdout + result.stderr
    assert f"wrote {model_dir / artifacts.INT8_PARAMS_FILE}" in result.stdout
    after = _digests(model_dir)
    assert {name: after[name] for name in float32_files} == float32_files  # the float32 files stay as they were
    assert set(after) - set(float32_files) == {artifacts.INT8_SYMBOL_FILE, artifacts.INT8_PARAMS_FILE}
    images, labels = demo_inputs(300, 7, SIZE)
    float32 = Predictor.load(model_dir, mx.cpu()).predict(images)
    int8 = Predictor.load(model_dir, mx.cpu(), "int8").predict(images)
    assert (float32.argmax(1) == labels).mean() > 0.8  # trained (chance: 0.25), so agreement means something
    assert (int8.argmax(1) == float32.argmax(1)).mean() >= 0.95


def test_images_with_a_lst_calibrate_all_of_them_when_fewer_than_asked(model_dir, tmp_path, caplog):
    calibration = _images_with_lst(tmp_path / "calibration", 40)  # a batch of 32 and one of 8
    with caplog.at_level(logging.INFO):
        path = quantize_command.quantize_trained(model_dir, calibration, 512)
    assert path == model_dir / artifacts.INT8_PARAMS_FILE and path.is_file()
    assert "calibrated on 40 images" in caplog.text
    probabilities = Predictor.load(model_dir, mx.cpu(), "int8").predict(demo_inputs(8, 3, SIZE)[0])
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-4)


def test_a_model_of_the_builtin_algorithm_is_quantized_with_its_own_preprocessing(tmp_path):
    """No preprocessing.json or classes.json: the built-in's squash of raw pixels to model-shapes.json."""
    model_dir = export_model(tmp_path / "builtin", (3, SIZE, SIZE), builtin=True)
    calibration = _recordio_folder(tmp_path / "calibration", 48)
    quantize_command.quantize_trained(model_dir, calibration, 48)
    pixels = np.stack([image for _, image in demo_data.samples(4, SIZE, 5)]).transpose(0, 3, 1, 2)
    int8 = Predictor.load(model_dir, mx.cpu(), "int8").predict(pixels.astype(np.float32))
    float32 = Predictor.load(model_dir, mx.cpu()).predict(pixels.astype(np.float32))
    assert int8.shape == float32.shape == (4, 4)
    np.testing.assert_allclose(int8.sum(1), 1.0, atol=1e-4)


@pytest.mark.parametrize("contents", [{}, {"notes.txt": b"no images here"}])
def test_a_calibration_folder_without_images_is_refused_by_name(model_dir, tmp_path, contents):
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    for name, data in contents.items():
        (calibration / name).write_bytes(data)
    with pytest.raises(UserError, match=r"--calibration .* holds no images"):
        quantize_command.quantize_trained(model_dir, calibration)
    assert not (model_dir / artifacts.INT8_PARAMS_FILE).exists()


def test_a_folder_that_is_not_a_model_is_refused_by_name(tmp_path):
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    (not_a_model / "resnet18_v1.params").write_bytes(b"a GluonCV file alone")
    calibration = _recordio_folder(tmp_path / "calibration", 8)
    with pytest.raises(UserError, match="is not a model directory: it lacks image-classification-symbol.json"):
        quantize_command.quantize_trained(not_a_model, calibration)
    with pytest.raises(UserError, match="is not a directory"):
        quantize_command.quantize_trained(tmp_path / "missing", calibration)


def test_a_gpu_host_is_refused_by_name(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(quantize_command.devices, "gpu_count", lambda: 1)
    with pytest.raises(UserError, match="runs on CPU hosts only .* this host has 1 GPU"):
        quantize_command.quantize_trained(model_dir, _recordio_folder(tmp_path / "calibration", 8))


def test_the_command_reports_a_refusal_in_one_line_and_exits_1(tmp_path):
    (tmp_path / "calibration").mkdir()
    result = subprocess.run(
        [sys.executable, "-c", CLI, "quantize", str(tmp_path), "--calibration", str(tmp_path / "calibration")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path} is not a model directory: it lacks image-classification-symbol.json, model-shapes.json, "
        f"image-classification-NNNN.params; give the folder that `train` (or SageMaker's built-in image "
        f"classification algorithm) wrote, unpacked from model.tar.gz"
    ]
