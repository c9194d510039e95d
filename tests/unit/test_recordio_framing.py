"""RecordIO framing read as MXNet writes it: record offsets as its .idx gives them, parts joined, errors."""

import io

import pytest
from mxnet import recordio

from image_classifier import recordio_framing
from image_classifier.recordio_framing import MAGIC_BYTES, FramingError


def written(tmp_path, datas):
    """``datas`` written by MXNet's indexed writer: the .rec bytes and the offsets of its .idx."""
    writer = recordio.MXIndexedRecordIO(str(tmp_path / "x.idx"), str(tmp_path / "x.rec"), "w")
    for index, data in enumerate(datas):
        writer.write_idx(index, data)
    writer.close()
    offsets = [int(line.split("\t")[1]) for line in (tmp_path / "x.idx").read_text().splitlines()]
    return (tmp_path / "x.rec").read_bytes(), offsets


def test_offsets_and_data_are_those_of_mxnets_writer(tmp_path):
    datas = [b"a", b"", b"head" + MAGIC_BYTES + b"midl" + MAGIC_BYTES + b"tail", bytes(range(256)) * 9, b"last"]
    body, offsets = written(tmp_path, datas)
    assert body.count(MAGIC_BYTES) == len(datas) + 2  # the writer split the third record into three parts
    assert list(recordio_framing.records(io.BytesIO(body))) == list(zip(offsets, datas))


def test_the_last_records_padding_may_be_missing(tmp_path):
    body, _ = written(tmp_path, [b"abcd", b"efg"])
    assert [data for _, data in recordio_framing.records(io.BytesIO(body[:-1]))] == [b"abcd", b"efg"]


@pytest.mark.parametrize(
    "cut, problem, number",
    [
        (lambda body: body[:-12], recordio_framing.HEADER_CUT, 1),
        (lambda body: body[:-5], recordio_framing.DATA_CUT, 1),
        (lambda body: body[:12] + b"\0" * 4 + body[16:], recordio_framing.NO_MAGIC, 1),
    ],
)
def test_broken_framing_names_the_problem_and_record(tmp_path, cut, problem, number):
    body, _ = written(tmp_path, [b"abcd", b"efghijkl"])
    with pytest.raises(FramingError) as raised:
        list(recordio_framing.records(io.BytesIO(cut(body))))
    assert (raised.value.problem, raised.value.number) == (problem, number)
    assert str(raised.value).startswith(f"record {number} at byte 12 ")
