"""How requests reach the model over real sockets: chunked bodies, limits, nginx's own errors, slow clients."""

import base64
import http.client
import json
import socket
import time

import numpy as np
import pytest
from serving_process import ServeProcess, trained_model_dir

from image_classifier import demo_data, image_ops

IMAGE = demo_data.render(1, 32, np.random.default_rng(1))


def noise_jsonlines(count):
    """JSON Lines of random 48x48 PNGs (about 9 KB a line: they do not compress)."""
    rng = np.random.default_rng(0)
    lines = (
        json.dumps(
            {
                "b64": base64.b64encode(
                    image_ops.encode(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8), "PNG")
                ).decode()
            }
        )
        for _ in range(count)
    )
    return "".join(line + "\n" for line in lines).encode()


def chunked(body, chunk_size=256 * 1024):
    pieces = [body[start : start + chunk_size] for start in range(0, len(body), chunk_size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def head(content_type="application/jsonlines", path="/invocations", **headers):
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(port, raw, timeout=60):
    """Send raw bytes, read one response: (status, Content-Type, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(raw)
        return answer(client)


def answer(client):
    response = http.client.HTTPResponse(client)
    response.begin()
    return response.status, response.getheader("Content-Type"), response.read()


def json_error(content_type, body):
    assert content_type == "application/json"
    (message,) = json.loads(body).values()
    assert list(json.loads(body)) == ["error"] and "\n" not in message and "<" not in message
    return message


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return trained_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def server(model_dir):
    with ServeProcess(model_dir.parent) as process:
        process.wait_until_ready()
        yield process


@pytest.fixture(scope="module")
def big_batch():
    body = noise_jsonlines(700)
    assert 6 * 1024 * 1024 < len(body) < 7 * 1024 * 1024
    return body


def test_a_chunked_body_over_the_limit_is_413_not_a_shorter_batch(server, big_batch):
    status, content_type, body = exchange(server.port, head(Transfer_Encoding="chunked") + chunked(big_batch))
    assert status == 413
    assert "larger than SAGEMAKER_MAX_PAYLOAD_IN_MB (6 MB)" in json_error(content_type, body)
    small = noise_jsonlines(20)
    status, _, body = exchange(server.port, head(Transfer_Encoding="chunked") + chunked(small, 1000))
    assert status == 200 and len(json.loads(body)) == 20


def test_an_answer_given_before_the_body_leaves_the_connection_usable(server):
    """A 400 for the custom attributes or a 415 comes after the body is read: the next request on the same
    keep-alive connection is answered (gunicorn drains at most 64 KB of an unread body, then closes)."""
    png = image_ops.encode(IMAGE, "PNG")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        for headers, status in (
            ({"X-Amzn-SageMaker-Custom-Attributes": "top_k=0x3"}, 400),
            ({"Content-Type": "text/csv"}, 415),
            ({}, 200),
        ):
            body = png if status == 200 else b"\0" * 100_000
            connection.request("POST", "/invocations", body, {"Content-Type": "image/png", **headers})
            response = connection.getresponse()
            response.read()
            assert (response.status, response.getheader("Connection")) == (status, "keep-alive")
    finally:
        connection.close()


def test_a_body_refused_before_its_end_closes_the_connection(server, big_batch):
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as client:
        client.sendall(head(Content_Length=len(big_batch)) + big_batch[:1000])
        response = http.client.HTTPResponse(client)
        response.begin()
        assert (response.status, response.getheader("Connection")) == (413, "close")


MALFORMED_FRAMING = {
    "invalid chunk size": b"zz\r\nabc\r\n0\r\n\r\n",
    "negative chunk size": b"-5\r\nabcde\r\n0\r\n\r\n",
    "missing CRLF": b"3\r\nabcXY0\r\n\r\n",
}


@pytest.mark.parametrize("framing", MALFORMED_FRAMING.values(), ids=MALFORMED_FRAMING.keys())
def test_malformed_chunked_framing_is_a_json_400(server, framing):
    status, content_type, body = exchange(server.port, head(Transfer_Encoding="chunked") + framing)
    assert status == 400
    assert "Transfer-Encoding: chunked with well-formed chunks" in json_error(content_type, body)


FRONT_ERRORS = {
    "headers too large": (head(Content_Length=0, X_Padding="x" * 9000), 431, "Request Header Fields Too Large"),
    "URI too long": (head(path="/invocations?" + "a" * 9000, Content_Length=0), 414, "URI Too Long"),
    "transfer coding": (head(Transfer_Encoding="gzip") + b"12345", 501, "Not Implemented"),
    "Content-Length and chunked": (
        head(Content_Length=5, Transfer_Encoding="chunked") + b"0\r\n\r\n",
        400,
        "Bad Request",
    ),
    "bad Content-Length": (head(Content_Length="five") + b"12345", 400, "Bad Request"),
    "two Content-Lengths": (head(Content_Length=5)[:-2] + b"Content-Length: 6\r\n\r\n123456", 400, "Bad Request"),
}


@pytest.mark.parametrize("raw, status, reason", FRONT_ERRORS.values(), ids=FRONT_ERRORS.keys())
def test_nginxs_own_errors_are_json(server, raw, status, reason):
    answered_status, content_type, body = exchange(server.port, raw)
    assert answered_status == status
    assert json_error(content_type, body).startswith(reason)


def test_payload_limit_zero_serves_and_takes_bodies_over_the_default(model_dir, big_batch):
    with ServeProcess(model_dir.parent, SAGEMAKER_MAX_PAYLOAD_IN_MB=0) as process:
        process.wait_until_ready()
        assert process.get("/execution-parameters").json()["MaxPayloadInMB"] == 0
        status, _, body = exchange(process.port, head(Transfer_Encoding="chunked") + chunked(big_batch))
        assert status == 200 and len(json.loads(body)) == 700
        assert "SAGEMAKER_MAX_PAYLOAD_IN_MB is 0: no payload limit of our own" in process.log


def stalled_upload(port, sent):
    """A connection that sent ``sent`` bytes of its request, then nothing."""
    client = socket.create_connection(("127.0.0.1", port), timeout=60)
    client.sendall(sent)
    return client


def closed_without_an_answer(client, deadline):
    """Whether nginx closed ``client`` by ``deadline`` (monotonic) without a byte of answer: it cannot write a
    408 for a read that timed out (docs/serving-design.md#the-front-door)."""
    client.settimeout(max(0.0, deadline - time.monotonic()))
    try:
        return client.recv(1) == b""
    except ConnectionResetError:  # nginx's reset_timedout_connection
        return True
    except TimeoutError:
        return False


def test_stalled_uploads_do_not_block_a_valid_request_and_are_cut_off_by_the_deadlines(model_dir):
    """Eight uploads stalled after 10 body bytes and two after half a head, against two request threads: nginx
    holds them, the valid request is answered, and each is closed within its 8 s deadline (and 2 s of slack),
    with no answer."""
    with ServeProcess(
        model_dir.parent,
        IMAGE_CLASSIFIER_BODY_TIMEOUT=8,
        IMAGE_CLASSIFIER_HEADER_TIMEOUT=8,
        IMAGE_CLASSIFIER_REQUEST_THREADS=2,
    ) as process:
        process.wait_until_ready()
        stalled = [
            stalled_upload(process.port, head(content_type="image/png", Content_Length=1000) + b"\x89PNG\r\n\x1a\n\0\0")
            for _ in range(8)
        ]
        stalled += [stalled_upload(process.port, head()[:30]) for _ in range(2)]
        started = time.monotonic()
        closing_deadline = started + 8 + 2
        response = process.post(image_ops.encode(IMAGE, "PNG"), "image/png")
        assert response.status_code == 200 and len(response.json()) == 4
        assert time.monotonic() - started < 8, "the deadlines must not pass before the checks below"
        for client in stalled:  # none answered yet: the valid request did not wait for them
            client.setblocking(False)
            with pytest.raises(BlockingIOError):
                client.recv(1, socket.MSG_PEEK)
        assert all(closed_without_an_answer(client, closing_deadline) for client in stalled)
        for client in stalled:
            client.close()
        assert process.post(image_ops.encode(IMAGE, "PNG"), "image/png").status_code == 200
