"""Reading a request body: whole, within the byte limit, or in pieces, each within a bound; never a cut body.

nginx (nginx_config.py) holds each request whole before gunicorn sees it (a large body in a file on disk),
refuses bodies over SAGEMAKER_MAX_PAYLOAD_IN_MB itself and unframes chunked ones, so the body arrives with its
Content-Length, quickly, over the unix socket. The limits are still checked here, where the worker holds what
it reads: a Content-Length over the limit is refused before a byte is read, and reading past it is a 413
rather than a cut body; a body that ends before its Content-Length is a 400.

Bodies of several images (JSON Lines, RecordIO) are read in pieces (BodyStream), one line or record at a time,
so a worker's memory follows the largest piece, not the body: with SAGEMAKER_MAX_PAYLOAD_IN_MB=0 they have no
limit of ours (asynchronous inference sends up to 1 GB), and each piece is bounded by
IMAGE_CLASSIFIER_MAX_BODY_IN_MB, the bound of a body read whole.
"""

from .errors import BadRequest, PayloadTooLarge

READ_SIZE = 1024 * 1024


def _content_length(environ: dict) -> int | None:
    text = environ.get("CONTENT_LENGTH", "")
    return int(text) if text.isdigit() else None


class BodyStream:
    """The body of the request in ``environ``, read in pieces: past ``max_bytes`` (None: no limit), or a piece
    over ``max_piece`` bytes, a 413 naming ``limit_text``."""

    def __init__(self, environ: dict, max_bytes: int | None, max_piece: int, limit_text: str):
        self._stream = environ["wsgi.input"]
        self._length = _content_length(environ)
        self._received = 0
        self._max_bytes, self._max_piece, self._limit_text = max_bytes, max_piece, limit_text
        if max_bytes is not None and (self._length or 0) > max_bytes:
            raise self._too_large()

    def _too_large(self):
        return PayloadTooLarge(f"The request body is larger than {self._limit_text} allows")

    def _piece_too_large(self):
        return PayloadTooLarge(f"A line or record of the request body is larger than {self._limit_text} allows")

    def _count(self, data: bytes, at_end: bool) -> bytes:
        self._received += len(data)
        if self._max_bytes is not None and self._received > self._max_bytes:
            raise self._too_large()
        if at_end and self._length is not None and self._received < self._length:
            raise BadRequest(
                f"The connection ended after {self._received} bytes, before the body did; send the whole body"
            )
        return data

    def read(self, size: int = -1) -> bytes:
        """``size`` bytes, fewer only at the body's end; all the rest for -1. Over the piece bound: a 413."""
        if size > self._max_piece:
            raise self._piece_too_large()
        wanted = self._max_piece + 1 if size < 0 else size
        data = self._stream.read(wanted)
        self._count(data, at_end=len(data) < wanted)
        if len(data) > self._max_piece:
            raise self._piece_too_large()
        return data

    def readline(self) -> bytes:
        """The next line, its newline kept (b"" at the body's end). Over the piece bound: a 413."""
        wanted = self._max_piece + 1
        line = self._stream.readline(wanted)
        if len(line) == wanted and not line.endswith(b"\n"):
            raise self._piece_too_large()
        return self._count(line, at_end=not line.endswith(b"\n"))


def discard_rest(environ: dict) -> None:
    """Read what is left of the request body and drop it, before an early answer (a refusal part-way).

    nginx sends the whole body before it reads the answer: a worker that closed the socket on the unread rest
    would turn its 400 or 413 into nginx's 502. The rest comes from nginx's buffer over the unix socket, fast.
    """
    stream = environ["wsgi.input"]
    while stream.read(READ_SIZE):
        pass


def read_body(environ: dict, max_bytes: int, limit_text: str) -> bytes:
    """The whole body of the request in ``environ``; 413 over ``max_bytes``."""
    stream = BodyStream(environ, max_bytes, READ_SIZE, limit_text)
    chunks = []
    while chunk := stream.read(READ_SIZE):
        chunks.append(chunk)
    return b"".join(chunks)
