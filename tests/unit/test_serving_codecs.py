"""The wire formats: request decoders, Accept negotiation, response shapes and the custom attributes."""

import base64
import io
import json
import tracemalloc

import numpy as np
import pytest

from image_classifier.serving import codecs, custom_attributes
from image_classifier.serving.errors import BadRequest, NotAcceptable, UnsupportedMediaType

PROBABILITIES = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]], np.float32)
NAMES = {0: "cat", 1: "dog", 2: "fox"}


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def jsonlines(*objects):
    return b"".join(json.dumps(item).encode() + b"\n" for item in objects)


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png", "application/x-image"])
def test_image_types_carry_one_image(content_type):
    payload = codecs.decoder_for(content_type)(b"\xff\xd8 bytes")
    assert (payload.items, payload.several) == ([b"\xff\xd8 bytes"], False)


def test_jsonlines_carries_several_images_in_order():
    body = jsonlines({"b64": base64.b64encode(b"first").decode()}, {"b64": base64.b64encode(b"second").decode()})
    payload = codecs.decoder_for("application/jsonlines")(body + b"\n  \n")
    assert (payload.items, payload.several) == ([b"first", b"second"], True)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"not json\n", "Line 1 is not JSON"),
        (jsonlines({"b64": "aGk="}, ["aGk="]), 'Line 2 must be a JSON object {"b64"'),
        (jsonlines({"image": "aGk="}), 'Line 1 must be a JSON object {"b64"'),
        (jsonlines({"b64": "not base64!"}), 'Line 1: "b64" is not valid base64'),
        (b"\xff\xfe\n", "Line 1 is not JSON"),
        (b"\n\n", "The request holds no image"),
        (b"[" * 100_000, "Line 1 nests JSON arrays or objects too deeply"),
        (jsonlines({"b64": "aGk="}) + b'{"b64": ' * 50_000, "Line 2 nests JSON arrays or objects too deeply"),
    ],
)
def test_bad_jsonlines_say_which_line(body, message):
    with pytest.raises(BadRequest, match=message):
        codecs.decoder_for("application/jsonlines")(body)


@pytest.mark.parametrize(
    "array, several, count",
    [
        (np.zeros((5, 6), np.uint8), False, 1),
        (np.zeros((5, 6, 3), np.uint8), False, 1),
        (np.zeros((2, 5, 6, 3), np.uint8), True, 2),
        (np.zeros((3, 5, 6), np.float32), False, 1),
        (np.zeros((4, 3, 5, 6), np.float64), True, 4),
        (np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)), True, 2),
    ],
)
def test_npy_arrays(array, several, count):
    payload = codecs.decoder_for("application/x-npy")(npy(array))
    assert (payload.several, len(payload.items)) == (several, count)
    assert np.array_equal(np.stack(payload.items) if several else payload.items[0], array)


def npy_header(header, version=(1, 0)):
    """A .npy body whose header dictionary is ``header``, as text, padded as np.save pads it."""
    prefix = 8 + (2 if version == (1, 0) else 4)
    header = header.encode("latin1") + b" " * (63 - (prefix + len(header)) % 64) + b"\n"
    return b"\x93NUMPY" + bytes(version) + len(header).to_bytes(prefix - 8, "little") + header


