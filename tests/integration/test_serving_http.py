"""`serve` over real HTTP with a model `train` just wrote: formats, shapes, equality with the model, errors."""

import base64
import io
import json
import re
import struct
import zlib

import mxnet as mx
import numpy as np
import pytest
import requests
from data_layouts import recordio_bytes
from mxnet import recordio
from PIL import Image
from serving_process import ServeProcess, trained_model_dir

from image_classifier import demo_data, image_ops
from image_classifier.model import artifacts
from image_classifier.serving import records

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
IMAGES = [demo_data.render(label, 32 + 8 * label, np.random.default_rng(label)) for label in range(4)]


def png(rgb):
    return image_ops.encode(rgb, "PNG")


def jpeg(rgb):
    return image_ops.encode(rgb, "JPEG")


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def jsonlines_body(encoded_images):
    return "".join(json.dumps({"b64": base64.b64encode(data).decode()}) + "\n" for data in encoded_images)


def huge_png_header():
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return trained_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def server(model_dir):
    with ServeProcess(model_dir.parent) as process:
        process.wait_until_ready()
        yield process


@pytest.fixture(scope="module")
def reference(model_dir):
    """The saved model's probabilities for RGB arrays, in this process, without any serving code."""
    net = artifacts.load(model_dir)
    preprocessing = artifacts.read_preprocessing(model_dir)

    def probabilities(arrays):
        return net(mx.nd.array(np.stack([preprocessing.apply(array) for array in arrays]))).asnumpy()

    return probabilities


def close(answer, expected):
    return np.abs(np.asarray(answer, np.float64) - expected).max() < 1e-5


def test_ping_and_execution_parameters(server):
    ping = server.get("/ping")
    assert (ping.status_code, ping.content) == (200, b"")
    assert server.get("/execution-parameters").json() == {
        "MaxConcurrentTransforms": 2,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "application/x-image"])
@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/jsonlines"])
def test_one_image_in_every_type_and_accept(server, reference, content_type, accept):
    body = jpeg(IMAGES[1]) if content_type == "image/jpeg" else png(IMAGES[1])
    decoded = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    response = server.post(body, content_type, **({"Accept": accept} if accept else {}))
    assert response.status_code == 200, response.text
    if accept == "application/jsonlines":
        assert response.headers["Content-Type"] == "application/jsonlines"
        (line,) = response.text.splitlines()
        answer = json.loads(line)["prediction"]
    else:
        assert response.headers["Content-Type"] == "application/json"
        answer = response.json()
    assert close(answer, reference([decoded])[0])


def test_several_images_in_every_multi_image_type_come_back_in_order(server, reference, tmp_path):
    expected = reference(IMAGES)
    packed = [
        recordio.pack(recordio.IRHeader(0, float(label), label, 0), png(image)) for label, image in enumerate(IMAGES)
    ]
    bodies = {
        "recordio": (
            recordio_bytes(tmp_path / "plain.rec", [png(image) for image in IMAGES]),
            "application/x-recordio",
        ),
        "im2rec recordio": (recordio_bytes(tmp_path / "im2rec.rec", packed), "application/x-recordio"),
        "jsonlines": (jsonlines_body([png(image) for image in IMAGES]), "application/jsonlines"),
    }
    for name, (body, content_type) in bodies.items():
        as_json = server.post(body, content_type)
        as_lines = server.post(body, content_type, Accept="application/jsonlines")
        assert as_json.status_code == as_lines.status_code == 200, (name, as_json.text)
        assert close(as_json.json(), expected), name
        assert close([json.loads(line)["prediction"] for line in as_lines.text.splitlines()], expected), name


def test_npy_pixels_and_preprocessed_arrays(server, reference, model_dir):
    same_size = [image[:32, :32] for image in IMAGES]
    expected = reference(same_size)
    preprocessing = artifacts.read_preprocessing(model_dir)
    assert close(server.post(npy(same_size[0]), "application/x-npy").json(), expected[0])
    assert close(server.post(npy(np.stack(same_size)), "application/x-npy").json(), expected)
    preprocessed = np.stack([preprocessing.apply(image) for image in same_size])
    assert close(server.post(npy(preprocessed[0]), "application/x-npy").json(), expected[0])
    assert close(server.post(npy(preprocessed), "application/x-npy").json(), expected)


def test_top_k_names_classes_without_changing_the_default_shape(server, reference):
    expected = reference(IMAGES[:2])
    body = jsonlines_body([png(image) for image in IMAGES[:2]])
    plain = server.post(body, "application/jsonlines", Accept="application/jsonlines")
    assert [list(json.loads(line)) for line in plain.text.splitlines()] == [["prediction"], ["prediction"]]
    named = server.post(body, "application/jsonlines", Accept="application/jsonlines", **{CUSTOM_ATTRIBUTES: "top_k=3"})
    for line, probabilities in zip(named.text.splitlines(), expected):
        result = json.loads(line)
        best = np.argsort(-probabilities)[:3]
        assert [item["index"] for item in result["top_k"]] == best.tolist()
        assert [item["label"] for item in result["top_k"]] == [demo_data.CLASS_NAMES[i] for i in best]
        assert close([item["probability"] for item in result["top_k"]], probabilities[best])
        assert close(result["prediction"], probabilities)
    single = server.post(png(IMAGES[0]), "image/png", **{CUSTOM_ATTRIBUTES: "top_k=1"}).json()
    assert single["top_k"][0]["label"] == demo_data.CLASS_NAMES[int(np.argmax(reference(IMAGES[:1])[0]))]


