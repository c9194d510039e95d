"""RecordIO scanning and ImageRecordIter batches, on real small .rec files."""

from pathlib import Path

import numpy as np
import pytest
from mxnet import recordio as mxrecordio

from image_classifier import demo_data, image_ops
from image_classifier.data import iterators, recordio
from image_classifier.data.spec import DataSpec
from image_classifier.environment import Channel
from image_classifier.errors import UserError
from image_classifier.model.preprocessing import Preprocessing


def channel(path, name="train"):
    return Channel(name, Path(path))


def write(prefix, count, size=16, seed=0):
    demo_data.write_recordio(prefix, demo_data.samples(count, size, seed))


def test_validation_counts_every_image_exactly_once(tmp_path):
    write(tmp_path / "val" / "val", 50)  # 50 is not a multiple of the batch size 16
    record_set = recordio.scan(channel(tmp_path / "val"), tmp_path, DataSpec(4))
    iterator = iterators.record_iter(record_set, Preprocessing.for_training((3, 16, 16), None), 16, train=False)
    for _ in range(2):  # and again next epoch, from the start
        seen = [label.asnumpy()[:valid] for _, label, valid in iterators.batches(iterator, record_set)]
        labels = np.concatenate(seen)
        assert len(labels) == 50
        np.testing.assert_array_equal(labels, np.arange(50) % 4)


def test_training_batches_cover_the_epoch_shuffled(tmp_path):
    write(tmp_path / "train" / "train", 40)
    record_set = recordio.scan(channel(tmp_path / "train"), tmp_path, DataSpec(4))
    iterator = iterators.record_iter(
        record_set,
        Preprocessing.for_training((3, 16, 16), None),
        16,
        train=True,
        augmentation_type="crop_color_transform",
        seed=3,
    )
    epochs = [
        np.concatenate([label.asnumpy()[:valid] for _, label, valid in iterators.batches(iterator, record_set)])
        for _ in range(2)
    ]
    for labels in epochs:
        assert np.bincount(labels.astype(int)).tolist() == [10, 10, 10, 10]
    assert not np.array_equal(epochs[0], np.arange(40) % 4)


def test_several_rec_files_in_one_channel(tmp_path):
    write(tmp_path / "train" / "a", 10, seed=1)
    write(tmp_path / "train" / "b", 7, seed=2)
    record_set = recordio.scan(channel(tmp_path / "train"), tmp_path, DataSpec(4))
    assert record_set.count == 17
    iterator = iterators.record_iter(record_set, Preprocessing.for_training((3, 16, 16), None), 8, train=True)
    labels = np.concatenate([label.asnumpy()[:valid] for _, label, valid in iterators.batches(iterator, record_set)])
    assert sorted(labels.tolist()) == sorted([i % 4 for i in range(10)] + [i % 4 for i in range(7)])


def test_class_names_come_from_the_im2rec_list(tmp_path):
    write(tmp_path / "train" / "train", 8)
    record_set = recordio.scan(channel(tmp_path / "train"), tmp_path, DataSpec(4))
    assert record_set.class_names == dict(enumerate(demo_data.CLASS_NAMES))


def test_label_out_of_range_names_the_record(tmp_path):
    write(tmp_path / "train" / "train", 8)
    with pytest.raises(UserError, match=r"record 3 of .*train\.rec has label 3, which is not a class id from 0 to 2"):
        recordio.scan(channel(tmp_path / "train"), tmp_path, DataSpec(3))


def test_multi_label_records(tmp_path):
    prefix = tmp_path / "train" / "train"
    prefix.parent.mkdir()
    writer = mxrecordio.MXRecordIO(str(prefix) + ".rec", "w")
    for index, (label, image) in enumerate(demo_data.samples(6, 16, 0)):
        hot = np.eye(4, dtype=np.float32)[label] + np.eye(4, dtype=np.float32)[(label + 1) % 4]
        writer.write(mxrecordio.pack(mxrecordio.IRHeader(4, hot, index, 0), image_ops.encode(image, "PNG")))
    writer.close()
    record_set = recordio.scan(channel(tmp_path / "train"), tmp_path, DataSpec(4, multi_label=True))
    assert record_set.labels.shape == (6, 4)
    iterator = iterators.record_iter(
        record_set, Preprocessing.for_training((3, 16, 16), None), 4, train=False, multi_label=True
    )
    labels = np.concatenate([label.asnumpy()[:valid] for _, label, valid in iterators.batches(iterator, record_set)])
    np.testing.assert_array_equal(labels, record_set.labels)
    with pytest.raises(UserError, match="multi_label=1 needs 5 multi-hot values"):
        recordio.scan(channel(tmp_path / "train"), tmp_path, DataSpec(5, multi_label=True))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"not a record at all, just text" * 10, "is not a valid RecordIO file"),
    ],
)
def test_bad_channels(tmp_path, content, message):
    (tmp_path / "train").mkdir()
    if content:
        (tmp_path / "train" / "broken.rec").write_bytes(content)
    with pytest.raises(UserError, match=message):
        recordio.scan(channel(tmp_path / "train"), tmp_path, DataSpec(4))


def test_small_images_are_refused_before_training(tmp_path):
    write(tmp_path / "train" / "train", 4, size=16)
    with pytest.raises(
        UserError, match=r"record 0 of .* is 16x16 pixels, smaller than image_shape 32x32; set resize=32"
    ):
        recordio.scan(channel(tmp_path / "train"), tmp_path, DataSpec(4, min_size=(32, 32)))


@pytest.mark.parametrize(
    "record, message",
    [
        (mxrecordio.pack(mxrecordio.IRHeader(0, float("nan"), 0, 0), b"x"), r"has label nan, which is not a class id"),
        (b"short", r"record 0 at byte 0 is too short for its IRHeader"),
    ],
)
def test_records_that_hold_no_label_are_user_errors(tmp_path, record, message):
    (tmp_path / "train").mkdir()
    writer = mxrecordio.MXRecordIO(str(tmp_path / "train" / "train.rec"), "w")
    writer.write(record)
    writer.close()
    with pytest.raises(UserError, match=message):
        recordio.scan(channel(tmp_path / "train"), tmp_path, DataSpec(4))