@pytest.mark.parametrize(
    "body, message",
    [
        (b"plain text", "not a .npy array: it does not start with the .npy magic string"),
        (b"\x93NUMPY garbage", "The .npy format version 32.103 is not supported; send 1.0 or 2.0"),
        (
            npy_header("{'descr': foo(), 'fortran_order': False, 'shape': (2, 2)}"),
            "The .npy header is not the one np.save",
        ),
        (npy_header("{'descr': '<f4', 'fortran_order': False}"), "The .npy header is not the one np.save writes"),
        (npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 2"), "The .npy header is not the one"),
        (npy_header("{'descr': 'no such type', 'fortran_order': False, 'shape': (3, 2, 2)}"), "not the one np.save"),
        (npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-3, -2, 2)}"), r"negative size in shape \(-3"),
        (npy_header("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 0, 2, 3)}"), "images are empty: shape"),
        (
            npy_header("{'descr': '|u1', 'fortran_order': False, 'shape': (1000000000000000000000000000000, 5)}")
            + b"\0",
            r"declares \(1000000000000000000000000000000, 5\) uint8 \(5000000000000000000000000000000 bytes\), but 1",
        ),
        (npy(np.zeros((2, 2), np.int32)), "must be uint8 pixels or floats, not int32"),
        (npy(np.zeros(3, np.complex64)), "must be uint8 pixels or floats, not complex64"),
        (npy(np.zeros((5,), np.uint8)), "must be HxW, HxWxC or NxHxWxC, not shape"),
        (npy(np.zeros((5, 6), np.float32)), "must be CxHxW or NxCxHxW, not shape"),
        (npy(np.zeros((4, 4), np.uint8))[:-3], r"declares \(4, 4\) uint8 \(16 bytes\), but 13 bytes follow"),
        (npy(np.zeros((0, 3, 4, 4), np.float32)), "The request holds no image"),
    ],
)
def test_bad_npy_bodies(body, message):
    with pytest.raises(BadRequest, match=message):
        codecs.decoder_for("application/x-npy")(body)


def test_npy_messages_never_show_numpys_internals():
    with pytest.raises(BadRequest) as refused:
        codecs.decoder_for("application/x-npy")(npy_header("{'descr': foo(), 'fortran_order': False, 'shape': ()}"))
    assert "ast." not in str(refused.value) and " at 0x" not in str(refused.value)


@pytest.mark.parametrize("shape", [(10_000_000, 0, 0, 3), (10_000_000, 3, 0, 8)])
def test_npy_of_millions_of_empty_images_is_refused_from_its_header(shape):
    """A 128-byte header once made the worker build 10 million views (2 GB) before answering."""
    descr = "|u1" if shape[-1] == 3 else "<f4"
    body = npy_header(f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}}}")
    assert len(body) == 128
    tracemalloc.start()
    with pytest.raises(BadRequest, match="images are empty"):
        codecs.decoder_for("application/x-npy")(body)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000


def test_npy_of_many_images_is_counted_without_building_them():
    body = npy(np.zeros((2_000_000, 1, 1, 1), np.uint8))
    tracemalloc.start()
    payload = codecs.decoder_for("application/x-npy")(body)
    count = len(payload.items)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 2_000_000 and peak < 1_000_000


def test_npy_header_claiming_a_huge_array_is_refused_before_allocating():
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|u1", "fortran_order": False, "shape": (100000, 100000)})
    tracemalloc.start()
    with pytest.raises(BadRequest, match="but 2 bytes follow"):
        codecs.decoder_for("application/x-npy")(buffer.getvalue() + b"\0\0")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000


def test_npy_objects_are_never_unpickled():
    with pytest.raises(BadRequest, match="must be uint8 pixels or floats, not object"):
        codecs.decoder_for("application/x-npy")(npy(np.array([{"a": 1}], dtype=object)))


@pytest.mark.parametrize("content_type", ["text/csv", "", "application/json", "image/gif"])
def test_other_content_types_are_unsupported(content_type):
    with pytest.raises(UnsupportedMediaType, match="is not supported; send one of image/jpeg"):
        codecs.decoder_for(content_type)


@pytest.mark.parametrize(
    "accept, default, expected",
    [
        (None, "application/json", "application/json"),
        ("", "application/jsonlines", "application/jsonlines"),
        ("*/*", "application/json", "application/json"),
        ("*/*", "application/jsonlines", "application/jsonlines"),
        ("application/*", "application/json", "application/json"),
        ("application/json", "application/jsonlines", "application/json"),
        ("application/jsonlines", "application/json", "application/jsonlines"),
        ("text/html, application/jsonlines;q=0.9", "application/json", "application/jsonlines"),
        ("application/json;q=0.2, application/jsonlines", "application/json", "application/jsonlines"),
        ("application/json; charset=utf-8", "application/jsonlines", "application/json"),
        ("application/jsonlines; verbose=true", "application/json", "application/jsonlines"),
        ("APPLICATION/JSONLINES;VERBOSE=TRUE", "application/json", "application/jsonlines"),
        (
            "application/json; charset=utf-8; q=0.5, application/jsonlines; verbose=true",
            "application/json",
            "application/jsonlines",
        ),
        (
            "application/jsonlines; verbose=true; q=0.1, application/json; charset=utf-8",
            "application/jsonlines",
            "application/json",
        ),
        ("text/html; level=1, application/*; charset=utf-8", "application/jsonlines", "application/jsonlines"),
    ],
)
def test_accept_negotiation(accept, default, expected):
    assert codecs.response_type(accept, default) == expected


