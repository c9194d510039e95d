"""``ImageRecordIter`` for training and validation, and batches that count every image exactly once."""

import math
import os
from collections.abc import Iterator
from typing import Protocol

import mxnet as mx
from mxnet.base import MXNetError

from .record_set import RecordSet
from .recordio import undecodable_image

# augmentation_type as SageMaker's built-in algorithm documents it (MXNet's data augmentation levels 1-3).
AUGMENTATION = {
    None: {},
    "crop": {"rand_crop": True, "rand_mirror": True},
    "crop_color": {"rand_crop": True, "rand_mirror": True, "random_h": 36, "random_s": 50, "random_l": 50},
    "crop_color_transform": {
        "rand_crop": True,
        "rand_mirror": True,
        "random_h": 36,
        "random_s": 50,
        "random_l": 50,
        "max_rotate_angle": 10,
        "max_shear_ratio": 0.1,
        "max_aspect_ratio": 0.25,
    },
    # ours: the C++ crop and mirror, then the policy in augment_workers.py, as the papers crop and flip first
    "randaugment": {"rand_crop": True, "rand_mirror": True},
    "trivialaugment": {"rand_crop": True, "rand_mirror": True},
}


class Decoding(Protocol):
    """What ``record_iter`` needs of a ``model.preprocessing.Preprocessing`` (data does not import model)."""

    def record_iter_args(self) -> dict: ...


def decode_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def record_iter(
    record_set: RecordSet,
    preprocessing: Decoding,
    batch_size: int,
    train: bool,
    multi_label: bool = False,
    augmentation_type: str | None = None,
    seed: int = 0,
    num_parts: int = 1,
    part_index: int = 0,
    normalized: bool = True,
) -> mx.io.DataIter:
    """MXNet's C++ reader: decode and augment in threads, batches of ``batch_size`` on cpu_pinned(0).

    ``normalized=False``: the pixels as they are (0 to 255), for augment_workers.py to augment and normalise.
    ``round_batch=False`` keeps every epoch at ceil(count / batch_size) batches, the last one topped up
    from the start; ``batches`` below drops that top-up where counting matters.
    """
    args = dict(
        path_imgrec=record_set.path_imgrec,
        path_imgidx=str(record_set.index_path),
        batch_size=batch_size,
        label_width=record_set.labels.shape[1] if multi_label else 1,
        shuffle=train,
        round_batch=False,
        preprocess_threads=decode_threads(),
        seed=seed,
        seed_aug=seed,
        num_parts=num_parts,
        part_index=part_index,
        **preprocessing.record_iter_args(),
    )
    if train:
        args.update(AUGMENTATION[augmentation_type])
    if not normalized:
        args.update({f"{kind}_{letter}": value for kind, value in (("mean", 0.0), ("std", 1.0)) for letter in "rgb"})
    try:
        return mx.io.ImageRecordIter(**args)  # decodes its first batch already
    except MXNetError as error:
        raise undecodable_image(record_set, error) from None


def shard_count(record_set: RecordSet, num_parts: int) -> int:
    """The images each of ``num_parts`` workers reads per epoch: all run as many batches (a shorter shard
    starts over), or dist_sync would hang."""
    return math.ceil(record_set.count / num_parts)


def batches(
    iterator: mx.io.DataIter, record_set: RecordSet, count: int | None = None
) -> Iterator[tuple[mx.nd.NDArray, mx.nd.NDArray, int]]:
    """One epoch as (data, label, valid): ``valid`` leading rows of the batch are new images.

    Over an epoch the ``valid`` counts add up to exactly ``count`` (default: the set's count); the
    wrapped-around rest of the last batch is still there (static shapes), to be left out of metrics. A
    shard with fewer images than ``count`` starts over, so that every worker runs as many batches.
    """
    remaining = record_set.count if count is None else count
    _reset(iterator, record_set)
    while remaining > 0:
        try:
            batch = iterator.next()
        except StopIteration:
            _reset(iterator, record_set)
            continue
        except MXNetError as error:
            raise undecodable_image(record_set, error) from None
        valid = min(remaining, batch.data[0].shape[0] - batch.pad)
        remaining -= valid
        yield batch.data[0], batch.label[0], valid


def _reset(iterator, record_set):
    try:
        iterator.reset()  # decoding runs ahead in threads, so a bad image can surface here already
    except MXNetError as error:
        raise undecodable_image(record_set, error) from None
