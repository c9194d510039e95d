"""RecordIO bodies split as MXNet's own reader splits them, read as a stream, multi-part records and im2rec headers
included."""

import io
import struct

import numpy as np
import pytest
from data_layouts import recordio_bytes
from mxnet import recordio
from PIL import Image

from image_classifier import recordio_framing
from image_classifier.serving import records
from image_classifier.serving.errors import BadRequest


def png():
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def payloads(body):
    """Every record's data, the body read as a stream."""
    return list(records.payloads(io.BytesIO(body)))


def test_records_come_back_in_order(tmp_path):
    datas = [b"a", b"bcdef", b"", b"0123456789" * 100]
    assert payloads(recordio_bytes(tmp_path / "body.rec", datas)) == datas


def test_records_holding_the_magic_number_are_joined(tmp_path):
    data = b"head" + recordio_framing.MAGIC_BYTES + b"middle!!" + recordio_framing.MAGIC_BYTES + b"tail"
    body = recordio_bytes(tmp_path / "body.rec", [data, b"next"])
    first_flag = struct.unpack_from("<I", body, 4)[0] >> recordio_framing.LENGTH_BITS
    assert first_flag == recordio_framing.FIRST  # MXNet did split it
    assert payloads(body) == [data, b"next"]


def test_image_bytes_are_found_raw_or_behind_an_im2rec_header():
    image = png()
    packed = recordio.pack(recordio.IRHeader(0, 3.0, 7, 0), image)
    multi_label = recordio.pack(recordio.IRHeader(2, [1.0, 0.0], 8, 0), image)
    assert records.image_bytes(image) == image
    assert records.image_bytes(packed) == image
    assert records.image_bytes(multi_label) == image


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda body: body[:5], "ends inside a record header"),
        (lambda body: body[:28] + b"\0" * 8 + body[28:], "no record magic number at byte 28"),
        (lambda body: body[:-8], "cut short"),
    ],
)
def test_broken_framing_is_a_bad_request(tmp_path, mangle, message):
    body = recordio_bytes(tmp_path / "body.rec", [b"x" * 20, b"y" * 20])
    with pytest.raises(BadRequest, match=message):
        payloads(mangle(body))


def part(flag, data):
    return struct.pack("<II", recordio_framing.MAGIC, (flag << recordio_framing.LENGTH_BITS) | len(data)) + data


@pytest.mark.parametrize(
    "body, message",
    [
        (part(recordio_framing.MIDDLE, b"abcd"), "breaks the multi-part sequence"),
        (
            part(recordio_framing.FIRST, b"abcd") + part(recordio_framing.WHOLE, b"efgh"),
            "breaks the multi-part sequence",
        ),
        (part(recordio_framing.FIRST, b"abcd"), "ends inside a multi-part record"),
    ],
)
def test_parts_out_of_sequence_are_a_bad_request(body, message):
    with pytest.raises(BadRequest, match=message):
        payloads(body)


def test_a_record_too_short_for_a_header_is_a_bad_request():
    with pytest.raises(BadRequest, match="neither an image nor an im2rec IRHeader"):
        records.image_bytes(b"short")


def test_a_body_without_framing_is_one_records_data(tmp_path):
    """Batch transform's SplitType=RecordIO with BatchStrategy=SingleRecord strips the framing."""
    image = png()
    packed = recordio.pack(recordio.IRHeader(0, 3.0, 7, 0), image)
    multi_label = recordio.pack(recordio.IRHeader(2, [1.0, 0.0], 8, 0), image)
    for data in (image, packed, multi_label):
        assert payloads(data) == [data]
        assert records.image_bytes(payloads(data)[0]) == image
    framed = recordio_bytes(tmp_path / "body.rec", [packed, image])
    assert payloads(framed) == [packed, image]
    assert payloads(b"") == []


def test_unframed_data_that_is_no_record_says_how_it_was_read():
    (data,) = payloads(b"\0" * 16)
    with pytest.raises(
        BadRequest,
        match="neither an image nor an im2rec IRHeader and image .a body that does not "
        "start with RecordIO's magic number is read as one record's data",
    ):
        records.image_bytes(data)
