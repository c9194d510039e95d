"""Packing images to RecordIO: order, pass-through, resizing, formats, labels, errors."""

import io

import numpy as np
import pytest
from mxnet import recordio
from PIL import Image

from image_classifier import demo_data, image_ops
from image_classifier.data import packing
from image_classifier.data.items import Item
from image_classifier.data.spec import DataSpec
from image_classifier.errors import UserError


def encoded(image, image_format="PNG"):
    return image_ops.encode(image, image_format)


def decoded(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def read_back(tmp_path):
    reader = recordio.MXIndexedRecordIO(str(tmp_path / "out.idx"), str(tmp_path / "out.rec"), "r")
    records = [recordio.unpack(reader.read_idx(key)) for key in reader.keys]
    reader.close()
    return records


def pack(tmp_path, entries, threads=packing.THREADS, **spec):
    return packing.pack(entries, tmp_path / "out.rec", tmp_path / "out.idx", DataSpec(4, **spec), threads=threads)


def test_records_keep_the_input_order_with_many_threads(tmp_path):
    pairs = demo_data.samples(60, 16, 0)
    big = np.zeros((64, 48, 3), np.uint8)  # a few slow entries (resized) among fast ones
    entries = [
        Item(f"entry {i}", encoded(big if i % 7 == 0 else image), label) for i, (label, image) in enumerate(pairs)
    ]
    labels, wheres = pack(tmp_path, iter(entries), resize=16, threads=8)
    np.testing.assert_array_equal(labels, np.arange(60) % 4)
    assert wheres == tuple(f"entry {i}" for i in range(60))
    records = read_back(tmp_path)
    assert [header.id for header, _ in records] == list(range(60))
    assert [header.label for header, _ in records] == [float(i % 4) for i in range(60)]


def test_jpeg_and_png_pass_through_untouched(tmp_path):
    _, image = demo_data.samples(1, 32, 0)[0]
    images = [encoded(image, "JPEG"), encoded(image, "PNG")]
    pack(tmp_path, [Item("jpeg", images[0], 0), Item("png", images[1], 1)])
    assert [data for _, data in read_back(tmp_path)] == images


def test_resize_brings_the_shorter_side_down_as_image_record_iter_does(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    pack(tmp_path, [Item("big", encoded(image), 0), Item("small", encoded(image[:12, :12]), 1)], resize=16)
    (_, big), (_, small) = read_back(tmp_path)
    assert decoded(big).shape == (16, 21, 3)
    assert small == encoded(image[:12, :12])  # never enlarged here: ImageRecordIter does that


def test_other_formats_become_png(tmp_path):
    _, image = demo_data.samples(1, 16, 0)[0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="BMP")
    pack(tmp_path, [Item("bmp", buffer.getvalue(), 0)])
    ((_, data),) = read_back(tmp_path)
    assert data.startswith(b"\x89PNG")
    np.testing.assert_array_equal(decoded(data), image)


def test_multi_hot_labels_are_packed_as_flag_k(tmp_path):
    _, image = demo_data.samples(1, 16, 0)[0]
    row = np.array([0, 1, 1, 0], np.float32)
    labels, _ = pack(tmp_path, [Item("multi", encoded(image), row)])
    assert labels.shape == (1, 4)
    ((header, _),) = read_back(tmp_path)
    assert header.flag == 4 and header.label.tolist() == row.tolist()


def test_local_files_are_read(tmp_path):
    _, image = demo_data.samples(1, 16, 0)[0]
    (tmp_path / "a.png").write_bytes(encoded(image))
    pack(tmp_path, [Item("line 1", tmp_path / "a.png", 2)])
    ((header, data),) = read_back(tmp_path)
    assert header.label == 2.0 and data == encoded(image)


@pytest.mark.parametrize(
    "data, options, message",
    [
        (b"plain text", {}, r"^entry 3: the image is not an image \(JPEG or PNG\)"),
        (
            encoded(np.zeros((8, 8, 3), np.uint8)),
            {"min_size": (16, 16)},
            r"^entry 3: the image is 8x8 pixels, smaller than image_shape 16x16; set resize=16",
        ),
        (encoded(np.zeros((40, 40, 3), np.uint8))[:60], {"resize": 16}, r"^entry 3: the image cannot be decoded"),
    ],
)
def test_the_first_bad_entry_in_order_is_named(tmp_path, data, options, message):
    good = encoded(np.zeros((16, 16, 3), np.uint8))
    entries = [Item(f"entry {i}", data if i in (3, 5) else good, 0) for i in range(8)]
    with pytest.raises(UserError, match=message):
        pack(tmp_path, entries, **options)
