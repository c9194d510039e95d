"""Pipe mode: the stream's records, the manifest stream, FIFOs, and stream errors in the failure file."""

import io
import json
import re

import numpy as np
import pytest
from data_layouts import Fifos, first_failure_line, manifest_stream, pipe_config, recordio_stream, write_job
from mxnet import recordio

from image_classifier import demo_data, disk_space, hyperparameters, recordio_framing
from image_classifier.data import channels, class_names, iterators, manifest, pipe, scratch
from image_classifier.data.spec import DataSpec
from image_classifier.data.stream import StreamedSet
from image_classifier.environment import Environment
from image_classifier.errors import UserError
from image_classifier.model.preprocessing import Preprocessing

SIZE = 16


def written(tmp_path, payloads):
    writer = recordio.MXRecordIO(str(tmp_path / "stream.rec"), "w")
    for payload in payloads:
        writer.write(payload)
    writer.close()
    return (tmp_path / "stream.rec").read_bytes()


def test_records_are_read_as_mxnet_writes_them_even_split_at_the_magic_number(tmp_path):
    payloads = [
        b"a",
        b"",
        b"abcd" + recordio_framing.MAGIC_BYTES + b"efgh" + recordio_framing.MAGIC_BYTES,
        bytes(range(256)) * 9,
    ]
    data = written(tmp_path, payloads)
    assert data.count(recordio_framing.MAGIC_BYTES) > len(payloads)  # the writer did split the third record
    assert list(pipe.records(io.BytesIO(data), "the stream")) == payloads


@pytest.mark.parametrize(
    "cut, message",
    [
        (lambda data: b"\x00" * 8 + data, r"^record 0 of the stream \(byte 0\) does not start with RecordIO's magic"),
        (lambda data: data[:-3], r"^the stream ends inside record 1"),
    ],
)
def test_broken_streams(tmp_path, cut, message):
    data = written(tmp_path, [b"first", b"second!"])
    with pytest.raises(UserError, match=message):
        list(pipe.records(io.BytesIO(cut(data)), "the stream"))


def test_manifest_stream_items_with_metadata_names(tmp_path):
    pairs = demo_data.samples(6, SIZE, 0)
    data = manifest_stream(pairs, tmp_path, with_metadata=True)
    names = ("source-ref", "class", "class-metadata")
    collector = class_names.Collector()
    payloads = pipe.records(io.BytesIO(data), "S")
    entries = list(manifest.stream_items(payloads, "S", names, DataSpec(4), "", collector))
    assert [entry.label for entry in entries] == [0, 1, 2, 3, 0, 1]
    assert entries[1].where == "image 1 (record 3) of S" and entries[1].source.startswith(b"\x89PNG")
    assert collector.names == dict(enumerate(demo_data.CLASS_NAMES))


def job(tmp_path, record_wrapper, attribute_names=None, num_train=8):
    base_dir = write_job(
        tmp_path / "ml", "recordio", demo_data.samples(num_train, SIZE, 0), demo_data.samples(4, SIZE, 1), SIZE
    )
    data_dir = base_dir / "input" / "data"
    for channel in ("train", "validation"):
        for path in (data_dir / channel).iterdir():
            path.unlink()
        (data_dir / channel).rmdir()
    (base_dir / "input" / "config" / "inputdataconfig.json").write_text(
        json.dumps(pipe_config(record_wrapper, attribute_names))
    )
    return base_dir


def prepare(base_dir, name="train"):
    env = Environment.load(base_dir)
    return channels.prepare(env, name, base_dir, hyperparameters.parse(env.hyperparameters))


def prepare_from_fifo(base_dir, stream):
    fifos = Fifos(base_dir / "input" / "data", {"train": stream})
    try:
        return prepare(base_dir)
    finally:
        fifos.close()


