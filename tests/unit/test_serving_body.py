"""Request bodies as the app reads them: whole, within the byte limit (0: our memory bound), or an error."""

import base64
import io
import json

import mxnet as mx
import numpy as np
import pytest
from PIL import Image
from serving_models import export_model

from image_classifier.serving.app import create_app
from image_classifier.serving.predictor import Predictor
from image_classifier.serving.settings import Settings

MB = 1024 * 1024


def png(seed):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def post_unsized(client, body):
    """A body without Content-Length, as a WSGI server might hand one over."""
    return client.post(
        "/invocations",
        headers={"Content-Type": "application/jsonlines"},
        environ_overrides={"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": "", "wsgi.input_terminated": True},
    )


def post(client, body, **environ):
    return client.post(
        "/invocations", data=body, headers={"Content-Type": "application/jsonlines"}, environ_overrides=environ
    )


def jsonlines(count):
    return b"".join(
        json.dumps({"b64": base64.b64encode(png(index)).decode()}).encode() + b"\n" for index in range(count)
    )


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return Predictor.load(export_model(tmp_path_factory.mktemp("served") / "model"), mx.cpu())


def test_a_body_within_the_limit_is_read_whole(predictor):
    client = create_app(Settings(), predictor).test_client()
    assert len(post(client, jsonlines(5)).get_json()) == 5
    assert len(post_unsized(client, jsonlines(5)).get_json()) == 5


@pytest.mark.parametrize("send", [post, post_unsized], ids=["Content-Length", "no Content-Length"])
def test_a_body_over_the_limit_is_413_never_a_part(predictor, send):
    body = jsonlines(2000)  # about 2.2 MB: over a 1 MB limit, and every prefix of whole lines is valid
    assert 2 * MB < len(body) < 3 * MB
    client = create_app(Settings(max_payload_mb=1), predictor).test_client()
    response = send(client, body)
    assert response.status_code == 413
    assert response.get_json() == {"error": "The request body is larger than SAGEMAKER_MAX_PAYLOAD_IN_MB (1 MB) allows"}


def test_payload_limit_zero_reads_any_body_up_to_our_memory_bound(predictor):
    body = jsonlines(2000)
    unlimited = create_app(Settings(max_payload_mb=0, max_body_mb=3, max_images=2000), predictor).test_client()
    assert len(post(unlimited, body).get_json()) == 2000
    assert unlimited.get("/execution-parameters").get_json()["MaxPayloadInMB"] == 0
    bounded = create_app(Settings(max_payload_mb=0, max_body_mb=2), predictor).test_client()
    response = post_unsized(bounded, body)
    assert response.status_code == 413 and "IMAGE_CLASSIFIER_MAX_BODY_IN_MB (2 MB" in response.get_json()["error"]


def test_a_body_shorter_than_its_content_length_is_400(predictor):
    client = create_app(Settings(), predictor).test_client()
    body = jsonlines(3)
    response = client.post(
        "/invocations",
        headers={"Content-Type": "application/jsonlines"},
        environ_overrides={"wsgi.input": io.BytesIO(body[:-10]), "CONTENT_LENGTH": str(len(body))},
    )
    assert response.status_code == 400 and "before the body did" in response.get_json()["error"]
