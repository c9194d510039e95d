"""Images in an application/x-recordio body, framed as MXNet RecordIO (dmlc-core's recordio format, what im2rec
writes; read by recordio_framing.py), or one record's payload alone.

A record's data is either an encoded image, or an image packed by im2rec behind an IRHeader (flag, label,
id, id2, then ``flag`` float labels), whose header is skipped.

Batch transform with SplitType=RecordIO sends framed records with BatchStrategy=MultiRecord, but strips the
framing with SingleRecord: the body is then one record's data. A body that does not start with the magic
number is read as that (no encoded image or IRHeader starts with it). The body is read from a stream, one record
at a time, so that a large body (asynchronous inference) is never held whole.
"""

import io
import struct
from collections.abc import Iterator
from typing import BinaryIO

from mxnet import recordio
from PIL import Image, UnidentifiedImageError

from .. import recordio_framing
from ..recordio_framing import MAGIC_BYTES
from .errors import BadRequest
from .images import FORMATS

_FRAMING_MESSAGES = {
    recordio_framing.HEADER_CUT: "The RecordIO body ends inside a record header at byte {offset}",
    recordio_framing.NO_MAGIC: "The RecordIO body has no record magic number at byte {offset}",
    recordio_framing.DATA_CUT: "The RecordIO record at byte {offset} is cut short",
    recordio_framing.OUT_OF_SEQUENCE: "The RecordIO record at byte {offset} breaks the multi-part sequence",
    recordio_framing.PARTS_CUT: "The RecordIO body ends inside a multi-part record",
}


class _Prefixed:
    """``stream`` with ``head``, already read from it, in front again."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head, self._stream = head, stream

    def read(self, size: int) -> bytes:
        part, self._head = self._head[:size], self._head[size:]
        return part + self._stream.read(size - len(part)) if size > len(part) else part


def payloads(stream: BinaryIO) -> Iterator[bytes]:
    """The data of every record of a body read from ``stream``, one at a time: framed records in order, or the
    whole body as one unframed record (none for an empty body)."""
    head = stream.read(len(MAGIC_BYTES))
    if head != MAGIC_BYTES:
        data = head + stream.read()
        if data:
            yield data
        return
    try:
        for _offset, data in recordio_framing.records(_Prefixed(head, stream)):
            yield data
    except recordio_framing.FramingError as error:
        raise BadRequest(_FRAMING_MESSAGES[error.problem].format(offset=error.offset)) from None


def _is_image(data):
    try:
        Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        return False
    except Exception:  # too large, or a recognised but damaged header: an image, for the decoder to judge
        return True
    return True


def image_bytes(record: bytes) -> bytes:
    """The encoded image in a record: the record itself, or what follows its im2rec IRHeader."""
    if _is_image(record):
        return record
    try:
        _header, image = recordio.unpack(record)
    except (ValueError, struct.error):
        raise BadRequest(
            "A RecordIO record holds neither an image nor an im2rec IRHeader and image (a body that "
            "does not start with RecordIO's magic number is read as one record's data)"
        ) from None
    return image
