"""Serving's NumPy transform must be the training's validation transform (ImageRecordIter's)."""

import numpy as np
import pytest
from mxnet import recordio as mxrecordio

from image_classifier import image_ops
from image_classifier.data import iterators, recordio
from image_classifier.data.spec import DataSpec
from image_classifier.environment import Channel
from image_classifier.model.preprocessing import Preprocessing


@pytest.mark.parametrize("height, width, resize", [(40, 60, 36), (70, 50, 32), (33, 45, None)])
def test_apply_equals_image_record_iter(tmp_path, height, width, resize):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(3)]
    (tmp_path / "val").mkdir()
    writer = mxrecordio.MXRecordIO(str(tmp_path / "val" / "val.rec"), "w")
    for index, image in enumerate(images):  # PNG: lossless, so both sides decode the same pixels
        writer.write(mxrecordio.pack(mxrecordio.IRHeader(0, 0, index, 0), image_ops.encode(image, "PNG")))
    writer.close()
    preprocessing = Preprocessing.for_training((3, 32, 32), resize)
    record_set = recordio.scan(Channel("val", tmp_path / "val"), tmp_path, DataSpec(2))
    iterator = iterators.record_iter(record_set, preprocessing, 3, train=False)
    data, _, _ = next(iterators.batches(iterator, record_set))
    expected = np.stack([preprocessing.apply(image) for image in images])
    np.testing.assert_allclose(data.asnumpy(), expected, atol=1e-4)


def test_json_round_trip():
    preprocessing = Preprocessing.for_training((1, 28, 28), 32)
    assert Preprocessing.from_json(preprocessing.to_json()) == preprocessing
    assert len(preprocessing.mean) == 1
