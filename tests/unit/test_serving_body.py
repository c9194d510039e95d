"""Request bodies as the app reads them: whole, within the byte limit (0: our memory bound), or in pieces (JSON Lines,
RecordIO), or an error."""

import base64
import io
import json
import tracemalloc

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


def test_payload_limit_zero_reads_several_images_of_any_size_each_line_within_our_memory_bound(predictor):
    body = jsonlines(2000)  # over the 1 MB bound below
    client = create_app(Settings(max_payload_mb=0, max_body_mb=1, max_images=2000), predictor).test_client()
    assert len(post(client, body).get_json()) == 2000
    assert len(post_unsized(client, body).get_json()) == 2000
    assert client.get("/execution-parameters").get_json()["MaxPayloadInMB"] == 0
    long_line = json.dumps({"b64": "A" * (MB + 4)}).encode()
    response = post(client, body[:1000] + long_line)
    assert response.status_code == 413
    assert response.get_json()["error"].startswith(
        "A line or record of the request body is larger than IMAGE_CLASSIFIER_MAX_BODY_IN_MB (1 MB"
    )


def test_payload_limit_zero_bounds_a_body_read_whole_by_our_memory_bound(predictor):
    client = create_app(Settings(max_payload_mb=0, max_body_mb=1), predictor).test_client()
    response = client.post("/invocations", data=png(0) + b"\0" * MB, headers={"Content-Type": "image/png"})
    assert response.status_code == 413 and "IMAGE_CLASSIFIER_MAX_BODY_IN_MB (1 MB" in response.get_json()["error"]


@pytest.mark.parametrize("content_type", ["application/jsonlines", "application/x-recordio"])
def test_several_images_are_read_in_pieces_never_held_whole(predictor, tmp_path, content_type):
    count = 3000
    if content_type == "application/jsonlines":
        body = jsonlines(count)
    else:
        writer = mx.recordio.MXRecordIO(str(tmp_path / "body.rec"), "w")
        for index in range(count):
            writer.write(png(index))
        writer.close()
        body = (tmp_path / "body.rec").read_bytes()
    client = create_app(Settings(max_payload_mb=0, max_images=count), predictor).test_client()
    stream = io.BytesIO(body)
    tracemalloc.start()
    response = client.post(
        "/invocations",
        headers={"Content-Type": content_type, "Accept": "application/jsonlines"},
        environ_overrides={"wsgi.input": stream, "CONTENT_LENGTH": str(len(body))},
    )
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    lines = response.get_data().splitlines()
    assert response.status_code == 200 and len(lines) == count
    assert all(len(json.loads(line)["prediction"]) == predictor.num_classes for line in lines)
    assert peak < len(body) / 3, (peak, len(body))


def test_a_body_shorter_than_its_content_length_is_400(predictor):
    client = create_app(Settings(), predictor).test_client()
    body = jsonlines(3)
    response = client.post(
        "/invocations",
        headers={"Content-Type": "application/jsonlines"},
        environ_overrides={"wsgi.input": io.BytesIO(body[:-10]), "CONTENT_LENGTH": str(len(body))},
    )
    assert response.status_code == 400 and "before the body did" in response.get_json()["error"]
