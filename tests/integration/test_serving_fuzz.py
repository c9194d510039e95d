"""A seeded fuzz of `serve`'s /invocations: every content type, Accept, Content-Type parameters, custom attributes.

1,200 generated requests, valid and malformed, against a real `serve` process on 127.0.0.1. Every answer
is a 2xx with valid JSON, or a 4xx whose body is one line of JSON, {"error": "..."}; never a 5xx. After
the run the same worker is alive and still classifies an image as the model does. The cases stay within
what gunicorn itself handles (header sizes, framing, bodies under the 64 KB it drains when an answer comes
before the body was read), which is the transport's concern, not the content's.
A failure names the case's number: ``cases(SEED)[number]`` rebuilds it.
"""

import base64
import io
import json
import struct
import time
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

SEED = 20261129
COUNT = 1200
RUN_DEADLINE = 300  # seconds: a stuck server ends the run, it does not hang the suite
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
TYPES = [
    "image/jpeg",
    "image/png",
    "application/x-image",
    "application/x-recordio",
    "application/jsonlines",
    "application/x-npy",
]
OTHER_TYPES = [
    "text/csv",
    "application/json",
    "image/gif",
    "application/octet-stream",
    "",
    "*/*",
    "image/",
    "/",
    ";",
    "application/x-npy/x",
    "image/png, image/jpeg",
    "a" * 200,
]
ACCEPTS = [
    None,
    "",
    "*/*",
    "application/*",
    "application/json",
    "application/jsonlines",
    "text/csv",
    "application/x-npy",
    "application/json;q=0",
    "application/json;q=abc",
    "application/json;q=-1",
    "application/json;q=2",
    "*/*;q=0.1, text/html",
    "application/jsonlines;;;",
    ";q=1",
    ",,,",
    "*",
    "application/json; charset=utf-8",
    "application/jsonlines; verbose=true",
    "application/json;q=0.3, application/jsonlines;verbose=true;q=0.9",
    'application/json; charset="',
    "text/*",
    "application/json" + ";a=b" * 100,
    "application/jsonlines, " * 200,
]
GOOD_ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "application/jsonlines; verbose=true",
    "application/json; charset=utf-8",
    "text/html, application/jsonlines;q=0.5",
]
PARAMETERS = [
    "",
    "; charset=utf-8",
    ";charset=binary",
    "; q=0.5",
    "; verbose=true",
    ";",
    "; a",
    '; a="b',
    "; " + "x=y; " * 50,
]
RESULTS = {200, 400, 406, 413, 415}


def encoded(rgb, format_):
    if format_ in ("JPEG", "PNG"):
        return image_ops.encode(rgb, format_)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format_)
    return buffer.getvalue()


def png(width, height, bit_depth=8, colour_type=2, data=b"\0" * 64):
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b"")


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npy_header(header_text, version=b"\x01\x00"):
    header = header_text.encode("latin1") + b"\n"
    return b"\x93NUMPY" + version + struct.pack("<H", len(header)) + header


