"""An image's size read from its first bytes, for PNG and baseline/progressive JPEG, without PIL.

The RecordIO scan checks every record's image size before training: for a million records PIL's ``Image.open``
(which builds a decoder object to read the same header) was most of the scan's time. Anything this does not
recognise (another format, an unusual or broken header) returns None, and the caller asks PIL, which then
also names what is wrong.
"""

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8"
# Start-of-frame markers (they carry the size): 0xC0-0xCF but DHT (C4), JPG (C8) and DAC (CC).
JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI: no length field


def _png(data):
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _jpeg(data):
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in JPEG_STANDALONE:
            position += 2
            continue
        if marker in JPEG_FRAMES:
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return (width, height) if width and height else None
        position += 2 + struct.unpack(">H", data[position + 2 : position + 4])[0]
    return None


def size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of the PNG or JPEG in ``data``, or None when its header is not one read here."""
    if data[:8] == PNG_SIGNATURE:
        found = _png(data)
    elif data[:2] == JPEG_START:
        found = _jpeg(data)
    else:
        return None
    return (int(found[0]), int(found[1])) if found else None
