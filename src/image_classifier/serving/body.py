"""Reading a request body: all of it, within the byte limit, or a 413; never a part.

nginx (nginx_config.py) holds each request whole before gunicorn sees it, refuses bodies over the limit itself
and unframes chunked ones, so the body arrives with its Content-Length, quickly, over the unix socket. The limit
is still checked here, where the app holds the body in memory: a Content-Length over it is refused before a byte
is read, and the body is read up to one byte past it, which is then a 413 rather than a cut body.
"""

from .errors import BadRequest, PayloadTooLarge

READ_SIZE = 1024 * 1024


def _content_length(environ: dict) -> int | None:
    text = environ.get("CONTENT_LENGTH", "")
    return int(text) if text.isdigit() else None


def read_body(environ: dict, max_bytes: int, limit_text: str) -> bytes:
    """The whole body of the request in ``environ``; 413 over ``max_bytes``."""
    too_large = PayloadTooLarge(f"The request body is larger than {limit_text} allows")
    length = _content_length(environ)
    if (length or 0) > max_bytes:
        raise too_large
    stream = environ["wsgi.input"]
    chunks, received = [], 0
    while received <= max_bytes:
        chunk = stream.read(min(READ_SIZE, max_bytes + 1 - received))
        if not chunk:
            if length is not None and received < length:
                raise BadRequest(
                    f"The connection ended after {received} bytes, before the body did; send the whole body"
                )
            return b"".join(chunks)
        chunks.append(chunk)
        received += len(chunk)
    raise too_large
