"""What a training job builds once, before its first epoch: devices' split, trainer, loss, metrics, iterators'
arguments, the served network, the model keeper and the reporter. Nothing here trains or draws at random."""

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..data import iterators
from ..data.stream import Batch, StreamedSet
from ..environment import Environment
from ..errors import UserError
from ..hyperparameters import Hyperparameters
from ..model import networks
from ..model.preprocessing import Preprocessing
from ..reports.reporter import Reporter
from . import metrics
from .early_stopping import EarlyStopping
from .finetune import FineTuning
from .keeper import ModelKeeper
from .optimizer import optimizer_params
from .progress import Progress


@dataclass
class Setup:
    hp: Hyperparameters  # its seed is the job's for good: resolved (from a checkpoint, if any) before the build
    contexts: list[mx.Context]
    sets: SimpleNamespace  # the train and validation RecordSets
    net: gluon.HybridBlock  # trains
    served: gluon.HybridBlock  # net with its probability head, as exported
    preprocessing: Preprocessing
    distributed: bool  # several hosts, one shard each
    num_workers: int
    rank: int  # this worker's number among them
    train_count: int  # this worker's images per epoch; every worker the same (dist_sync waits for each batch)
    trainer: gluon.Trainer
    fine_tuning: FineTuning
    loss: gluon.loss.Loss
    pos_weight: list[mx.nd.NDArray] | None  # per device, multi-label with use_weighted_loss
    metric: mx.metric.CompositeEvalMetric
    train_iter_args: dict[str, Any]  # record_iter's arguments but the epoch's seed
    validation_batches: Callable[[], Iterator[Batch]]  # one pass over the validation set
    keeper: ModelKeeper | None  # only the master host keeps epochs
    class_names: dict[int, str]
    reporter: Reporter

    def new_progress(self) -> Progress:
        """The state of a job that has trained nothing yet."""
        hp = self.hp
        early_stopping = (
            EarlyStopping(hp.early_stopping_min_epochs, hp.early_stopping_patience, hp.early_stopping_tolerance)
            if hp.early_stopping
            else None
        )
        return Progress(seed=hp.seed, keeper=self.keeper, early_stopping=early_stopping)


def _loss(hp, train_set, contexts):
    if not hp.multi_label:
        return gluon.loss.SoftmaxCrossEntropyLoss(), None
    pos_weight = None
    if hp.use_weighted_loss:
        if isinstance(train_set, StreamedSet):
            raise UserError(
                "use_weighted_loss=1 needs the label counts before training, which a streamed Pipe-mode channel "
                "does not give; set IMAGE_CLASSIFIER_PIPE_MODE=copy, use File mode, or use_weighted_loss=0"
            )
        positives = train_set.labels.sum(axis=0)
        weights = (train_set.count - positives) / np.maximum(positives, 1)
        pos_weight = [mx.nd.array(weights[None, :], ctx=ctx) for ctx in contexts]
    return gluon.loss.SigmoidBinaryCrossEntropyLoss(), pos_weight


def sharded(env: Environment, name: str) -> bool:
    """Whether channel ``name`` is ShardedByS3Key: each host sees its own part."""
    channel = env.channels.get(name)
    return channel is not None and channel.config.get("S3DistributionType") == "ShardedByS3Key"


def _validation_batches(hp, validation_set, iterator_args):
    if isinstance(validation_set, StreamedSet):
        return lambda: validation_set.batches(
            lambda chunk: iterators.record_iter(chunk, train=False, seed=hp.seed, **iterator_args), hp.mini_batch_size
        )
    validation_iter = iterators.record_iter(validation_set, train=False, seed=hp.seed, **iterator_args)
    return lambda: iterators.batches(validation_iter, validation_set)


def _class_names(hp, train_set):
    return {label: train_set.class_names.get(label, str(label)) for label in range(hp.num_classes)}


def build(
    env: Environment, hp: Hyperparameters, contexts: list[mx.Context], sets: SimpleNamespace, net: gluon.HybridBlock
) -> Setup:
    preprocessing = Preprocessing.for_training(hp.image_shape, hp.resize)
    # Several hosts: one shard per worker, each the same number of batches (or dist_sync would hang).
    distributed = len(env.hosts) > 1
    kvstore = mx.kv.create(hp.kv_store) if distributed else "device"
    num_workers, rank = (kvstore.num_workers, kvstore.rank) if distributed else (1, 0)
    # ShardedByS3Key: each host holds its own part, not sharded again; num_training_samples is the whole
    # channel's count, as for the built-in algorithm, so every host's epoch is its share of that.
    train_sharded = sharded(env, "train")
    total = hp.num_training_samples if train_sharded else sets.train.count
    train_count = sets.train.count if isinstance(sets.train, StreamedSet) else math.ceil(total / num_workers)
    parts = 1 if train_sharded or isinstance(sets.train, StreamedSet) else num_workers
    optimizer, params = optimizer_params(hp, math.ceil(train_count / hp.mini_batch_size))
    trainer = gluon.Trainer(net.collect_params(), optimizer, params, kvstore=kvstore)
    loss, pos_weight = _loss(hp, sets.train, contexts)
    iterator_args = dict(preprocessing=preprocessing, batch_size=hp.mini_batch_size, multi_label=hp.multi_label)
    class_names = _class_names(hp, sets.train)
    return Setup(
        hp=hp,
        contexts=contexts,
        sets=sets,
        net=net,
        served=networks.with_probabilities(net, hp.multi_label),
        preprocessing=preprocessing,
        distributed=distributed,
        num_workers=num_workers,
        rank=rank,
        train_count=train_count,
        trainer=trainer,
        fine_tuning=FineTuning(hp, net, trainer),
        loss=loss,
        pos_weight=pos_weight,
        metric=metrics.make_metrics(hp.multi_label, hp.top_k),
        train_iter_args=dict(
            iterator_args, augmentation_type=hp.augmentation_type, num_parts=parts, part_index=rank if parts > 1 else 0
        ),
        validation_batches=_validation_batches(hp, sets.validation, iterator_args),
        keeper=(
            ModelKeeper(env.paths.model_dir, hp.checkpoint_frequency, sets.validation.count or 0)
            if env.is_master
            else None
        ),
        class_names=class_names,
        reporter=Reporter(env, hp, class_names),
    )
