"""The data a job's epochs read: this worker's training batches, epoch by epoch, and the validation batches.

Epoch ``epoch``'s shuffle and augmentation follow from (seed, epoch) alone (RandAugment's, TrivialAugment's and
random erasing's from (seed, epoch, batch, image), in augment_workers.py); every worker runs as many batches
(``train_count`` images each), or dist_sync would hang. A set is a RecordSet (a File-mode channel, or a
Pipe-mode one copied to scratch), read by one ``ImageRecordIter`` an epoch, or a StreamedSet (a Pipe-mode
channel streamed), read by one ``ImageRecordIter`` a chunk of its next FIFO (data/stream.py).
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import mxnet as mx

from ..data import augment_workers, iterators
from ..data.augmentation import POLICIES, Augmentation
from ..data.record_set import RecordSet
from ..data.stream import Batch, StreamedSet
from ..hyperparameters import Hyperparameters
from ..model.preprocessing import Preprocessing


def train_count(hp: Hyperparameters, train_set: RecordSet | StreamedSet, num_workers: int, sharded: bool) -> int:
    """This worker's training images an epoch, the same on every worker.

    ShardedByS3Key: each host holds its own part, not sharded again; num_training_samples is the whole
    channel's count, as for the built-in algorithm, so every host's epoch is its share of that. A streamed
    set's count is already this host's share (stream.py).
    """
    if isinstance(train_set, StreamedSet):
        return train_set.count
    if sharded:
        return math.ceil(hp.num_training_samples / num_workers)
    return iterators.shard_count(train_set, num_workers)


@dataclass
class EpochData:
    sets: SimpleNamespace  # the train and validation sets: RecordSets or StreamedSets
    train_count: int  # this worker's images per epoch
    train_iter_args: dict[str, Any]  # record_iter's arguments but the epoch's seed
    validation_iter_args: dict[str, Any]  # record_iter's arguments for validation
    validation_iter: mx.io.DataIter | None  # a RecordSet's, made once; None for a StreamedSet
    num_workers: int
    rank: int
    seed: int  # the job's
    augmentation: Augmentation  # what augment_workers.py does after the reader's crop and mirror
    train_iter: mx.io.DataIter | None = None  # the epoch's, while it trains

    @classmethod
    def build(
        cls,
        hp: Hyperparameters,
        sets: SimpleNamespace,
        preprocessing: Preprocessing,
        num_workers: int,
        rank: int,
        sharded: bool = False,
    ) -> "EpochData":
        iterator_args = dict(preprocessing=preprocessing, batch_size=hp.mini_batch_size, multi_label=hp.multi_label)
        # A ShardedByS3Key part, or a stream (which stream.py shards record by record), is read whole.
        parts = 1 if sharded or isinstance(sets.train, StreamedSet) else num_workers
        validation_args = dict(iterator_args, train=False, seed=hp.seed)
        augmentation = Augmentation(
            policy=hp.augmentation_type if hp.augmentation_type in POLICIES else None,
            operations=hp.randaugment_n,
            magnitude=hp.randaugment_m,
            erasing=hp.random_erasing,
            mean=preprocessing.mean,
            std=preprocessing.std,
        )
        return cls(
            sets=sets,
            train_count=train_count(hp, sets.train, num_workers, sharded),
            train_iter_args=dict(
                iterator_args,
                augmentation_type=hp.augmentation_type,
                num_parts=parts,
                part_index=rank if parts > 1 else 0,
                normalized=not augmentation.enabled,
            ),
            validation_iter_args=validation_args,
            validation_iter=(
                None
                if isinstance(sets.validation, StreamedSet)
                else iterators.record_iter(sets.validation, **validation_args)
            ),
            num_workers=num_workers,
            rank=rank,
            seed=hp.seed,
            augmentation=augmentation,
        )

    def train_batches(self, epoch: int, skip: int = 0) -> Iterator[Batch]:
        """Epoch ``epoch`` (0-based) of this worker's shard, shuffled and augmented from (seed, epoch), as
        ``iterators.batches``; the first ``skip`` batches, trained before a stop, are not augmented."""
        return augment_workers.augmented(self._read(self.seed + epoch), self.augmentation, self.seed, epoch, skip)

    def _read(self, seed):
        self.train_iter = None  # its decode threads and buffers go before the next one's come
        train_set = self.sets.train
        if isinstance(train_set, StreamedSet):  # one iterator a chunk, each gone before its file is reused
            return train_set.batches(
                lambda chunk: iterators.record_iter(chunk, train=True, seed=seed, **self.train_iter_args),
                self.train_iter_args["batch_size"],
                self.num_workers,
                self.rank,
            )
        self.train_iter = iterators.record_iter(train_set, train=True, seed=seed, **self.train_iter_args)
        return iterators.batches(self.train_iter, train_set, self.train_count)

    def validation_batches(self) -> Iterator[Batch]:
        """One pass over the validation set (a streamed one reads its next FIFO)."""
        validation_set = self.sets.validation
        if isinstance(validation_set, StreamedSet):
            return validation_set.batches(
                lambda chunk: iterators.record_iter(chunk, **self.validation_iter_args),
                self.validation_iter_args["batch_size"],
            )
        return iterators.batches(self.validation_iter, validation_set)