ERRORS = [
    ("empty body", b"", "image/jpeg", {}, 400, "The request body is empty"),
    ("random bytes", np.random.default_rng(0).bytes(2000), "application/x-image", {}, 400, "not an image"),
    ("truncated JPEG", jpeg(IMAGES[3])[:300], "image/jpeg", {}, 400, "could not be decoded|header is damaged"),
    ("too small", png(IMAGES[0][:16, :16]), "image/png", {}, 400, "smaller than the model's 32x32 input"),
    ("bad JSON Lines", b'{"b64": 3}\n', "application/jsonlines", {}, 400, "Line 1 must be a JSON object"),
    ("bad npy", b"\x93NUMPY garbage", "application/x-npy", {}, 400, "format version 32.103 is not supported"),
    ("not npy", b"garbage", "application/x-npy", {}, 400, "not a .npy array"),
    (
        "wrong float shape",
        npy(np.zeros((3, 8, 8), np.float32)),
        "application/x-npy",
        {},
        400,
        r"input shape \(3, 32, 32\)",
    ),
    ("bad RecordIO", b"\0" * 16, "application/x-recordio", {}, 400, "neither an image nor an im2rec IRHeader"),
    (
        "bad RecordIO framing",
        records.MAGIC_BYTES + b"\0" * 2,
        "application/x-recordio",
        {},
        400,
        "ends inside a record header at byte 0",
    ),
    ("bad top_k", png(IMAGES[0]), "image/png", {CUSTOM_ATTRIBUTES: "top_k=5"}, 400, "from 1 to 4, not '5'"),
    ("Accept", png(IMAGES[0]), "image/png", {"Accept": "text/csv"}, 406, "matches nothing this endpoint writes"),
    ("bytes", b"\0" * (6 * 1024 * 1024 + 1), "image/png", {}, 413, "larger than SAGEMAKER_MAX_PAYLOAD_IN_MB"),
    ("pixels", huge_png_header(), "image/png", {}, 413, "more than the 50000000 that IMAGE_CLASSIFIER_MAX_PIXELS"),
    (
        "images",
        npy(np.zeros((1001, 1, 1, 3), np.uint8)),
        "application/x-npy",
        {},
        413,
        "1001 images, more than the 1000",
    ),
    ("Content-Type", b"a,b\n", "text/csv", {}, 415, "Content-Type 'text/csv' is not supported"),
]


@pytest.mark.parametrize(
    "body, content_type, headers, status, message", [error[1:] for error in ERRORS], ids=[error[0] for error in ERRORS]
)
def test_error_statuses_and_messages(server, body, content_type, headers, status, message):
    response = server.post(body, content_type, **headers)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    (error,) = response.json().values()
    assert list(response.json()) == ["error"] and "\n" not in error and "Traceback" not in error
    assert re.search(message, error), error


def test_no_content_type_and_unknown_routes(server):
    missing = requests.post(server.url + "/invocations", data=png(IMAGES[0]), timeout=60)
    assert missing.status_code == 415 and "Content-Type '(none)'" in missing.json()["error"]
    assert server.get("/nowhere").status_code == 404 and "error" in server.get("/nowhere").json()
    assert server.get("/invocations").status_code == 405


def malformed_bodies(count):
    """(body, content type) pairs of every kind a careless or hostile client sends."""
    rng = np.random.default_rng(1)
    good_jpeg = jpeg(IMAGES[2])
    makers = [
        lambda: (good_jpeg[: int(rng.integers(1, len(good_jpeg) - 1))], "image/jpeg"),
        lambda: (rng.bytes(int(rng.integers(1, 5000))), "application/x-image"),
        lambda: (b"", "image/png"),
        lambda: (huge_png_header(), "image/png"),
        lambda: (rng.bytes(100), "application/x-recordio"),
        lambda: (rng.bytes(100), "application/x-npy"),
        lambda: (b"\n".join(rng.bytes(30) for _ in range(3)), "application/jsonlines"),
        lambda: (good_jpeg, "application/json"),
        lambda: (npy(np.full((2, 3, 32, 32), np.nan, np.float32)), "application/x-npy"),
    ]
    return [makers[index % len(makers)]() for index in range(count)]


def test_survives_malformed_bodies_without_restarting_a_worker(server, reference):
    workers_before = server.worker_pids()
    statuses = [server.post(body, content_type).status_code for body, content_type in malformed_bodies(200)]
    assert set(statuses) <= {400, 413, 415}, sorted(set(statuses))
    assert server.get("/ping").status_code == 200
    assert close(server.post(png(IMAGES[0]), "image/png").json(), reference(IMAGES[:1])[0])
    assert server.worker_pids() == workers_before