class Maker:
    """Bodies of every kind, drawn from one seeded generator."""

    def __init__(self, rng, tmp_dir):
        self.rng = rng
        self.tmp_dir = tmp_dir
        self.images = [demo_data.render(label, 32 + 4 * label, np.random.default_rng(label)) for label in range(4)]
        self.encodings = {
            format_: [encoded(image, format_) for image in self.images]
            for format_ in ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM")
        }
        self.rec_count = 0

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def image(self):
        return self.pick(self.encodings[self.pick(list(self.encodings))])

    def mutate(self, data):
        data = bytearray(data)
        kind = int(self.rng.integers(5))
        if kind == 0 and len(data) > 1:
            del data[int(self.rng.integers(1, len(data))) :]
        elif kind == 1:
            for _ in range(int(self.rng.integers(1, 20))):
                data[int(self.rng.integers(len(data)))] = int(self.rng.integers(256))
        elif kind == 2:
            at = int(self.rng.integers(len(data) + 1))
            data[at:at] = self.rng.bytes(int(self.rng.integers(1, 64)))
        elif kind == 3:
            data[:16] = self.rng.bytes(16)
        else:
            data += self.rng.bytes(int(self.rng.integers(1, 200)))
        return bytes(data)

    def maybe_mutated(self, data):
        return self.mutate(data) if self.rng.random() < 0.6 else data

    def image_body(self):
        return self.pick(
            [
                lambda: self.maybe_mutated(self.image()),
                lambda: png(int(self.rng.integers(1, 200_000)), int(self.rng.integers(1, 200_000))),
                lambda: png(7071, 7071, 16, 0, zlib.compress(b"\0" * 1000)),
                lambda: png(
                    int(self.rng.integers(1, 3000)),
                    int(self.rng.integers(1, 3000)),
                    self.pick([1, 2, 4, 8, 16]),
                    self.pick([0, 2, 3, 4, 6]),
                ),
                lambda: self.rng.bytes(int(self.rng.integers(0, 3000))),
                lambda: b"",
            ]
        )()

    def record_data(self):
        image = self.image()
        return self.pick(
            [
                lambda: image,
                lambda: recordio.pack(recordio.IRHeader(0, float(self.rng.integers(4)), 1, 0), image),
                lambda: recordio.pack(recordio.IRHeader(2, [1.0, 0.0], 1, 0), image),
                lambda: struct.pack("<IfQQ", int(self.rng.integers(0, 2**32)), 0.0, 0, 0) + image,
                lambda: self.rng.bytes(int(self.rng.integers(0, 40))),
            ]
        )()

    def recordio_body(self):
        self.rec_count += 1
        framed = recordio_bytes(
            self.tmp_dir / f"{self.rec_count}.rec", [self.record_data() for _ in range(int(self.rng.integers(1, 4)))]
        )
        return self.pick(
            [
                lambda: framed,
                lambda: self.mutate(framed),
                lambda: self.record_data(),  # one record's data, as SingleRecord sends it
                lambda: records.MAGIC_BYTES + self.rng.bytes(int(self.rng.integers(0, 64))),
                lambda: records.MAGIC_BYTES + struct.pack("<I", int(self.rng.integers(0, 2**32))) + b"abcd",
            ]
        )()

    def json_line(self):
        depth = int(self.pick([1, 10, 1000, 5000]))
        return self.pick(
            [
                lambda: json.dumps({"b64": base64.b64encode(self.image()).decode()}).encode(),
                lambda: json.dumps({"b64": base64.b64encode(self.rng.bytes(50)).decode()}).encode(),
                lambda: b"[" * depth * 4,
                lambda: b'{"b64": ' * depth + b'"aGk="' + b"}" * depth,
                lambda: json.dumps({"b64": "not base64!"}).encode(),
                lambda: json.dumps({"b64": 1e400 if self.rng.random() < 0.5 else None}).encode(),
                lambda: b'{"b64": NaN}',
                lambda: b"1" * 5000,
                lambda: b'"\\ud800"',
                lambda: b"\xff\xfe\x00",
                lambda: self.rng.bytes(int(self.rng.integers(1, 100))),
            ]
        )()

    def jsonlines_body(self):
        lines = [self.json_line() for _ in range(int(self.rng.integers(1, 4)))]
        return self.pick([b"\n", b"\r\n", b"\n\n"]).join(lines) + self.pick([b"", b"\n"])

    def npy_body(self):
        dtype = self.pick([np.uint8, np.float16, np.float32, np.float64, np.int32, np.bool_, np.complex64])
        shape = self.pick(
            [
                (32, 32, 3),
                (32, 32),
                (2, 32, 32, 3),
                (3, 32, 32),
                (2, 3, 32, 32),
                (5,),
                (1, 1, 1, 1, 1),
                (0, 3, 32, 32),
                (3, 0, 4),
                (7, 9, 2),
            ]
        )
        header_shape = self.pick(
            [
                "(10000000, 0, 0, 3)",
                "(-1, 3, 32, 32)",
                "(2**64,)",
                "(1e9, 3)",
                "()",
                "(99999999999999999999, 0)",
                "(3, 32, 32)",
                "[3, 32, 32]",
                "(True, 1, 1, 3)",
            ]
        )
        descr = self.pick(
            [
                "'|u1'",
                "'<f4'",
                "'>f8'",
                "'<f2'",
                "'O'",
                "'|V0'",
                "'<U3'",
                "foo()",
                "'<f16'",
                "[('a', '<f4')]",
                "'S0'",
                "''",
            ]
        )
        return self.pick(
            [
                lambda: self.maybe_mutated(npy(self.rng.integers(0, 256, shape).astype(dtype))),
                lambda: npy(np.full((3, 32, 32), self.pick([np.nan, np.inf, 3e38, 1e300, -1e300, 1e-300]), dtype)),
                lambda: (
                    npy_header(
                        f"{{'descr': {descr}, 'fortran_order': {self.pick(['False', 'True', '1'])}, "
                        f"'shape': {header_shape}}}"
                    )
                    + self.rng.bytes(int(self.rng.integers(0, 64)))
                ),
                lambda: npy_header("{'descr': '<f4', 'shape': " + "(" * 500 + ")" * 500 + "}"),
                lambda: b"\x93NUMPY" + self.rng.bytes(int(self.rng.integers(0, 30))),
                lambda: npy_header(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 32, 32)}",
                    version=self.pick([b"\x02\x00", b"\x03\x00", b"\x00\x00"]),
                ),
            ]
        )()

    def body(self, content_type):
        makers = {
            "application/x-recordio": self.recordio_body,
            "application/jsonlines": self.jsonlines_body,
            "application/x-npy": self.npy_body,
        }
        return makers.get(content_type, self.image_body)()

    def content_type(self):
        if self.rng.random() < 0.85:
            base = self.pick(TYPES)
            return (base.upper() if self.rng.random() < 0.1 else base) + self.pick(PARAMETERS)
        return self.pick(OTHER_TYPES)

    def custom_attributes(self):
        return self.pick(
            [
                None,
                "top_k=1",
                "top_k=4",
                "top_k=0",
                "top_k=5",
                "top_k=-1",
                "top_k=" + "9" * 5000,
                "top_k=" + "0" * 4999 + "2",
                "top_k=²",
                "top_k=1.5",
                "top_k=",
                "=",
                ",;,;",
                "trace=abc;top_k=2",
                "top_k=1,top_k=2",
                "TOP_K = 3",
                "top_k=0x3",
                "a=" + "b" * 3000,
                ";".join(f"k{i}=v" for i in range(300)),
            ]
        )

    def case(self):
        content_type = self.content_type()
        base_type = content_type.split(";")[0].strip().lower()
        headers = {"Content-Type": content_type}
        plausible = self.rng.random() < 0.5  # half the cases pass the header checks and reach the body
        accept = self.pick(GOOD_ACCEPTS if plausible else ACCEPTS)
        if accept is not None:
            headers["Accept"] = accept
        attributes = self.pick([None, "top_k=2"]) if plausible else self.custom_attributes()
        if attributes is not None:
            headers[CUSTOM_ATTRIBUTES] = attributes
        if self.rng.random() < 0.1:
            headers[
                self.pick(
                    [
                        "X-Amzn-SageMaker-Target-Model",
                        "X-Amzn-Trace-Id",
                        "Content-Encoding",
                        "Accept-Charset",
                        "X-Forwarded-For",
                    ]
                )
            ] = self.pick(["gzip", "a" * 1000, "", "model.tar.gz"])
        if content_type == "" and self.rng.random() < 0.5:
            del headers["Content-Type"]
        return self.body(base_type), headers


