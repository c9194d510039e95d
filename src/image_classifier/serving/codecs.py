"""Request decoders and response encoders, keyed by MIME type: the one place that knows the wire formats.

Requests (Content-Type):
    image/jpeg, image/png, application/x-image   one encoded image (any format images.py reads)
    application/x-recordio                       several encoded images in MXNet RecordIO framing, or one
                                                 record's data unframed (batch transform's SingleRecord)
    application/jsonlines                        several images, one {"b64": "<base64 image>"} per line
    application/x-npy                            a NumPy array: uint8 is pixels, HxW, HxWxC (one image)
                                                 or NxHxWxC (several); float is already preprocessed,
                                                 CxHxW (one) or NxCxHxW (several), the model's shape
Responses (Accept):
    application/json       one image: [p0, p1, ...]; several: [[p0, p1, ...], ...]
    application/jsonlines  {"prediction": [p0, p1, ...]} per image, one per line, no newline after the last
                           (batch transform's AssembleWith=Line adds one after each answer)
With the custom attribute top_k=K, each image's answer is instead {"prediction": [p0, ...], "top_k":
[{"index": i, "label": name, "probability": p}, ...]}, best first (a bare object, a list of them, or one
per line). Probabilities come out of the model as they are: softmax, or independent sigmoids for
multi-label models; an input that makes them NaN or infinite is refused, so every answer is valid JSON.
Types are matched on type/subtype: parameters (``; charset=utf-8``) are ignored, and in Accept ``q`` ranks.
"""

import base64
import binascii
import io
import itertools
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_options_header

from . import records
from .errors import BadRequest, NotAcceptable, UnsupportedMediaType
from .media_types import JPEG, JSON, JSONLINES, NPY, PNG, RECORDIO, X_IMAGE

B64_KEY = "b64"


@dataclass(frozen=True)
class Payload:
    items: Iterable  # encoded images (bytes), uint8 pixel arrays, or float model inputs: one per image
    several: bool  # the request's type carries several images, so the answer is one result per image


def _payload(items, several):
    if not items:
        raise BadRequest("The request holds no image")
    return Payload(items, several)


def _one_image(body):
    if not body:
        raise BadRequest("The request body is empty: send one encoded image")
    return Payload([body], several=False)


def _recordio_images(stream):
    for record in records.payloads(stream):
        yield records.image_bytes(record)


def _line_image(number, line):
    try:
        record = json.loads(line)
    except ValueError:
        raise BadRequest(f"Line {number} is not JSON") from None
    except RecursionError:
        raise BadRequest(f"Line {number} nests JSON arrays or objects too deeply") from None
    if not isinstance(record, dict) or not isinstance(record.get(B64_KEY), str):
        raise BadRequest(f'Line {number} must be a JSON object {{"{B64_KEY}": "<base64 of an encoded image>"}}')
    try:
        return base64.b64decode(record[B64_KEY], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f'Line {number}: "{B64_KEY}" is not valid base64') from None


def _jsonlines_images(stream):
    for number, line in enumerate(iter(stream.readline, b""), 1):
        if line.strip():
            yield _line_image(number, line)


NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _npy_header(stream):
    """The header's (shape, fortran_order, dtype), with messages in the sender's terms, never numpy's internals."""
    try:
        version = np.lib.format.read_magic(stream)
    except ValueError:
        raise BadRequest(
            "The body is not a .npy array: it does not start with the .npy magic string "
            "(\\x93NUMPY) and version that np.save writes"
        ) from None
    if version not in NPY_HEADER_READERS:
        raise BadRequest(
            f"The .npy format version {version[0]}.{version[1]} is not supported; send 1.0 or 2.0, as np.save writes"
        )
    try:
        shape, fortran_order, dtype = NPY_HEADER_READERS[version](stream)
    except Exception:  # numpy's parser raises ValueError, SyntaxError, tokenize.TokenError, ... for a bad header
        raise BadRequest(
            "The .npy header is not the one np.save writes: a complete dictionary {'descr': "
            "<dtype>, 'fortran_order': <True or False>, 'shape': <tuple of whole numbers>}"
        ) from None
    if any(size < 0 for size in shape):
        raise BadRequest(f"The .npy header declares a negative size in shape {shape}")
    return shape, fortran_order, dtype


