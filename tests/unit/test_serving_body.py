"""Request bodies as gunicorn hands them to the app: chunked framing, the byte limit, 0 as no limit of ours."""

import base64
import io
import json

import mxnet as mx
import numpy as np
import pytest
from gunicorn.config import Config
from gunicorn.http.parser import RequestParser
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


def chunked(body, chunk_size=64 * 1024):
    pieces = [body[start : start + chunk_size] for start in range(0, len(body), chunk_size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def gunicorn_input(framed_body):
    """The wsgi.input gunicorn gives the app for a chunked request with this framing."""
    raw = (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/jsonlines\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + framed_body
    )
    request = next(RequestParser(Config(), [raw], ("127.0.0.1", 0)))
    return request.body


def post_chunked(client, framed_body):
    return client.post(
        "/invocations",
        headers={"Content-Type": "application/jsonlines"},
        environ_overrides={
            "wsgi.input": gunicorn_input(framed_body),
            "CONTENT_LENGTH": "",
            "wsgi.input_terminated": True,
        },
    )


def jsonlines(count):
    return b"".join(
        json.dumps({"b64": base64.b64encode(png(index)).decode()}).encode() + b"\n" for index in range(count)
    )


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return Predictor.load(export_model(tmp_path_factory.mktemp("served") / "model"), mx.cpu())


def test_a_chunked_body_within_the_limit_is_read_whole(predictor):
    client = create_app(Settings(), predictor).test_client()
    response = post_chunked(client, chunked(jsonlines(5), chunk_size=100))
    assert response.status_code == 200 and len(response.get_json()) == 5


def test_a_chunked_body_over_the_limit_is_413_never_a_part(predictor):
    body = jsonlines(2000)  # about 2.2 MB: over a 1 MB limit, and every prefix of whole lines is valid
    assert 2 * MB < len(body) < 3 * MB
    client = create_app(Settings(max_payload_mb=1), predictor).test_client()
    response = post_chunked(client, chunked(body))
    assert response.status_code == 413
    assert response.get_json() == {"error": "The request body is larger than SAGEMAKER_MAX_PAYLOAD_IN_MB (1 MB) allows"}


def test_payload_limit_zero_reads_any_body_up_to_our_memory_bound(predictor):
    body = jsonlines(2000)
    unlimited = create_app(Settings(max_payload_mb=0, max_body_mb=3, max_images=2000), predictor).test_client()
    assert len(post_chunked(unlimited, chunked(body)).get_json()) == 2000
    assert unlimited.get("/execution-parameters").get_json()["MaxPayloadInMB"] == 0
    bounded = create_app(Settings(max_payload_mb=0, max_body_mb=2), predictor).test_client()
    response = post_chunked(bounded, chunked(body))
    assert response.status_code == 413 and "IMAGE_CLASSIFIER_MAX_BODY_IN_MB (2 MB" in response.get_json()["error"]


MALFORMED_FRAMING = {
    "invalid chunk size": b"zz\r\nabc\r\n0\r\n\r\n",
    "negative chunk size": b"-5\r\nabcde\r\n0\r\n\r\n",
    "missing CRLF after a chunk": b"3\r\nabcXY3\r\nabc\r\n0\r\n\r\n",
    "bad trailer": b"3\r\nabc\r\n0\r\nno colon here\r\n\r\n",
    "body ends inside a chunk": b"10\r\nabc",
}


@pytest.mark.parametrize("framing", MALFORMED_FRAMING.values(), ids=MALFORMED_FRAMING.keys())
def test_malformed_chunked_framing_is_400(predictor, framing):
    response = post_chunked(create_app(Settings(), predictor).test_client(), framing)
    assert response.status_code == 400, response.get_json()
    (message,) = response.get_json().values()
    assert "\n" not in message and ("chunked transfer encoding" in message or "before the body did" in message)
