"""Images in an application/x-recordio body, framed as MXNet RecordIO (dmlc-core's recordio format, what im2rec
writes), or one record's payload alone.

Each record is a little-endian uint32 magic, a uint32 whose low 29 bits are the data length and top 3
bits a continuation flag, then the data padded to 4 bytes. A writer splits a record wherever its data
holds the magic number, as parts flagged 1 (first), 2 (middle) and 3 (last); a reader joins the parts
with the magic between them. A record's data is either an encoded image, or an image packed by im2rec
behind an IRHeader (flag, label, id, id2, then ``flag`` float labels), whose header is skipped.

Batch transform with SplitType=RecordIO sends framed records with BatchStrategy=MultiRecord, but strips the
framing with SingleRecord: the body is then one record's data. A body that does not start with the magic
number is read as that (no encoded image or IRHeader starts with it).
"""

import io
import struct

from mxnet import recordio
from PIL import Image, UnidentifiedImageError

from .errors import BadRequest
from .images import FORMATS

MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
LENGTH_BITS = 29
WHOLE, FIRST, MIDDLE, LAST = range(4)


def split(body):
    """The data of every record in ``body``, in order."""
    records, parts, offset = [], [], 0
    while offset < len(body):
        if len(body) - offset < 8:
            raise BadRequest(f"The RecordIO body ends inside a record header at byte {offset}")
        magic, length_and_flag = struct.unpack_from("<II", body, offset)
        if magic != MAGIC:
            raise BadRequest(f"The RecordIO body has no record magic number at byte {offset}")
        flag, length = length_and_flag >> LENGTH_BITS, length_and_flag & ((1 << LENGTH_BITS) - 1)
        start = offset + 8
        if start + length > len(body):
            raise BadRequest(f"The RecordIO record at byte {offset} is cut short")
        if (flag in (WHOLE, FIRST)) == bool(parts) or flag > LAST:
            raise BadRequest(f"The RecordIO record at byte {offset} breaks the multi-part sequence")
        parts.append(body[start : start + length])
        if flag in (WHOLE, LAST):
            records.append(MAGIC_BYTES.join(parts))
            parts = []
        offset = start + (length + 3) // 4 * 4
    if parts:
        raise BadRequest("The RecordIO body ends inside a multi-part record")
    return records


def payloads(body: bytes) -> list:
    """The data of every record: framed records in order, or the whole body as one unframed record."""
    return split(body) if not body or body.startswith(MAGIC_BYTES) else [body]


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
