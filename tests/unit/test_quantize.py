"""The int8 model of a real small model: its answers agree with float32's, calibrated on the images given."""

import io
import json
import os
import re
import shutil
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from PIL import Image
from serving_models import demo_inputs, export_model, train_demo_model

from image_classifier import demo_data, devices
from image_classifier.errors import UserError
from image_classifier.model import artifacts, quantize
from image_classifier.model.preprocessing import Preprocessing
from image_classifier.serving.app import create_app
from image_classifier.serving.predictor import Predictor
from image_classifier.serving.settings import PRECISIONS, Settings

SIZE = 16
SHAPE = (3, SIZE, SIZE)
PREPROCESSING = Preprocessing.for_training(SHAPE, None)


def _images(count, seed):
    return demo_inputs(count, seed, SIZE)


def _batches(images, batch_size=32):
    return (mx.nd.array(images[start : start + batch_size]) for start in range(0, len(images), batch_size))


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    return train_demo_model(tmp_path_factory.mktemp("model"), SIZE)


@pytest.fixture(scope="module")
def quantized_dir(trained_dir):
    calibration, _ = _images(128, 1)
    quantize.quantize(trained_dir, _batches(calibration), 128)
    return trained_dir


def test_served_int8_answers_agree_with_float32_on_held_out_images(quantized_dir):
    images, labels = _images(300, 7)
    float32 = Predictor.load(quantized_dir, mx.cpu()).predict(images)
    int8 = Predictor.load(quantized_dir, mx.cpu(), "int8").predict(images)
    float32_accuracy, int8_accuracy = (float32.argmax(1) == labels).mean(), (int8.argmax(1) == labels).mean()
    assert float32_accuracy > 0.8  # trained (chance: 0.25), so agreement means something
    assert (int8.argmax(1) == float32.argmax(1)).mean() >= 0.95
    assert int8_accuracy >= float32_accuracy - 0.03
    np.testing.assert_allclose(int8.sum(1), 1.0, atol=1e-4)


def test_the_graph_runs_int8_but_the_first_convolution_and_last_dense_layer(quantized_dir):
    graph = json.loads((quantized_dir / artifacts.INT8_SYMBOL_FILE).read_text())
    operators = [node for node in graph["nodes"] if node["op"] != "null"]
    convolutions = [node["name"] for node in operators if node["op"] == quantize.CONV_OP]
    dense = [node["name"] for node in operators if node["op"] == quantize.DENSE_OP]
    assert not convolutions[0].startswith("quantized_") and not dense[-1].startswith("quantized_")
    assert all(name.startswith("quantized_") for name in convolutions[1:])
    assert any(node["op"] == "_contrib_quantize_v2" for node in operators)


def test_float32_files_stay_and_serve_unchanged(quantized_dir):
    assert artifacts.saved_epochs(quantized_dir) == [1]
    assert not artifacts.missing_files(quantized_dir)


def test_calibration_reads_only_the_images_it_is_given_to_read(trained_dir, tmp_path):
    calibration, _ = _images(256, 1)
    read = []

    def counted():
        for batch in _batches(calibration):
            read.append(batch.shape[0])
            yield batch

    model_dir = shutil.copytree(trained_dir, tmp_path / "model")
    quantize.quantize(model_dir, counted(), 64)
    assert sum(read) == 64


def test_no_calibration_images_is_refused_by_name(trained_dir):
    with pytest.raises(UserError, match="calibration images"):
        quantize.quantize(trained_dir, iter(()), 64)
    assert (trained_dir / artifacts.INT8_PARAMS_FILE).exists()  # the earlier int8 model is left as it was


def test_a_directory_without_a_model_is_refused_by_name(tmp_path):
    with pytest.raises(UserError, match="holds no trained model"):
        quantize.quantize(tmp_path, _batches(_images(32, 1)[0]), 32)


def test_serving_int8_without_the_int8_files_is_refused_by_name(trained_dir, tmp_path):
    model_dir = shutil.copytree(trained_dir, tmp_path / "model")
    (model_dir / artifacts.INT8_PARAMS_FILE).unlink(missing_ok=True)
    with pytest.raises(UserError, match=r"IMAGE_CLASSIFIER_PRECISION=int8.*lacks image-classification-int8\.params"):
        Predictor.load(model_dir, mx.cpu(), "int8")


def test_int8_on_a_gpu_host_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(mx.context, "num_gpus", lambda: 1)
    with pytest.raises(UserError, match="int8 models run on CPUs only"):
        devices.serving_context(0, "int8")
    assert devices.serving_context(0) == mx.gpu(0)


