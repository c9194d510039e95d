"""The worker's framing of a request as it arrives: whole exactly when the last byte of its body is in."""

import pytest

from image_classifier.serving.request_buffer import MAX_HEAD, RequestBuffer

HEAD = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"


def ready_at(request, max_body=1000):
    """The number of bytes after which the buffer, fed one byte at a time, says ready (None: never)."""
    buffer = RequestBuffer(max_body)
    for count in range(1, len(request) + 1):
        if buffer.feed(request[count - 1 : count]):
            return count
    return None


def test_content_length_body_is_whole_at_its_last_byte():
    request = HEAD + b"Content-Length: 10\r\n\r\n" + b"0123456789"
    assert ready_at(request) == len(request)
    assert ready_at(request[:-1]) is None


def test_chunked_body_is_whole_after_its_last_chunk_and_trailers():
    body = b"3\r\nabc\r\n5;ext=1\r\nde\r\nf\r\n0\r\n"
    assert ready_at(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body + b"\r\n") == len(HEAD) + 30 + len(body) + 2
    with_trailer = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body + b"X-Sum: 1\r\n\r\n"
    assert ready_at(with_trailer) == len(with_trailer)
    assert ready_at(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body) is None


def test_a_stalled_head_or_body_is_never_ready():
    assert ready_at(HEAD + b"Content-Length: 1000\r\n\r\n" + b"\x89PNG\r\n\x1a\n\0\0") is None
    assert ready_at(HEAD + b"X-Half-A-Hea") is None


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n",  # no body
        HEAD + b"Content-Length: 1001\r\n\r\n",  # over the limit: the app refuses it from the header
        HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",  # gunicorn refuses it
        HEAD + b"Content-Length: five\r\n\r\n",
        HEAD + b"Expect: 100-continue\r\nContent-Length: 10\r\n\r\n",  # waits for gunicorn's 100 Continue
        HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",  # malformed framing: gunicorn's parser says so
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n3e9\r\n",  # a chunk over the limit
    ],
    ids=["no body", "over the limit", "length and chunked", "bad length", "expect", "bad chunk size", "big chunk"],
)
def test_requests_for_gunicorn_or_the_app_to_answer_are_handed_over_at_once(request_bytes):
    assert ready_at(request_bytes) == len(request_bytes)


def test_a_head_beyond_gunicorns_limits_is_handed_over():
    assert ready_at(b"GET /" + b"a" * MAX_HEAD, max_body=10) == MAX_HEAD + 1
