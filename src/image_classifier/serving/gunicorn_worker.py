"""gunicorn's threaded worker (gthread), gathering each request before a thread takes it; errors in JSON.

Slow clients: gthread hands a connection to a request thread as soon as its first bytes arrive, and the
thread then blocks until the whole request is in: eight clients that send a head and stall held eight
threads, and /invocations went unanswered. This worker gathers each request in its poller (the main
thread, non-blocking, request_buffer.py frames it) and hands it to a thread only once it is whole, so a
stalled upload holds a socket and its bytes, never a thread. A request not whole within
IMAGE_CLASSIFIER_BODY_TIMEOUT seconds of its first byte is answered 408 and closed; a new connection that
sends nothing is closed after the keep-alive time, as gthread closes it. Memory: the bytes gathered by one
worker are bounded by request threads x payload limit
(at most MAX_BUFFERED_BYTES); past that, a request goes to a thread as it is and the thread reads the rest
under the app's own deadline (body.py). Connections per worker: gunicorn's worker_connections (1000).

Some requests never reach the app: gunicorn's parser refuses them first (a request line over 4094 bytes:
414; too many or too long header fields: 431; a bad or doubled Content-Length, or one beside
Transfer-Encoding: chunked: 400). Its worker answers them in ``Worker.handle_error``, which formats the
status, reason and message with ``gunicorn.util.write_error``: an HTML page. That function is the one
place gunicorn writes such a page (its only caller is ``handle_error``), so each of our workers replaces it,
once at start, with one that writes {"error": "<one line>"}, status and reason unchanged. What cannot be
JSON: nothing gunicorn answers; a client that disconnects, or opens a connection and never sends a byte,
is closed without an answer (there is no request to answer).
"""

import json
import os
import selectors
import socket
import time
from functools import partial

from gunicorn import util
from gunicorn.workers.gthread import TConn, ThreadWorker

from .request_buffer import RequestBuffer
from .settings import Settings

MAX_ERROR_CHARACTERS = 500
MAX_BUFFERED_BYTES = 512 * 1024 * 1024
RECEIVE_SIZE = 1024 * 1024  # one recv() per readable event takes what the socket holds, up to this
FIXES = {
    400: "send one well-formed HTTP/1.1 request: one Content-Length or Transfer-Encoding: chunked, not both",
    403: "the request was refused by the server's configuration",
    408: "send the whole request without pausing",
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


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error``, with a JSON body instead of an HTML page."""
    body = error_body(status_int, reason, mesg)
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class ServingWorker(ThreadWorker):
    def init_process(self) -> None:
        util.write_error = write_json_error
        settings = Settings.from_environ(os.environ)
        self.body_timeout = settings.body_timeout
        self.max_body = settings.max_payload_bytes
        self.buffer_budget = min(settings.request_threads * settings.max_payload_bytes, MAX_BUFFERED_BYTES)
        self.buffered_bytes = 0
        self.uploads = set()  # connections being gathered
        super().init_process()

    def enqueue_req(self, conn: TConn) -> None:
        """Called on the main thread for a new connection, or one with a next request: gather it first."""
        conn.request = RequestBuffer(self.max_body)
        conn.deadline = time.monotonic() + self.cfg.keepalive  # until its first byte
        read_ahead = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        if read_ahead and self._gathered(conn, read_ahead):
            return
        conn.sock.setblocking(False)
        self.uploads.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_upload_readable, conn))

    def on_upload_readable(self, conn: TConn, _sock: socket.socket) -> None:
        try:
            data = conn.sock.recv(RECEIVE_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before its request was whole
            self._stop_gathering(conn)
            self.nr_conns -= 1
            conn.close()
            return
        if conn in self.uploads:
            self._gathered(conn, data)

    def _gathered(self, conn, data):
        """Add ``data``; hand the connection to a request thread once the request is whole (True)."""
        if not conn.request.data:
            conn.deadline = time.monotonic() + self.body_timeout
        self.buffered_bytes += len(data)
        if not (conn.request.feed(data) or self.buffered_bytes > self.buffer_budget):
            return False
        self._stop_gathering(conn)
        conn.init()  # a new connection gets its parser (and a blocking socket) here
        conn.parser.unreader.unread(bytes(conn.request.data))
        conn.request = None
        conn.data_ready = True
        super().enqueue_req(conn)
        return True

    def _stop_gathering(self, conn):
        self.buffered_bytes -= len(conn.request.data)
        if conn in self.uploads:
            self.uploads.discard(conn)
            self.poller.unregister(conn.sock)

    def murder_pending(self) -> None:
        """gthread's sweep of idle connections, and ours of requests past their deadline: 408, closed."""
        super().murder_pending()
        now = time.monotonic()
        for conn in [conn for conn in self.uploads if conn.deadline <= now]:
            self._stop_gathering(conn)
            if conn.request.data:
                try:
                    write_json_error(
                        conn.sock,
                        408,
                        "Request Timeout",
                        f"The request was not whole within {self.body_timeout} s "
                        f"(IMAGE_CLASSIFIER_BODY_TIMEOUT; {len(conn.request.data)} bytes came)",
                    )
                except OSError:
                    pass
            self.nr_conns -= 1
            conn.close()
