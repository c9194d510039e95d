"""Whether the bytes received on a connection hold a whole HTTP/1.1 request yet.

The worker (gunicorn_worker.py) gathers each request in its poller before a request thread takes it, so a
client that stalls holds a socket and its bytes, never a thread. This only frames: it finds the end of the
head, then of a Content-Length or chunked body, and says "ready". Anything it does not recognise, or that
gunicorn or the app must refuse (a head too large, a bad Content-Length, malformed chunk framing, a body over
the limit, ``Expect: 100-continue``), is also "ready": gunicorn's parser and the app then read what was
gathered, answer as they always do, and read any rest themselves. The real parsing stays gunicorn's.
"""

import re

HEAD_END = b"\r\n\r\n"
MAX_HEAD = 8190 * 102  # gunicorn's limits: a request line and 100 header fields of up to 8190 bytes
MAX_LINE = 8190  # gunicorn's limit on a chunk-size line
HEX = re.compile(rb"[0-9A-Fa-f]+")


class RequestBuffer:
    def __init__(self, max_body: int):
        self.data = bytearray()
        self.ready = False
        self._max_body = max_body
        self._body_start = None
        self._length = None  # the Content-Length, or None for a chunked body
        self._next_chunk = 0  # chunked: where the next chunk-size line starts
        self._body_bytes = 0
        self._searched = 0  # where the search for the head's (or trailers') end goes on: each byte is scanned once

    def feed(self, data: bytes) -> bool:
        """Add received bytes; True once the request is whole, or is for gunicorn or the app to answer."""
        self.data += data
        if not self.ready:
            self.ready = self._ready()
        return self.ready

    def _find_end_from(self, start: int) -> int:
        """Where HEAD_END starts at or after ``start`` (-1: not yet), never scanning a byte twice."""
        found = self.data.find(HEAD_END, max(start, self._searched))
        self._searched = max(start, len(self.data) - len(HEAD_END) + 1) if found < 0 else found
        return found

    def _ready(self) -> bool:
        if self._body_start is None:
            head_end = self._find_end_from(0)
            if head_end < 0:
                return len(self.data) > MAX_HEAD
            if self._read_head(bytes(self.data[:head_end])):
                return True
            self._body_start = self._next_chunk = head_end + len(HEAD_END)
        if len(self.data) > 2 * self._max_body + MAX_HEAD:  # framing overhead beyond reason: let gunicorn read it
            return True
        if self._length is not None:
            return len(self.data) - self._body_start >= self._length
        return self._chunked_body_ends()

    def _read_head(self, head: bytes) -> bool:
        """Learn how the body is framed; True if the request is to be handed over at once."""
        fields = {}
        for line in head.split(b"\r\n")[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                return True
            fields.setdefault(name.strip().lower(), []).append(value.strip().lower())
        if b"expect" in fields:
            return True  # the client waits for gunicorn's 100 Continue before it sends the body
        lengths, codings = fields.get(b"content-length", []), fields.get(b"transfer-encoding", [])
        if codings:
            return bool(lengths) or codings != [b"chunked"]
        if not lengths:
            return True  # no body
        if len(lengths) > 1 or not lengths[0].isdigit():
            return True
        self._length = int(lengths[0])
        return self._length > self._max_body

    def _chunked_body_ends(self) -> bool:
        while True:
            line_end = self.data.find(b"\r\n", self._next_chunk)
            if line_end < 0:
                return len(self.data) - self._next_chunk > MAX_LINE
            size_text = bytes(self.data[self._next_chunk : line_end]).split(b";")[0].strip()
            if not HEX.fullmatch(size_text):
                return True
            size = int(size_text, 16)
            if size == 0:
                trailers_start = line_end + 2
                if self.data.startswith(b"\r\n", trailers_start):
                    return True
                return self._find_end_from(trailers_start) >= 0 or len(self.data) - trailers_start > MAX_HEAD
            if self._body_bytes + size > self._max_body:
                return True
            chunk_end = line_end + 2 + size + 2
            if len(self.data) < chunk_end:
                return False
            self._body_bytes += size
            self._next_chunk = chunk_end