def cases(seed, tmp_dir):
    maker = Maker(np.random.default_rng(seed), tmp_dir)
    return [maker.case() for _ in range(COUNT)]


def strict_json(text):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def check(response):
    """Why ``response`` breaks the contract, or None."""
    if response.status_code not in RESULTS:
        return f"status {response.status_code}"
    media_type = response.headers.get("Content-Type", "")
    try:
        if response.status_code == 200:
            if media_type == "application/jsonlines":
                for line in response.text.split("\n"):
                    strict_json(line)
            elif media_type == "application/json":
                strict_json(response.text)
            else:
                return f"200 with Content-Type {media_type!r}"
            return None
        error = strict_json(response.text)
    except ValueError as problem:
        return f"invalid JSON ({problem})"
    if media_type != "application/json" or not isinstance(error, dict) or list(error) != ["error"]:
        return 'error body is not {"error": ...}'
    if not isinstance(error["error"], str) or "\n" in response.text.strip():
        return "error is not one line of text"
    return None


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return trained_model_dir(tmp_path_factory)


def test_fuzzed_requests_get_json_answers_and_the_worker_lives_on(model_dir, tmp_path):
    generated = cases(SEED, tmp_path)
    image = demo_data.render(2, 40, np.random.default_rng(99))
    preprocessing = artifacts.read_preprocessing(model_dir)
    expected = artifacts.load(model_dir)(mx.nd.array(preprocessing.apply(image)[None])).asnumpy()[0]
    with ServeProcess(model_dir.parent) as server, requests.Session() as session:
        server.wait_until_ready()
        workers = server.worker_pids()
        problems, statuses, deadline = [], {}, time.monotonic() + RUN_DEADLINE
        for number, (body, headers) in enumerate(generated):
            if time.monotonic() > deadline:
                pytest.fail(f"only {number} of {COUNT} cases ran in {RUN_DEADLINE} s")
            try:
                response = session.post(server.url + "/invocations", data=body, headers=headers, timeout=60)
            except requests.RequestException as error:
                response, problem = None, f"no answer ({error})"
            else:
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                problem = check(response)
            if problem:
                answer = response.text[:300] if response is not None else server.log[-2000:]
                problems.append(f"case {number} ({headers}, {len(body)} bytes {body[:40]!r}): {problem}: {answer}")
        assert not problems, f"{len(problems)} of {COUNT} broke the contract:\n" + "\n".join(problems[:20])
        assert statuses.get(200, 0) > 40 and len(statuses) == len(RESULTS), statuses  # every kind of answer
        assert server.worker_pids() == workers
        answer = server.post(image_ops.encode(image, "PNG"), "image/png")
        assert np.abs(np.array(answer.json()) - expected).max() < 1e-5