def _npy(body):
    """The array, checked against its header before anything is built: the sizes in the header are
    checked against the bytes that follow, and a 4-d array's images stay one array (not a list of views)."""
    stream = io.BytesIO(body)
    shape, fortran_order, dtype = _npy_header(stream)
    pixels = dtype == np.uint8
    if dtype.hasobject or not (pixels or dtype.kind == "f"):
        raise BadRequest(f"A .npy array must be uint8 pixels or floats, not {dtype}")
    several = len(shape) == 4
    if not (several or len(shape) == 3 or (pixels and len(shape) == 2)):
        layouts = "HxW, HxWxC or NxHxWxC" if pixels else "CxHxW or NxCxHxW"
        raise BadRequest(f"A {dtype} .npy array must be {layouts}, not shape {shape}")
    if several and shape[0] == 0:
        raise BadRequest("The request holds no image")
    if 0 in shape:
        raise BadRequest(f"The .npy array's images are empty: shape {shape} has a size of 0")
    data = memoryview(body)[stream.tell() :]
    expected = math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise BadRequest(f"The .npy header declares {shape} {dtype} ({expected} bytes), but {len(data)} bytes follow")
    array = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C")
    return Payload(array if several else [array], several)


STREAMED = {RECORDIO: _recordio_images, JSONLINES: _jsonlines_images}  # images read one at a time from a stream


def _whole(images_of):
    return lambda body: _payload(list(images_of(io.BytesIO(body))), several=True)


DECODERS = {
    JPEG: _one_image,
    PNG: _one_image,
    X_IMAGE: _one_image,
    NPY: _npy,
    **{content_type: _whole(images_of) for content_type, images_of in STREAMED.items()},
}


def _supported(content_type):
    if content_type not in DECODERS:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type or '(none)'}' is not supported; send one of {', '.join(DECODERS)}"
        )


def decoder_for(content_type: str) -> Callable[[bytes], Payload]:
    """The function from a body of ``content_type`` to its Payload."""
    _supported(content_type)
    return DECODERS[content_type]


def streamed_payload(content_type: str, stream: BinaryIO) -> Payload:
    """A Payload whose images are read from ``stream`` one at a time, as they are taken (STREAMED types); the
    errors of an image, and an empty body, surface while they are taken."""
    _supported(content_type)
    return Payload(STREAMED[content_type](stream), several=True)


def _json_text(result):
    return json.dumps(result, allow_nan=False)


def _jsonlines_text(result):
    return json.dumps(result if isinstance(result, dict) else {"prediction": result}, allow_nan=False)


# Accept -> (one result's text, what goes between results, what goes before and after several)
ENCODERS = {JSON: (_json_text, ",", ("[", "]")), JSONLINES: (_jsonlines_text, "\n", ("", ""))}
RESULTS_PER_PIECE = 256  # results in one piece of a long answer


def response_type(accept_header: str | None, default: str) -> str:
    """What to answer: the default for no Accept, */* or application/*, else the best type we write."""
    accept = parse_accept_header(accept_header or "", MIMEAccept)
    if not accept:
        return default
    accept = MIMEAccept([(parse_options_header(value)[0], quality) for value, quality in accept])
    best = accept.best_match([default, *(name for name in ENCODERS if name != default)])
    if best is None:
        raise NotAcceptable(f"Accept '{accept_header}' matches nothing this endpoint writes: {', '.join(ENCODERS)}")
    return best


def _results(probabilities, top_k, class_names):
    for row in probabilities:
        values = row.tolist()
        if not top_k:
            yield values
            continue
        best = np.argsort(-row, kind="stable")[:top_k].tolist()
        yield {
            "prediction": values,
            "top_k": [{"index": i, "label": class_names.get(i, str(i)), "probability": values[i]} for i in best],
        }


def _check_finite(probabilities, several):
    finite = np.isfinite(probabilities).all(axis=1)
    if not finite.all():
        image = f"Image {int(np.argmin(finite)) + 1}: " if several else ""
        raise BadRequest(
            f"{image}The model's output for this input is not a number (NaN or infinite); a "
            f"preprocessed float array must hold values on the scale of the training's normalised "
            f"pixels (about -3 to 3)"
        )


def _pieces(results, text_of, separator, opening, closing):
    yield opening
    between = ""
    while part := list(itertools.islice(results, RESULTS_PER_PIECE)):
        yield between + separator.join(map(text_of, part))
        between = separator
    yield closing


def encode_pieces(
    media_type: str,
    probabilities: np.ndarray,
    several: bool,
    top_k: int | None = None,
    class_names: Mapping[int, str] | None = None,
) -> Iterator[str]:
    """The response body, of ``media_type``, for an (images x classes) array of probabilities, in pieces of up
    to RESULTS_PER_PIECE results, so that a long answer is never held whole as text. Checked before the first."""
    _check_finite(probabilities, several)
    results = _results(probabilities, top_k, class_names or {})
    text_of, separator, (opening, closing) = ENCODERS[media_type]
    if not several:
        return iter([text_of(next(results))])
    return _pieces(results, text_of, separator, opening, closing)


def encode(
    media_type: str,
    probabilities: np.ndarray,
    several: bool,
    top_k: int | None = None,
    class_names: Mapping[int, str] | None = None,
) -> str:
    """The response body, of ``media_type``, for an (images x classes) array of probabilities."""
    return "".join(encode_pieces(media_type, probabilities, several, top_k, class_names))
