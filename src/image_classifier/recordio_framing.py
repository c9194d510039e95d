"""RecordIO framing (dmlc-core's recordio format, what MXNet and im2rec write): records read from bytes.

Each record is a little-endian uint32 magic, a uint32 whose low 29 bits are the data length and top 3
bits a continuation flag, then the data padded to 4 bytes. A writer splits a record wherever its data
holds the magic number, as parts flagged 1 (first), 2 (middle) and 3 (last); a reader joins the parts
with the magic between them. MXNet's ``mx.recordio`` writes records (packing) and packs or unpacks the
IRHeader inside one; reading is here, because MXNet's reader neither tells a record's byte offset (the
index needs it) through its public API nor reads a stream (a Pipe-mode FIFO, a request body).
"""

import struct
from collections.abc import Iterator
from typing import BinaryIO

MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
LENGTH_BITS = 29
WHOLE, FIRST, MIDDLE, LAST = range(4)
HEADER = struct.Struct("<II")

# What can break the framing (FramingError.problem); the first three are data cut short.
HEADER_CUT = "ends inside a record header"
DATA_CUT = "ends inside a record's data"
PARTS_CUT = "ends inside a multi-part record"
NO_MAGIC = "does not start with RecordIO's magic number"
OUT_OF_SEQUENCE = "breaks RecordIO's multi-part sequence"
CUT_SHORT = (HEADER_CUT, DATA_CUT, PARTS_CUT)


class FramingError(ValueError):
    """Bytes that are not RecordIO: ``problem`` (one of the above) in record ``number``, at byte ``offset``."""

    def __init__(self, problem: str, number: int, offset: int):
        super().__init__(f"record {number} at byte {offset} {problem}")
        self.problem, self.number, self.offset = problem, number, offset


def records(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(byte offset, data) of every record in the binary ``stream``, in order, continuation parts joined.

    ``offset`` is where the record's first part starts, as an ``.idx`` file gives it. A stream may end
    inside the padding after its last record (a body cut to the data); anything else cut short, a missing
    magic number or parts out of sequence raise FramingError.
    """
    number, offset, start, parts = 0, 0, 0, []
    while True:
        head = stream.read(HEADER.size)
        if not head:
            if parts:
                raise FramingError(PARTS_CUT, number, offset)
            return
        if len(head) < HEADER.size:
            raise FramingError(HEADER_CUT, number, offset)
        magic, length_and_flag = HEADER.unpack(head)
        if magic != MAGIC:
            raise FramingError(NO_MAGIC, number, offset)
        flag, length = length_and_flag >> LENGTH_BITS, length_and_flag & ((1 << LENGTH_BITS) - 1)
        data = stream.read(length)
        if len(data) < length:
            raise FramingError(DATA_CUT, number, offset)
        if (flag in (WHOLE, FIRST)) == bool(parts) or flag > LAST:
            raise FramingError(OUT_OF_SEQUENCE, number, offset)
        if not parts:
            start = offset
        parts.append(data)
        padding = -length % 4
        stream.read(padding)
        offset += HEADER.size + length + padding
        if flag in (WHOLE, LAST):
            yield start, MAGIC_BYTES.join(parts)
            number, parts = number + 1, []
