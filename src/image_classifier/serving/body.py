"""Reading a request body: all of it, within the byte limit and a deadline, or an error; never a part.

gunicorn hands the app its body as ``wsgi.input``: a Content-Length body, or a chunked one that it unframes
while the app reads. So the limit is checked twice: a Content-Length over it is refused before a byte is
read, and a chunked body is read up to one byte past it, which is then a 413 rather than a cut body.
Malformed chunked framing (a chunk size that is not hex, a missing CRLF, a bad trailer) surfaces from
gunicorn's reader as a ParseException while the app reads; it is the client's 400. The deadline bounds
the whole body, not each receive, so a client that trickles a byte at a time is cut off as surely as one
that stalls: before each read the socket's timeout is set to what is left of it.

A body refused before it was read whole leaves the connection where the next request's start is unknown:
gunicorn then closes it after its answer, which it would still call "keep-alive", and the client's next
request on it fails. ``closing_when_unread`` makes that answer say "Connection: close".
"""

import time
from collections.abc import Callable, Iterable

from gunicorn.http.errors import NoMoreData, ParseException

from .errors import BadRequest, PayloadTooLarge, RequestTimeout

READ_SIZE = 1024 * 1024
UNREAD = "image_classifier.body_unread"  # set in the WSGI environ when a body was refused before its end


def _content_length(environ: dict) -> int | None:
    text = environ.get("CONTENT_LENGTH", "")
    return int(text) if text.isdigit() else None


def read_body(environ: dict, max_bytes: int, limit_text: str, timeout: float) -> bytes:
    """The whole body of the request in ``environ``; 413 over ``max_bytes``, 408 after ``timeout`` seconds."""
    too_large = PayloadTooLarge(f"The request body is larger than {limit_text} allows")
    environ[UNREAD] = True  # until the body has been read to its end
    if (_content_length(environ) or 0) > max_bytes:
        raise too_large
    stream, sock = environ["wsgi.input"], environ.get("gunicorn.socket")
    deadline = time.monotonic() + timeout
    chunks, received = [], 0
    try:
        while received <= max_bytes:
            if sock is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
            chunk = stream.read(min(READ_SIZE, max_bytes + 1 - received))
            if not chunk:
                environ[UNREAD] = False
                return b"".join(chunks)
            chunks.append(chunk)
            received += len(chunk)
    except TimeoutError:
        raise RequestTimeout(
            f"The request body did not arrive within {timeout:g} s (IMAGE_CLASSIFIER_BODY_TIMEOUT; "
            f"{received} bytes came); send the whole body without pausing"
        ) from None
    except ParseException as error:
        raise BadRequest(
            f"The chunked transfer encoding of the body is malformed ({error}); "
            f"send chunks as hex size CRLF, data CRLF, ending with 0 CRLF CRLF"
        ) from None
    except NoMoreData:
        raise BadRequest(
            f"The connection ended after {received} bytes, before the body did; send the whole body"
        ) from None
    finally:
        if sock is not None:
            sock.settimeout(None)
    raise too_large


def closing_when_unread(wsgi_app: Callable) -> Callable:
    """WSGI middleware: the answer to a request whose body was refused before its end closes the connection
    (gunicorn's ``Response.force_close``, reached through the ``start_response`` it passes)."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        response = wsgi_app(environ, start_response)
        server_response = getattr(start_response, "__self__", None)
        if environ.get(UNREAD) and hasattr(server_response, "force_close"):
            server_response.force_close()
        return response

    return app
