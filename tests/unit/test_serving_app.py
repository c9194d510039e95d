"""The Flask app and its model in-process, with tiny real networks: shapes, equality, faults, batching."""

import base64
import io
import json
import threading

import mxnet as mx
import numpy as np
import pytest
from PIL import Image
from serving_models import CLASS_NAMES, export_model

from image_classifier.errors import UserError
from image_classifier.model import artifacts
from image_classifier.serving.app import create_app
from image_classifier.serving.batching import Batcher
from image_classifier.serving.predictor import MAX_BATCH, Predictor
from image_classifier.serving.settings import Settings

RNG = np.random.default_rng(0)
IMAGES = [RNG.integers(0, 256, (16 + index, 20, 3), dtype=np.uint8) for index in range(5)]


def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def in_process(model_dir, arrays):
    """What the saved model says about ``arrays`` (RGB uint8), without any serving code."""
    preprocessing = artifacts.read_preprocessing(model_dir)
    batch = np.stack([preprocessing.apply(array) for array in arrays])
    return artifacts.load(model_dir)(mx.nd.array(batch)).asnumpy()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return export_model(tmp_path_factory.mktemp("served") / "model")


@pytest.fixture(scope="module")
def predictor(model_dir):
    return Predictor.load(model_dir, mx.cpu())


@pytest.fixture(scope="module")
def client(predictor):
    return create_app(Settings(max_images=20), predictor).test_client()


def invoke(client, body, content_type, **headers):
    return client.post("/invocations", data=body, headers={"Content-Type": content_type, **headers})


def test_ping_is_an_empty_200(client):
    response = client.get("/ping")
    assert (response.status_code, response.data) == (200, b"")


def test_execution_parameters(client):
    assert client.get("/execution-parameters").get_json() == {
        "MaxConcurrentTransforms": 2,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


def test_one_image_equals_the_model_in_process(client, model_dir):
    response = invoke(client, png(IMAGES[0]), "image/png")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert np.abs(np.array(response.get_json()) - in_process(model_dir, IMAGES[:1])[0]).max() < 1e-5


def test_more_images_than_one_forward_pass_come_back_in_order(client, model_dir):
    arrays = [RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(MAX_BATCH + 3)]
    response = invoke(client, npy(np.stack(arrays)), "application/x-npy")
    assert np.abs(np.array(response.get_json()) - in_process(model_dir, arrays)).max() < 1e-5


def test_several_images_name_the_bad_one(client):
    lines = [json.dumps({"b64": base64.b64encode(body).decode()}) for body in (png(IMAGES[0]), b"garbage")]
    response = invoke(client, "\n".join(lines), "application/jsonlines")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("Image 2: The body is not an image")


def test_too_many_images(client):
    response = invoke(client, npy(np.zeros((21, 16, 16, 3), np.uint8)), "application/x-npy")
    assert response.status_code == 413
    assert response.get_json() == {
        "error": "The request holds 21 images, more than the 20 that IMAGE_CLASSIFIER_MAX_IMAGES allows"
    }


def test_payload_limit(predictor):
    client = create_app(Settings(max_payload_mb=1), predictor).test_client()
    response = invoke(client, b"\0" * (1024 * 1024 + 1), "image/png")
    assert response.status_code == 413
    assert response.get_json() == {"error": "The request body is larger than SAGEMAKER_MAX_PAYLOAD_IN_MB (1 MB) allows"}


def test_default_accept_setting(predictor):
    client = create_app(Settings(default_accept="application/jsonlines"), predictor).test_client()
    response = invoke(client, png(IMAGES[0]), "image/png", Accept="*/*")
    assert response.mimetype == "application/jsonlines" and list(json.loads(response.data)) == ["prediction"]


def test_our_faults_are_one_line_500s_and_the_app_carries_on(client, predictor, monkeypatch, caplog):
    def broken(_batch):
        raise RuntimeError("device lost\n  at line 2")

    with monkeypatch.context() as patch:
        patch.setattr(predictor, "predict", broken)
        response = invoke(client, png(IMAGES[0]), "image/png")
    assert response.status_code == 500
    assert response.get_json() == {"error": "Internal error (RuntimeError); the endpoint's log has the details"}
    assert "Traceback" in caplog.text and b"Traceback" not in response.data
    assert invoke(client, png(IMAGES[0]), "image/png").status_code == 200


def test_multi_label_probabilities_are_independent(tmp_path):
    model_dir = export_model(tmp_path / "model", multi_label=True)
    client = create_app(Settings(), Predictor.load(model_dir, mx.cpu())).test_client()
    probabilities = np.array(invoke(client, png(IMAGES[0]), "image/png").get_json())
    assert probabilities.shape == (len(CLASS_NAMES),) and abs(probabilities.sum() - 1) > 1e-3
    assert np.abs(probabilities - in_process(model_dir, IMAGES[:1])[0]).max() < 1e-5


def test_builtin_artifacts_squash_raw_pixels_and_name_classes_by_index(tmp_path):
    model_dir = export_model(tmp_path / "model", builtin=True)
    predictor = Predictor.load(model_dir, mx.cpu())
    assert predictor.preprocessing.crop == "squash" and predictor.class_names == {}
    response = invoke(
        create_app(Settings(), predictor).test_client(),
        png(IMAGES[2]),
        "image/png",
        **{"X-Amzn-SageMaker-Custom-Attributes": "top_k=4"},
    )
    result = response.get_json()
    assert sorted(item["label"] for item in result["top_k"]) == ["0", "1", "2", "3"]
    assert np.abs(np.array(result["prediction"]) - in_process(model_dir, IMAGES[2:3])[0]).max() < 1e-5


def test_missing_model_files_are_named(tmp_path):
    with pytest.raises(
        UserError, match="lacks image-classification-symbol.json, model-shapes.json, image-classification-NNNN.params"
    ):
        Predictor.load(tmp_path, mx.cpu())


def test_dynamic_batching_answers_each_request_with_its_own_rows(predictor):
    batcher = Batcher(predictor, max_images=6)
    batches = [
        np.random.default_rng(seed).normal(size=(1 + seed % 3, 3, 16, 16)).astype(np.float32) for seed in range(12)
    ]
    results = [None] * len(batches)

    def run(index):
        results[index] = batcher.predict(batches[index])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for batch, result in zip(batches, results):
        assert np.abs(result - predictor.predict(batch)).max() < 1e-5


def test_dynamic_batching_passes_faults_to_the_request(predictor, monkeypatch):
    batcher = Batcher(predictor, max_images=4)
    monkeypatch.setattr(predictor, "predict", lambda _batch: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        batcher.predict(np.zeros((1, 3, 16, 16), np.float32))
    monkeypatch.undo()
    assert batcher.predict(np.zeros((1, 3, 16, 16), np.float32)).shape == (1, len(CLASS_NAMES))


def test_dynamic_batching_app_gives_the_same_answers(predictor, client):
    batched = create_app(Settings(dynamic_batch=4), predictor).test_client()
    for image in IMAGES:
        assert invoke(batched, png(image), "image/png").get_json() == invoke(client, png(image), "image/png").get_json()
