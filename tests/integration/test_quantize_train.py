"""The real `train` with quantize=int8 writes the int8 model beside the float32 one; `serve` serves it when told."""

import io
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from serving_process import ServeProcess, console_script
from training_process import TINY, run_train

from image_classifier import demo_data
from image_classifier.model import artifacts


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base_dir = demo_data.write_job(
        tmp_path_factory.mktemp("job") / "ml",
        64,
        40,
        16,
        **{**TINY, "quantize": "int8", "quantize_calibration_images": 32},
    )
    result = run_train(base_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    return base_dir, result.stdout


def test_quantize_int8_writes_the_int8_model_beside_the_float32_files(trained):
    base_dir, stdout = trained
    model_dir = base_dir / "model"
    assert (model_dir / artifacts.INT8_SYMBOL_FILE).is_file() and (model_dir / artifacts.INT8_PARAMS_FILE).is_file()
    assert not artifacts.missing_files(model_dir) and len(artifacts.saved_epochs(model_dir)) == 1
    assert re.search(r"Wrote the int8 model \(image-classification-int8\.params\), calibrated on 32 images", stdout)


def test_the_evaluation_report_holds_the_int8_models_accuracy_and_agreement(trained):
    base_dir, stdout = trained
    report = json.loads((base_dir / "output" / "data" / "evaluation.json").read_text())
    int8 = report["int8"]
    assert int8["model"] == artifacts.INT8_PARAMS_FILE
    assert 0.0 <= int8["accuracy"] <= 1.0 and abs(int8["accuracy"] - report["accuracy"]) <= 0.1
    assert int8["agreement_with_float32"] >= 0.9
    assert "Evaluation of the int8 model (image-classification-int8.params): accuracy=" in stdout


def test_serve_answers_with_the_int8_model_over_http(trained):
    base_dir, _ = trained
    (_, image), *_ = demo_data.samples(1, 16, 5)
    body = io.BytesIO()
    Image.fromarray(image).save(body, "PNG")
    with ServeProcess(base_dir, IMAGE_CLASSIFIER_PRECISION="int8", SAGEMAKER_MODEL_SERVER_WORKERS=1) as server:
        server.wait_until_ready()
        response = server.post(body.getvalue(), "image/png")
        assert response.status_code == 200, response.text
        probabilities = np.array(response.json())
        assert probabilities.shape == (demo_data.NUM_CLASSES,) and abs(probabilities.sum() - 1) < 1e-4
        assert "Model int8 (image-classification-int8.params) loaded" in server.log


def test_serve_int8_without_the_int8_files_refuses_to_start_by_name(trained, tmp_path):
    base_dir, _ = trained
    shutil.copytree(base_dir / "model", tmp_path / "model", ignore=shutil.ignore_patterns("*int8*"))
    result = subprocess.run(
        [console_script("serve")],
        env=dict(os.environ, SAGEMAKER_BASE_DIR=str(tmp_path), IMAGE_CLASSIFIER_PRECISION="int8"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "IMAGE_CLASSIFIER_PRECISION=int8, and the model directory" in result.stdout + result.stderr
    assert "train with the hyperparameter quantize=int8" in result.stdout + result.stderr