def test_recordio_channel_through_a_fifo(tmp_path):
    base_dir = job(tmp_path, "None")
    record_set = prepare_from_fifo(base_dir, recordio_stream(demo_data.samples(8, SIZE, 0), tmp_path))
    np.testing.assert_array_equal(record_set.labels, np.arange(8) % 4)
    assert record_set.rec_files == (base_dir / "train.rec",)


def test_manifest_channel_through_a_fifo(tmp_path):
    base_dir = job(tmp_path, "RecordIO", ["source-ref", "class"])
    record_set = prepare_from_fifo(base_dir, manifest_stream(demo_data.samples(8, SIZE, 0), tmp_path))
    np.testing.assert_array_equal(record_set.labels, np.arange(8) % 4)
    assert record_set.wheres[2] == f"image 2 (record 4) of the Pipe-mode stream {base_dir}/input/data/train_0"


def _label(pairs, index, label):
    return [(label if number == index else old, image) for number, (old, image) in enumerate(pairs)]


def _stream_file(base_dir, data):
    (base_dir / "input" / "data").mkdir(parents=True, exist_ok=True)
    (base_dir / "input" / "data" / "train_0").write_bytes(data)


@pytest.mark.parametrize(
    "wrapper, make, message",
    [
        (
            "None",
            lambda tmp, pairs: recordio_stream(_label(pairs, 5, 9), tmp),
            "record 5 of the Pipe-mode stream {fifo} has label 9, which is not a class id from 0 to 3",
        ),
        (
            "RecordIO",
            lambda tmp, pairs: manifest_stream(_label(pairs, 5, 9), tmp),
            r"record 11 \(the label of image 5\) of the Pipe-mode stream {fifo}: label 9 is not a class id from 0 to 3",
        ),
        (
            "RecordIO",
            lambda tmp, pairs: manifest_stream(pairs, tmp)[:-12],
            "the Pipe-mode stream {fifo} ends after 1 of the 2 records of an image",
        ),
        (
            "RecordIO",
            lambda tmp, pairs: recordio_stream(pairs, tmp),
            r"record 1 \(the label of image 0\) of the Pipe-mode stream {fifo} is \d+ bytes of binary data, "
            r"not label text",
        ),
    ],
)
def test_stream_errors_name_the_stream_and_record(tmp_path, wrapper, make, message):
    base_dir = job(tmp_path, wrapper)
    _stream_file(base_dir, make(tmp_path, demo_data.samples(8, SIZE, 0)))
    fifo = re.escape(str(base_dir / "input" / "data" / "train_0"))
    assert re.match(message.format(fifo=fifo), first_failure_line(base_dir))


def test_missing_fifo_and_image_content(tmp_path):
    base_dir = job(tmp_path, "None")
    assert first_failure_line(base_dir).startswith(
        f"The 'train' channel is in Pipe mode but {base_dir}/input/data/train_0 does not exist"
    )
    config = json.loads((base_dir / "input" / "config" / "inputdataconfig.json").read_text())
    config["train"]["ContentType"] = "image/jpeg"
    (base_dir / "input" / "config" / "inputdataconfig.json").write_text(json.dumps(config))
    (base_dir / "output" / "failure").unlink()
    assert first_failure_line(base_dir).startswith("The 'train' channel streams images (image/jpeg) in Pipe mode")


def streamed(tmp_path, monkeypatch, record_wrapper, streams, window, attribute_names=None):
    """The 'train' channel prepared in stream mode with a ``window`` of scratch space, its FIFOs fed."""
    base_dir = job(tmp_path, record_wrapper, attribute_names)
    monkeypatch.setenv(scratch.MODE_ENV, "stream")
    monkeypatch.setenv(scratch.WINDOW_ENV, str(window))
    fifos = Fifos(base_dir / "input" / "data", {"train": streams})
    return prepare(base_dir), fifos, base_dir