@pytest.mark.parametrize(
    "accept",
    [
        "text/csv",
        "application/x-npy",
        "application/json;q=0",
        "application/json; charset=utf-8; q=0",
        "text/csv; charset=utf-8",
    ],
)
def test_unwritable_accept_is_not_acceptable(accept):
    message = "matches nothing this endpoint writes: application/json, application/jsonlines"
    with pytest.raises(NotAcceptable, match=message):
        codecs.response_type(accept, "application/json")


def test_json_is_a_bare_array_for_one_image_and_a_list_for_several():
    one = json.loads(codecs.encode("application/json", PROBABILITIES[:1], several=False))
    several = json.loads(codecs.encode("application/json", PROBABILITIES, several=True))
    assert np.allclose(one, PROBABILITIES[0]) and np.array(several).shape == (2, 3)
    assert np.allclose(several, PROBABILITIES)


def test_jsonlines_is_one_prediction_per_line():
    lines = codecs.encode("application/jsonlines", PROBABILITIES, several=True).splitlines()
    assert [list(json.loads(line)) for line in lines] == [["prediction"], ["prediction"]]
    assert np.allclose([json.loads(line)["prediction"] for line in lines], PROBABILITIES)


@pytest.mark.parametrize("top_k", [None, 2])
def test_jsonlines_assembled_with_line_holds_one_line_per_image(top_k):
    """Batch transform's AssembleWith=Line writes each answer and a newline after it."""
    answers = [
        codecs.encode("application/jsonlines", PROBABILITIES[rows], True, top_k, NAMES)
        for rows in (slice(0, 2), slice(1, 2), slice(0, 1))
    ]
    assembled = "".join(answer + "\n" for answer in answers)
    assert assembled.count("\n") == 4 and all(json.loads(line) for line in assembled.split("\n")[:-1])


@pytest.mark.parametrize("values", [[np.nan, 0.5, 0.5], [np.inf, 0.0, 0.0], [0.2, -np.inf, 0.8]])
@pytest.mark.parametrize("media_type", ["application/json", "application/jsonlines"])
def test_a_non_finite_answer_is_a_bad_request_never_invalid_json(values, media_type):
    probabilities = np.array([PROBABILITIES[0], values], np.float32)
    with pytest.raises(BadRequest, match="Image 2: The model's output for this input is not a number"):
        codecs.encode(media_type, probabilities, several=True)
    with pytest.raises(BadRequest, match="^The model's output for this input is not a number"):
        codecs.encode(media_type, probabilities[1:], several=False, top_k=1)


def test_top_k_names_the_best_classes_and_keeps_the_probabilities():
    result = json.loads(codecs.encode("application/json", PROBABILITIES[:1], False, top_k=2, class_names=NAMES))
    assert np.allclose(result["prediction"], PROBABILITIES[0])
    assert [(item["index"], item["label"]) for item in result["top_k"]] == [(1, "dog"), (2, "fox")]
    assert result["top_k"][0]["probability"] == pytest.approx(0.6)
    lines = codecs.encode("application/jsonlines", PROBABILITIES, True, top_k=1, class_names=NAMES).splitlines()
    assert [json.loads(line)["top_k"][0]["label"] for line in lines] == ["dog", "cat"]


def test_top_k_without_class_names_uses_the_index():
    result = json.loads(codecs.encode("application/json", PROBABILITIES, True, top_k=1))
    assert [item["top_k"][0]["label"] for item in result] == ["1", "0"]


@pytest.mark.parametrize(
    "header, top_k",
    [
        (None, None),
        ("", None),
        ("top_k=3", 3),
        ("Top_K = 2", 2),
        ("trace=abc,top_k=1", 1),
        ("a=b; top_k=3;", 3),
        ("other", None),
    ],
)
def test_custom_attributes(header, top_k):
    assert custom_attributes.parse(header, num_classes=3).top_k == top_k


@pytest.mark.parametrize(
    "header",
    [
        "top_k=0",
        "top_k=4",
        "top_k=two",
        "top_k=",
        "top_k=²",
        "top_k=-1",
        "top_k=" + "9" * 5000,
        "top_k=" + "0" * 4999 + "1",
    ],
)
def test_invalid_top_k_says_the_range(header):
    message = "top_k in X-Amzn-SageMaker-Custom-Attributes must be a whole number from 1 to 3, not"
    with pytest.raises(BadRequest, match=message):
        custom_attributes.parse(header, num_classes=3)
