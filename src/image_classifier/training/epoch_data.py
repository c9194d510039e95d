"""The data a job's epochs read: this worker's training batches, epoch by epoch, and the validation batches.

Epoch ``epoch``'s shuffle and augmentation follow from its seed alone; every worker runs as many batches
(``iterators.shard_count`` images each), or dist_sync would hang.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import mxnet as mx

from ..data import iterators
from ..hyperparameters import Hyperparameters
from ..model.preprocessing import Preprocessing


@dataclass
class EpochData:
    sets: SimpleNamespace  # the train and validation RecordSets
    train_count: int  # this worker's images per epoch
    train_iter_args: dict[str, Any]  # record_iter's arguments but the epoch's seed
    validation_iter: mx.io.DataIter
    train_iter: mx.io.DataIter | None = None  # the epoch's, while it trains

    @classmethod
    def build(
        cls, hp: Hyperparameters, sets: SimpleNamespace, preprocessing: Preprocessing, num_workers: int, rank: int
    ) -> "EpochData":
        iterator_args = dict(preprocessing=preprocessing, batch_size=hp.mini_batch_size, multi_label=hp.multi_label)
        return cls(
            sets=sets,
            train_count=iterators.shard_count(sets.train, num_workers),
            train_iter_args=dict(
                iterator_args, augmentation_type=hp.augmentation_type, num_parts=num_workers, part_index=rank
            ),
            validation_iter=iterators.record_iter(sets.validation, train=False, seed=hp.seed, **iterator_args),
        )

    def train_batches(self, seed: int) -> Iterator[tuple[mx.nd.NDArray, mx.nd.NDArray, int]]:
        """One epoch of this worker's shard, shuffled and augmented from ``seed``, as ``iterators.batches``."""
        self.train_iter = None  # its decode threads and buffers go before the next one's come
        self.train_iter = iterators.record_iter(self.sets.train, train=True, seed=seed, **self.train_iter_args)
        return iterators.batches(self.train_iter, self.sets.train, self.train_count)

    def validation_batches(self) -> Iterator[tuple[mx.nd.NDArray, mx.nd.NDArray, int]]:
        return iterators.batches(self.validation_iter, self.sets.validation)
