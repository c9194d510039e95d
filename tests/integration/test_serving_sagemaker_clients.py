"""`serve` spoken to as SageMaker's own clients speak: batch transform, and the SageMaker Python SDK's serializers.

The SDK's local mode needs Docker, so its requests are reproduced here:
- Batch transform splits each input object by SplitType (None: the whole object; Line: one line per record;
  RecordIO: one framed record per record), then sends one record per request (SingleRecord; for RecordIO
  with the framing removed) or as many as fit in MaxPayloadInMB (MultiRecord; framing kept). With
  AssembleWith=Line it writes each answer followed by a newline; with None, the answers back to back.
- sagemaker.serializers (sagemaker-python-sdk 2.x, base_serializers.py): IdentitySerializer sends the
  bytes as they are; NumpySerializer sends ``np.save`` of an array as it is (its dtype argument only
  applies to lists, through ``np.array(data, dtype)``); JSONLinesSerializer joins ``json.dumps`` of each
  item with "\n", no newline after the last.
"""

import base64
import io
import json
import struct

import mxnet as mx
import numpy as np
import pytest
from data_layouts import recordio_bytes
from mxnet import recordio
from serving_process import ServeProcess, trained_model_dir

from image_classifier import demo_data, image_ops
from image_classifier.model import artifacts

RNG = np.random.default_rng(7)
IMAGES = [demo_data.render(label % 4, 32, RNG) for label in range(7)]
PNGS = [image_ops.encode(image, "PNG") for image in IMAGES]
JSONLINES = "application/jsonlines"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return trained_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def server(model_dir):
    with ServeProcess(model_dir.parent) as process:
        process.wait_until_ready()
        yield process


@pytest.fixture(scope="module")
def expected(model_dir):
    """The saved model's probabilities for IMAGES, in this process, without any serving code."""
    preprocessing = artifacts.read_preprocessing(model_dir)
    batch = np.stack([preprocessing.apply(image) for image in IMAGES])
    return artifacts.load(model_dir)(mx.nd.array(batch)).asnumpy()


def close(answer, reference):
    return np.abs(np.asarray(answer, np.float64) - reference).max() < 1e-5


def record_length(framed, offset=0):
    return struct.unpack_from("<II", framed, offset)[1] & ((1 << 29) - 1)


def framed_records(rec_file):
    """SplitType=RecordIO: each record with its framing (magic, length, data, padding to 4 bytes)."""
    pieces, offset = [], 0
    while offset < len(rec_file):
        end = offset + 8 + (record_length(rec_file, offset) + 3) // 4 * 4
        pieces.append(rec_file[offset:end])
        offset = end
    return pieces


def unframed(record):
    """BatchStrategy=SingleRecord: the record's data alone, framing and padding removed."""
    return record[8 : 8 + record_length(record)]


def batch_transform_bodies(data, split_type, strategy, max_payload_bytes):
    """The request bodies batch transform sends for one input object."""
    if split_type == "None":
        return [data]
    pieces = framed_records(data) if split_type == "RecordIO" else data.splitlines(keepends=True)
    if strategy == "SingleRecord":
        return [unframed(piece) if split_type == "RecordIO" else piece for piece in pieces]
    bodies = [b""]
    for piece in pieces:
        if bodies[-1] and len(bodies[-1]) + len(piece) > max_payload_bytes:
            bodies.append(b"")
        bodies[-1] += piece
    return bodies


def assemble(answers, assemble_with):
    return b"".join(answer + b"\n" if assemble_with == "Line" else answer for answer in answers)


def rec_file(tmp_path, packed):
    datas = [
        recordio.pack(recordio.IRHeader(0, float(label % 4), label, 0), image) if packed else image
        for label, image in enumerate(PNGS)
    ]
    return recordio_bytes(tmp_path / "input.rec", datas)


def jsonlines_file():
    return b"".join(json.dumps({"b64": base64.b64encode(image).decode()}).encode() + b"\n" for image in PNGS)


@pytest.mark.parametrize("strategy", ["SingleRecord", "MultiRecord"])
@pytest.mark.parametrize(
    "split_type, content_type, packed",
    [
        ("RecordIO", "application/x-recordio", True),  # im2rec's IRHeader and image
        ("RecordIO", "application/x-recordio", False),  # an encoded image per record
        ("Line", JSONLINES, False),
        ("None", "application/x-recordio", True),
        ("None", JSONLINES, False),
    ],
)
def test_batch_transform_assembled_with_line_has_one_line_per_record(
    server, expected, tmp_path, strategy, split_type, content_type, packed
):
    data = rec_file(tmp_path, packed) if content_type != JSONLINES else jsonlines_file()
    bodies = batch_transform_bodies(data, split_type, strategy, max_payload_bytes=4 * len(PNGS[0]))
    if split_type != "None":
        assert len(bodies) == len(IMAGES) if strategy == "SingleRecord" else 1 < len(bodies) < len(IMAGES)
    answers = []
    for body in bodies:
        response = server.post(body, content_type, Accept=JSONLINES)
        assert response.status_code == 200, response.text
        answers.append(response.content)
    assembled = assemble(answers, "Line").decode()
    lines = assembled.split("\n")
    assert lines[-1] == "" and len(lines[:-1]) == len(IMAGES), assembled
    assert close([json.loads(line)["prediction"] for line in lines[:-1]], expected)


