"""gunicorn's threaded worker (gthread), with the errors gunicorn answers itself in JSON like ours.

Some requests never reach the app: gunicorn's parser refuses them first (a request line over 4094 bytes:
414; too many or too long header fields: 431; a bad or doubled Content-Length, or one beside
Transfer-Encoding: chunked: 400). Its worker answers them in ``Worker.handle_error``, which formats the
status, reason and message with ``gunicorn.util.write_error``: an HTML page. That function is the one
place gunicorn writes such a page (its only caller is ``handle_error``), so each of our workers replaces it,
once at start, with one that writes {"error": "<one line>"}, status and reason unchanged. What cannot be
JSON: a client that disconnects or stops sending before the request line is complete gets no answer at all
(the connection is closed), and the arbiter itself never answers requests.
"""
import json

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

MAX_ERROR_CHARACTERS = 500
FIXES = {
    400: "send one well-formed HTTP/1.1 request: one Content-Length or Transfer-Encoding: chunked, not both",
    403: "the request was refused by the server's configuration",
    414: "the request line is over 4094 bytes; send options in headers (X-Amzn-SageMaker-Custom-Attributes)",
    417: "send no Expect header but 100-continue",
    431: "send fewer and shorter header fields (at most 100, each under 8190 bytes)",
    501: "send the body with Content-Length or Transfer-Encoding: chunked",
}


def error_body(status: int, reason: str, message: str) -> bytes:
    """The JSON body of one of gunicorn's own error answers."""
    fix = FIXES.get(status, "the endpoint's log has the details")
    line = " ".join(f"{reason}: {message}".rstrip(": ").split() + [f"({fix})"])
    return json.dumps({"error": line[:MAX_ERROR_CHARACTERS]}).encode()


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error``, with a JSON body instead of an HTML page."""
    body = error_body(status_int, reason, mesg)
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


class JsonErrorThreadWorker(ThreadWorker):
    def init_process(self):
        util.write_error = write_json_error
        super().init_process()