def one_pass(record_set, batch_size=4):
    """(labels trained, largest chunk file) of one pass of ``record_set``."""
    preprocessing = Preprocessing.for_training((3, SIZE, SIZE), None)
    chunk_sizes, labels = [], []

    def make_iter(chunk):
        chunk_sizes.append(chunk.rec_files[0].stat().st_size)
        return iterators.record_iter(chunk, preprocessing, batch_size, train=True)

    for _data, label, valid in record_set.batches(make_iter, batch_size):
        labels += label.asnumpy()[:valid].astype(int).tolist()
    return sorted(labels), max(chunk_sizes), len(chunk_sizes)


@pytest.mark.parametrize("wrapper, make", [("None", recordio_stream), ("RecordIO", manifest_stream)])
def test_a_streamed_channel_reads_each_pass_from_its_own_fifo_within_the_window(tmp_path, monkeypatch, wrapper, make):
    pairs = demo_data.samples(8, SIZE, 0)
    data = make(pairs, tmp_path)
    window = len(data) // 2  # two chunk files of a quarter of the stream each
    record_set, fifos, _ = streamed(tmp_path, monkeypatch, wrapper, [data, data, data], window)
    try:
        assert isinstance(record_set, StreamedSet) and record_set.count == 8
        for number in range(2):
            labels, largest, chunks = one_pass(record_set)
            assert labels == sorted(label for label, _ in pairs)
            assert chunks > 1 and largest <= window // 2 + len(data) // 2  # half the window, plus one batch
            assert f"train_{number}" in fifos.finished and "train_2" not in fifos.finished
    finally:
        fifos.close()


def test_a_stream_cut_short_in_a_later_pass_names_its_fifo(tmp_path, monkeypatch):
    data = recordio_stream(demo_data.samples(8, SIZE, 0), tmp_path)
    record_set, fifos, base_dir = streamed(tmp_path, monkeypatch, "None", [data, data[:-40]], len(data))
    try:
        one_pass(record_set)
        with pytest.raises(UserError, match=f"^the Pipe-mode stream {base_dir}/input/data/train_1 ends inside record"):
            one_pass(record_set)
    finally:
        fifos.close()


def test_a_streamed_pass_checks_num_training_samples(tmp_path, monkeypatch):
    data = recordio_stream(demo_data.samples(6, SIZE, 0), tmp_path)
    record_set, fifos, _ = streamed(tmp_path, monkeypatch, "None", [data], len(data))
    try:
        with pytest.raises(UserError, match=r"^num_training_samples is 8 but the Pipe-mode stream .*train_0 held 6"):
            one_pass(record_set)
    finally:
        fifos.close()


def test_streaming_refuses_a_window_larger_than_the_free_space(tmp_path, monkeypatch):
    base_dir = job(tmp_path, "None")
    _stream_file(base_dir, recordio_stream(demo_data.samples(8, SIZE, 0), tmp_path))
    monkeypatch.setenv(scratch.MODE_ENV, "stream")
    monkeypatch.setenv(scratch.WINDOW_ENV, "1G")
    monkeypatch.setattr(disk_space, "free_bytes", lambda folder: 100 << 20)
    assert re.match(
        r"Streaming the 'train' channel \(IMAGE_CLASSIFIER_PIPE_WINDOW\) needs about 1024\.0 MB in .*, which has "
        r"100\.0 MB free: give the training job a larger volume \(VolumeSizeInGB, at least 1 GB more\), or set "
        r"IMAGE_CLASSIFIER_PIPE_WINDOW smaller$",
        first_failure_line(base_dir),
    )


def test_packing_refuses_images_larger_than_the_free_space(tmp_path, monkeypatch):
    base_dir = write_job(tmp_path / "ml", "lst", demo_data.samples(8, SIZE, 0), demo_data.samples(4, SIZE, 1), SIZE)
    monkeypatch.setattr(disk_space, "free_bytes", lambda folder: 100)
    assert re.match(
        r"Packing the 'train' channel \(images \+ \.lst\) needs about 0\.0 MB in .*, which has 0\.0 MB free: "
        r"give the training job a larger volume \(VolumeSizeInGB, at least 1 GB more\)",
        first_failure_line(base_dir),
    )
