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
    application/jsonlines  {"prediction": [p0, p1, ...]} per image, one per line
With the custom attribute top_k=K, each image's answer is instead {"prediction": [p0, ...], "top_k":
[{"index": i, "label": name, "probability": p}, ...]}, best first (a bare object, a list of them, or one
per line). Probabilities come out of the model as they are: softmax, or independent sigmoids for
multi-label models.
"""
import base64
import binascii
import io
import json
import math
from dataclasses import dataclass

import numpy as np
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from . import records
from .errors import BadRequest, NotAcceptable, UnsupportedMediaType
from .media_types import JPEG, JSON, JSONLINES, NPY, PNG, RECORDIO, X_IMAGE

B64_KEY = "b64"


@dataclass(frozen=True)
class Payload:
    items: list  # encoded images (bytes), uint8 pixel arrays, or float model inputs: one per image
    several: bool  # the request's type carries several images, so the answer is one result per image


def _payload(items, several):
    if not items:
        raise BadRequest("The request holds no image")
    return Payload(items, several)


def _one_image(body):
    if not body:
        raise BadRequest("The request body is empty: send one encoded image")
    return Payload([body], several=False)


def _recordio(body):
    return _payload([records.image_bytes(record) for record in records.payloads(body)], several=True)


def _line_image(number, line):
    try:
        record = json.loads(line)
    except ValueError:
        raise BadRequest(f"Line {number} is not JSON") from None
    if not isinstance(record, dict) or not isinstance(record.get(B64_KEY), str):
        raise BadRequest(f'Line {number} must be a JSON object {{"{B64_KEY}": "<base64 of an encoded image>"}}')
    try:
        return base64.b64decode(record[B64_KEY], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f'Line {number}: "{B64_KEY}" is not valid base64') from None


def _jsonlines(body):
    lines = [(number, line) for number, line in enumerate(body.splitlines(), 1) if line.strip()]
    return _payload([_line_image(number, line) for number, line in lines], several=True)


def _npy_header(stream):
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        version = np.lib.format.read_magic(stream)
        if version not in readers:
            raise ValueError(f"format version {version[0]}.{version[1]} is not supported; use 1.0 (np.save)")
        return readers[version](stream)
    except ValueError as error:
        raise BadRequest(f"The body is not a .npy array ({error})") from None


def _npy(body):
    """The array, checked against its header before use: never allocated from a size the header claims."""
    stream = io.BytesIO(body)
    shape, fortran_order, dtype = _npy_header(stream)
    if dtype.hasobject or not (dtype == np.uint8 or dtype.kind == "f"):
        raise BadRequest(f"A .npy array must be uint8 pixels or floats, not {dtype}")
    data = memoryview(body)[stream.tell():]
    expected = math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise BadRequest(f"The .npy header declares {shape} {dtype} ({expected} bytes), but {len(data)} bytes follow")
    array = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C")
    pixels = dtype == np.uint8
    if array.ndim == 4:
        return _payload(list(array), several=True)
    if array.ndim == 3 or (pixels and array.ndim == 2):
        return Payload([array], several=False)
    layouts = "HxW, HxWxC or NxHxWxC" if pixels else "CxHxW or NxCxHxW"
    raise BadRequest(f"A {dtype} .npy array must be {layouts}, not shape {shape}")


DECODERS = {
    JPEG: _one_image,
    PNG: _one_image,
    X_IMAGE: _one_image,
    RECORDIO: _recordio,
    JSONLINES: _jsonlines,
    NPY: _npy,
}


def decoder_for(content_type):
    """The function from a body of ``content_type`` to its Payload; checked before the body is read."""
    decoder = DECODERS.get(content_type)
    if decoder is None:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type or '(none)'}' is not supported; send one of {', '.join(DECODERS)}"
        )
    return decoder


def _json(results, several):
    return json.dumps(results if several else results[0])


def _jsonlines_response(results, _several):
    return "".join(json.dumps(result if isinstance(result, dict) else {"prediction": result}) + "\n"
                   for result in results)


ENCODERS = {JSON: _json, JSONLINES: _jsonlines_response}


def response_type(accept_header, default):
    """What to answer: the default for no Accept, */* or application/*, else the best type we write."""
    accept = parse_accept_header(accept_header or "", MIMEAccept)
    if not accept:
        return default
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


def encode(media_type, probabilities, several, top_k=None, class_names=None):
    """The response body, of ``media_type``, for an (images x classes) array of probabilities."""
    results = list(_results(probabilities, top_k, class_names or {}))
    return ENCODERS[media_type](results, several)
