"""The network a job trains and what trains it: devices, trainer (with its kvstore), loss, teacher and fine-tuning.

Built once, before the first epoch; nothing here trains or draws at random. It also says, in one place,
what a checkpoint holds of the trainer: nothing with a dist kvstore, whose servers hold the optimizer's state.
"""

import math
from dataclasses import dataclass

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..data.record_set import RecordSet
from ..data.stream import StreamedSet
from ..environment import Environment
from ..hyperparameters import Hyperparameters
from ..model import networks
from .averaging import WeightAverage
from .distillation import DistillationLoss, Teacher, teacher
from .epoch_data import train_count
from .finetune import FineTuning
from .mixing import Mixing
from .optimizer import optimizer_params, without_bias_decay
from .targets import Targets


@dataclass
class Learner:
    net: gluon.HybridBlock  # trains
    served: gluon.HybridBlock  # net with its probability head, as exported
    contexts: list[mx.Context]
    dtype: str  # the precision net trains in
    trainer: gluon.Trainer
    distributed: bool  # several hosts, one shard each
    num_workers: int
    rank: int  # this worker's shard
    fine_tuning: FineTuning
    mixing: Mixing  # mixup and CutMix, drawn per batch
    targets: Targets  # what the loss compares the outputs with
    loss: gluon.loss.Loss
    pos_weight: list[mx.nd.NDArray] | None  # per device, multi-label with use_weighted_loss
    average: WeightAverage | None  # with ema_decay: what is validated, kept and exported
    teacher: Teacher | None  # with a 'teacher' channel: the loss also takes its outputs

    @classmethod
    def build(
        cls,
        env: Environment,
        hp: Hyperparameters,
        contexts: list[mx.Context],
        train_set: RecordSet | StreamedSet,
        net: gluon.HybridBlock,
        sharded: bool = False,
    ) -> "Learner":
        # Several hosts: one shard per worker, each the same number of batches (or dist_sync would hang).
        distributed = len(env.hosts) > 1
        kvstore = mx.kv.create(hp.kv_store) if distributed else "device"
        num_workers, rank = (kvstore.num_workers, kvstore.rank) if distributed else (1, 0)
        batches_per_epoch = math.ceil(train_count(hp, train_set, num_workers, sharded) / hp.mini_batch_size)
        optimizer, params = optimizer_params(hp, batches_per_epoch)
        trainer = gluon.Trainer(net.collect_params(), optimizer, params, kvstore=kvstore)
        if hp.no_bias_decay:
            without_bias_decay(trainer)
        mixing = Mixing(hp)
        targets = Targets(hp.num_classes, hp.multi_label, hp.label_smoothing, mixing.enabled)
        loss, pos_weight = _loss(hp, train_set, contexts, targets)
        taught_by = teacher(env, hp, contexts)
        if taught_by is not None:
            loss = DistillationLoss(hp.distillation_temperature, hp.distillation_weight, loss)
        return cls(
            net=net,
            served=networks.with_probabilities(net, hp.multi_label),
            contexts=contexts,
            dtype=hp.precision_dtype,
            trainer=trainer,
            distributed=distributed,
            num_workers=num_workers,
            rank=rank,
            fine_tuning=FineTuning(hp, net, trainer),
            mixing=mixing,
            targets=targets,
            loss=loss,
            pos_weight=pos_weight,
            average=WeightAverage(net, hp.ema_decay, contexts[0]) if hp.ema_decay else None,
            teacher=taught_by,
        )

    @property
    def checkpointed_trainer(self) -> gluon.Trainer | None:
        """The trainer whose state a checkpoint saves and resumes: None with a dist kvstore (the servers hold it)."""
        return None if self.distributed else self.trainer


def _loss(hp, train_set, contexts, targets):
    if not hp.multi_label:
        return gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=targets.as_given), None
    pos_weight = None
    if hp.use_weighted_loss:
        positives = train_set.labels.sum(axis=0)
        weights = (train_set.count - positives) / np.maximum(positives, 1)
        pos_weight = [mx.nd.array(weights[None, :], ctx=ctx) for ctx in contexts]
    return gluon.loss.SigmoidBinaryCrossEntropyLoss(), pos_weight