def test_an_int8_only_model_loaded_onto_a_gpu_is_refused_by_name_before_binding(quantized_dir, tmp_path):
    """A multi-model endpoint decides each model's precision from its files: the GPU refusal holds there too."""
    with pytest.raises(UserError, match="int8 models run on CPUs only"):
        Predictor.load(_only_int8(quantized_dir, tmp_path), mx.gpu(0))


def test_the_app_serves_the_int8_model_when_the_setting_says_int8(quantized_dir, tmp_path, monkeypatch):
    shutil.copytree(quantized_dir, tmp_path / "model")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    (label, image), *_ = demo_data.samples(1, SIZE, 9)
    body = io.BytesIO()
    Image.fromarray(image).save(body, "PNG")
    answers = {}
    for precision in PRECISIONS:
        client = create_app(Settings(precision=precision)).test_client()
        response = client.post("/invocations", data=body.getvalue(), headers={"Content-Type": "image/png"})
        assert response.status_code == 200
        answers[precision] = np.array(response.get_json())
    expected = Predictor.load(quantized_dir, mx.cpu(), "int8").predict(PREPROCESSING.apply(image)[None])[0]
    np.testing.assert_allclose(answers["int8"], expected, atol=1e-6)
    assert answers["int8"].argmax() == answers["float32"].argmax()


def _png(seed):
    (_, image), *_ = demo_data.samples(1, SIZE, seed)
    body = io.BytesIO()
    Image.fromarray(image).save(body, "PNG")
    return image, body.getvalue()


def _only_int8(quantized_dir, base_dir):
    """The model directory with its float32 symbol and params left out, as a user ships the int8 model alone."""
    float32_files = shutil.ignore_patterns("image-classification-[0-9]*.params", artifacts.SYMBOL_FILE)
    return shutil.copytree(quantized_dir, base_dir / "model", ignore=float32_files)


def test_the_app_serves_int8_unasked_when_the_directory_holds_only_the_int8_model(quantized_dir, tmp_path, monkeypatch):
    image, body = _png(9)
    expected = {
        precision: Predictor.load(quantized_dir, mx.cpu(), precision).predict(PREPROCESSING.apply(image)[None])[0]
        for precision in PRECISIONS
    }
    for base_dir, precision in ((tmp_path / "both", "float32"), (tmp_path / "int8", "int8")):
        if precision == "int8":
            _only_int8(quantized_dir, base_dir)
        else:
            shutil.copytree(quantized_dir, base_dir / "model")
        monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base_dir))
        response = (
            create_app(Settings()).test_client().post("/invocations", data=body, headers={"Content-Type": "image/png"})
        )
        assert response.status_code == 200
        np.testing.assert_allclose(response.get_json(), expected[precision], atol=1e-6)


def test_float32_asked_of_a_directory_holding_only_the_int8_model_is_refused_by_name(
    quantized_dir, tmp_path, monkeypatch
):
    _only_int8(quantized_dir, tmp_path)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    refusal = r"IMAGE_CLASSIFIER_PRECISION=float32, and the model directory .* holds only the int8 model"
    with pytest.raises(UserError, match=refusal):
        create_app(Settings(precision="float32"))
    result = subprocess.run(
        [sys.executable, "-c", "from image_classifier import cli; raise SystemExit(cli.serve_main())"],
        env=dict(os.environ, IMAGE_CLASSIFIER_PRECISION="float32"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert re.search(refusal, result.stdout + result.stderr)
    assert "unset IMAGE_CLASSIFIER_PRECISION (or set it to int8) to serve it" in result.stdout + result.stderr


def test_a_multi_label_model_quantizes_with_its_sigmoids(tmp_path):
    """Untrained: its outputs are far from calibrated, so only the per-class decisions are compared."""
    model_dir = export_model(tmp_path / "model", SHAPE, multi_label=True)
    images, _ = _images(64, 3)
    quantize.quantize(model_dir, _batches(images), 64)
    float32 = Predictor.load(model_dir, mx.cpu()).predict(images)
    int8 = Predictor.load(model_dir, mx.cpu(), "int8").predict(images)
    assert np.abs(int8.sum(1) - 1).mean() > 0.05  # independent per-class probabilities, not a softmax
    assert ((int8 > 0.5) == (float32 > 0.5)).mean() >= 0.9  # the same classes predicted present