def test_a_whole_image_per_object_assembles_to_one_line_each(server, expected):
    """SplitType=None over a folder of images: one request and one answer line per image."""
    answers = [server.post(image, "application/x-image", Accept=JSONLINES).content for image in PNGS]
    lines = assemble(answers, "Line").decode().split("\n")[:-1]
    assert close([json.loads(line)["prediction"] for line in lines], expected)


@pytest.mark.parametrize(
    "accept, content_type",
    [
        ("application/json; charset=utf-8", "application/json"),
        ("application/jsonlines; verbose=true", JSONLINES),
        ("application/json; q=0.5, application/jsonlines; verbose=true", JSONLINES),
        ("text/csv, application/json; charset=utf-8; q=0.1", "application/json"),
    ],
)
def test_accept_with_parameters(server, expected, accept, content_type):
    response = server.post(PNGS[0], "image/png", Accept=accept)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == content_type
    answer = response.json() if content_type == "application/json" else json.loads(response.text)["prediction"]
    assert close(answer, expected[0])


@pytest.mark.parametrize(
    "content_type",
    [
        "image/png; charset=binary",
        "application/x-image; q=1",
        "Application/X-Image",
        "application/jsonlines; charset=utf-8",
    ],
)
def test_content_type_with_parameters(server, expected, content_type):
    body = PNGS[0] if "jsonlines" not in content_type else jsonlines_file()
    response = server.post(body, content_type)
    assert response.status_code == 200, response.text
    assert close(response.json(), expected if "jsonlines" in content_type else expected[0])


def numpy_serializer(data, dtype=None):
    """sagemaker.serializers.NumpySerializer(dtype).serialize(data)."""
    array = data if isinstance(data, np.ndarray) else np.array(data, dtype)
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_identity_serializer(server, expected):
    response = server.post(PNGS[3], "application/x-image")
    assert close(response.json(), expected[3])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_serializer_with_float_arrays(server, model_dir, expected, dtype):
    preprocessing = artifacts.read_preprocessing(model_dir)
    preprocessed = np.stack([preprocessing.apply(image) for image in IMAGES])
    tolerance = 0.05 if dtype == np.float16 else 1e-5
    one = server.post(numpy_serializer(preprocessed[0].astype(dtype)), "application/x-npy")
    several = server.post(numpy_serializer(preprocessed.astype(dtype)), "application/x-npy", Accept=JSONLINES)
    from_list = server.post(numpy_serializer(preprocessed[0].tolist(), dtype), "application/x-npy")
    assert one.status_code == several.status_code == from_list.status_code == 200, (one.text, several.text)
    assert np.abs(np.array(one.json()) - expected[0]).max() < tolerance
    assert np.abs(np.array(from_list.json()) - expected[0]).max() < tolerance
    lines = several.text.split("\n")
    assert np.abs(np.array([json.loads(line)["prediction"] for line in lines]) - expected).max() < tolerance


def test_numpy_serializer_with_uint8_pixels(server, expected):
    one = server.post(numpy_serializer(IMAGES[2]), "application/x-npy")
    several = server.post(numpy_serializer(np.stack(IMAGES)), "application/x-npy")
    from_list = server.post(numpy_serializer(IMAGES[2].tolist(), "uint8"), "application/x-npy")
    assert close(one.json(), expected[2]) and close(several.json(), expected) and close(from_list.json(), expected[2])


def test_jsonlines_serializer(server, expected):
    body = "\n".join(json.dumps({"b64": base64.b64encode(image).decode()}) for image in PNGS)
    response = server.post(body, JSONLINES, Accept=JSONLINES)
    assert close([json.loads(line)["prediction"] for line in response.text.split("\n")], expected)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.full((3, 32, 32), 3e38, np.float32), "The model's output for this input is not a number"),
        (
            np.full((2, 3, 32, 32), 1e300, np.float64),
            "Image 1: A preprocessed float array holds NaN or infinite values",
        ),
    ],
)
def test_inputs_that_make_the_model_non_finite_are_bad_requests(server, array, message):
    response = server.post(numpy_serializer(array), "application/x-npy")
    assert response.status_code == 400 and response.json()["error"].startswith(message), response.text
