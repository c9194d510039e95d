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


@pytest.mark.parametrize("body, message", [
    (b"not json\n", "Line 1 is not JSON"),
    (jsonlines({"b64": "aGk="}, ["aGk="]), 'Line 2 must be a JSON object {"b64"'),
    (jsonlines({"image": "aGk="}), 'Line 1 must be a JSON object {"b64"'),
    (jsonlines({"b64": "not base64!"}), 'Line 1: "b64" is not valid base64'),
    (b"\xff\xfe\n", "Line 1 is not JSON"),
    (b"\n\n", "The request holds no image"),
])
def test_bad_jsonlines_say_which_line(body, message):
    with pytest.raises(BadRequest, match=message):
        codecs.decoder_for("application/jsonlines")(body)


@pytest.mark.parametrize("array, several, count", [
    (np.zeros((5, 6), np.uint8), False, 1),
    (np.zeros((5, 6, 3), np.uint8), False, 1),
    (np.zeros((2, 5, 6, 3), np.uint8), True, 2),
    (np.zeros((3, 5, 6), np.float32), False, 1),
    (np.zeros((4, 3, 5, 6), np.float64), True, 4),
    (np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)), True, 2),
])
def test_npy_arrays(array, several, count):
    payload = codecs.decoder_for("application/x-npy")(npy(array))
    assert (payload.several, len(payload.items)) == (several, count)
    assert np.array_equal(np.stack(payload.items) if several else payload.items[0], array)


@pytest.mark.parametrize("body, message", [
    (b"plain text", "not a .npy array"),
    (npy(np.zeros((2, 2), np.int32)), "must be uint8 pixels or floats, not int32"),
    (npy(np.zeros(3, np.complex64)), "must be uint8 pixels or floats, not complex64"),
    (npy(np.zeros((5,), np.uint8)), "must be HxW, HxWxC or NxHxWxC, not shape"),
    (npy(np.zeros((5, 6), np.float32)), "must be CxHxW or NxCxHxW, not shape"),
    (npy(np.zeros((4, 4), np.uint8))[:-3], r"declares \(4, 4\) uint8 \(16 bytes\), but 13 bytes follow"),
    (npy(np.zeros((0, 3, 4, 4), np.float32)), "The request holds no image"),
])
def test_bad_npy_bodies(body, message):
    with pytest.raises(BadRequest, match=message):
        codecs.decoder_for("application/x-npy")(body)


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


@pytest.mark.parametrize("accept, default, expected", [
    (None, "application/json", "application/json"),
    ("", "application/jsonlines", "application/jsonlines"),
    ("*/*", "application/json", "application/json"),
    ("*/*", "application/jsonlines", "application/jsonlines"),
    ("application/*", "application/json", "application/json"),
    ("application/json", "application/jsonlines", "application/json"),
    ("application/jsonlines", "application/json", "application/jsonlines"),
    ("text/html, application/jsonlines;q=0.9", "application/json", "application/jsonlines"),
    ("application/json;q=0.2, application/jsonlines", "application/json", "application/jsonlines"),
])
def test_accept_negotiation(accept, default, expected):
    assert codecs.response_type(accept, default) == expected


@pytest.mark.parametrize("accept", ["text/csv", "application/x-npy", "application/json;q=0"])
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


@pytest.mark.parametrize("header, top_k", [
    (None, None), ("", None), ("top_k=3", 3), ("Top_K = 2", 2), ("trace=abc,top_k=1", 1), ("a=b; top_k=3;", 3),
    ("other", None),
])
def test_custom_attributes(header, top_k):
    assert custom_attributes.parse(header, num_classes=3).top_k == top_k


@pytest.mark.parametrize("header", ["top_k=0", "top_k=4", "top_k=two", "top_k=", "top_k=²", "top_k=-1"])
def test_invalid_top_k_says_the_range(header):
    message = "top_k in X-Amzn-SageMaker-Custom-Attributes must be a whole number from 1 to 3, not"
    with pytest.raises(BadRequest, match=message):
        custom_attributes.parse(header, num_classes=3)
