"""One training job, run in the child process that ``train`` supervises (cli.job_main)."""

import dataclasses
import logging
import math
import random
import signal
import tempfile
import time
from types import SimpleNamespace

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from .. import devices, failure, hyperparameters
from ..data import channels, checks, iterators
from ..environment import Environment, Paths
from ..errors import UserError
from ..logs import configure_logging
from ..model import artifacts, networks, onnx_export, sources
from ..model.preprocessing import Preprocessing
from ..reports.reporter import Reporter
from . import metrics
from .checkpoints import Checkpoints
from .early_stopping import EarlyStopping
from .finetune import FineTuning
from .keeper import ModelKeeper
from .optimizer import optimizer_params

log = logging.getLogger(__name__)
PROGRESS_EVERY = 20  # batches between progress lines, as MXNet's image-classification examples log


class StopRequest:
    """Set by SIGTERM; the loop checks it between batches."""

    def __init__(self):
        self.signal = None
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, number, _frame):
        self.signal = number

    def check(self, epoch):
        if self.signal is not None:
            raise failure.Stopped(
                f"Training stopped by {signal.Signals(self.signal).name} during epoch {epoch}; "
                f"the epochs kept so far are in the model directory"
            )


def _seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def _load_data(env, hp, scratch_dir):
    sets = SimpleNamespace(**{name: channels.prepare(env, name, scratch_dir, hp) for name in ("train", "validation")})
    checks.check(hp, sets.train)
    return sets


def _class_names(hp, train_set):
    return {label: train_set.class_names.get(label, str(label)) for label in range(hp.num_classes)}


def _loss(hp, train_set, contexts):
    if not hp.multi_label:
        return gluon.loss.SoftmaxCrossEntropyLoss(), None
    pos_weight = None
    if hp.use_weighted_loss:
        positives = train_set.labels.sum(axis=0)
        weights = (train_set.count - positives) / np.maximum(positives, 1)
        pos_weight = [mx.nd.array(weights[None, :], ctx=ctx) for ctx in contexts]
    return gluon.loss.SigmoidBinaryCrossEntropyLoss(), pos_weight


class Loop:
    def __init__(self, env, hp, contexts, sets, net):
        self.hp = hp
        self.contexts = contexts
        self.sets = sets
        self.net = net
        self.dtype = hp.precision_dtype
        self.preprocessing = Preprocessing.for_training(hp.image_shape, hp.resize)
        # Several hosts: one shard per worker, each the same number of batches (or dist_sync would hang).
        self.distributed = len(env.hosts) > 1
        kvstore = mx.kv.create(hp.kv_store) if self.distributed else "device"
        self.num_workers, rank = (kvstore.num_workers, kvstore.rank) if self.distributed else (1, 0)
        self.train_count = math.ceil(sets.train.count / self.num_workers)
        self.batches_per_epoch = math.ceil(self.train_count / hp.mini_batch_size)
        optimizer, params = optimizer_params(hp, self.batches_per_epoch)
        self.trainer = gluon.Trainer(net.collect_params(), optimizer, params, kvstore=kvstore)
        self.fine_tuning = FineTuning(hp, net, self.trainer)
        self.loss, self.pos_weight = _loss(hp, sets.train, contexts)
        self.metric = metrics.make_metrics(hp.multi_label, hp.top_k)
        iterator_args = dict(
            preprocessing=self.preprocessing, batch_size=hp.mini_batch_size, multi_label=hp.multi_label
        )
        self.train_iter_args = dict(
            iterator_args, augmentation_type=hp.augmentation_type, num_parts=self.num_workers, part_index=rank
        )
        self.train_iter = None
        self.validation_iter = iterators.record_iter(sets.validation, train=False, seed=hp.seed, **iterator_args)
        self.served = networks.with_probabilities(net, hp.multi_label)
        self._hybridize()
        self.split_logged = False
        self.keeper = (
            ModelKeeper(env.paths.model_dir, hp.checkpoint_frequency, sets.validation.count) if env.is_master else None
        )
        self.model_dir = env.paths.model_dir
        self.checkpoints = Checkpoints(env.paths.checkpoint_dir)
        self.class_names = _class_names(hp, sets.train)
        self.reporter = Reporter(env, hp, self.class_names)

    def _hybridize(self):
        """``served`` (exported, batch 1) traces the network anew at its next save; hybridizing it reaches
        into ``net``, which then gets back the static memory it trains with."""
        self.served.hybridize()
        self.net.hybridize(static_alloc=True, static_shape=True)
        self.served_ready = False

    def _forward(self, data, label):
        """Split one batch over the devices; returns per-device (data, label) pairs."""
        datas = gluon.utils.split_and_load(data, self.contexts, even_split=False)
        labels = gluon.utils.split_and_load(label, self.contexts, even_split=False)
        if not self.split_logged:
            sizes = "+".join(str(x.shape[0]) for x in datas)
            log.info("Batches of %d split over %d device(s): %s", data.shape[0], len(datas), sizes)
            self.split_logged = True
        return [(x.astype(self.dtype, copy=False), y) for x, y in zip(datas, labels)]

    def _scores(self, outputs):
        """The batch's outputs as float32 on the CPU, probabilities for multi-label (for the metrics)."""
        outputs = [out.astype("float32", copy=False).as_in_context(mx.cpu()) for out in outputs]
        scores = outputs[0] if len(outputs) == 1 else mx.nd.concat(*outputs, dim=0)
        return scores.sigmoid() if self.hp.multi_label else scores

    def _epoch_iter(self, epoch):
        """Epoch ``epoch``'s shuffle and augmentation follow from (seed, epoch) alone, so a resumed job sees
        the same batches as one never stopped."""
        self.train_iter = None  # its decode threads and buffers go before the next one's come
        self.train_iter = iterators.record_iter(
            self.sets.train, train=True, seed=self.hp.seed + epoch, **self.train_iter_args
        )
        return iterators.batches(self.train_iter, self.sets.train, self.train_count)

    def train_epoch(self, epoch, stop, skip=0):
        """Train one epoch, leaving out its first ``skip`` batches (trained before a stop)."""
        self.metric.reset()
        if skip:
            log.info("Epoch[%d] Skipping the %d batches trained before the stop", epoch, skip)
        self.batches_done = skip
        started = window_start = time.time()
        window_samples = 0
        for number, (data, label, valid) in enumerate(self._epoch_iter(epoch)):
            if number < skip:
                continue
            self.batches_done = number
            stop.check(epoch)
            pairs = self._forward(data, label)
            with autograd.record():
                outputs = [self.net(x) for x, _ in pairs]
                losses = [
                    self.loss(out.astype("float32", copy=False), y, None, *self._pos_weight(i))
                    for i, (out, (_, y)) in enumerate(zip(outputs, pairs))
                ]
            autograd.backward(losses)
            self.trainer.step(data.shape[0] * self.num_workers)  # the gradient averaged over all workers
            scores = self._scores(outputs)
            metrics.update(self.metric, label, scores, valid)
            self.reporter.train_batch(label, scores, valid, self.metric, self.trainer.learning_rate)
            window_samples += data.shape[0]
            if (number + 1) % PROGRESS_EVERY == 0:
                self._check_finite(losses, epoch)
                speed = window_samples / max(time.time() - window_start, 1e-9)
                log.info(metrics.progress_line(epoch, number + 1, speed, self.metric))
                window_start, window_samples = time.time(), 0
        for line in metrics.epoch_lines(epoch, "Train", self.metric):
            log.info(line)
        log.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - started)

    def _pos_weight(self, device_number):
        return () if self.pos_weight is None else (self.pos_weight[device_number],)

    def _check_finite(self, losses, epoch):
        if not np.isfinite(losses[0].mean().asscalar()):
            raise UserError(f"Training diverged (the loss is not finite) in epoch {epoch}; lower learning_rate")

    def validate(self, epoch):
        self.metric.reset()
        for data, label, valid in iterators.batches(self.validation_iter, self.sets.validation):
            outputs = [self.net(x) for x, _ in self._forward(data, label)]
            scores = self._scores(outputs)
            metrics.update(self.metric, label, scores, valid)
            self.reporter.validation_batch(label, scores, valid)
        for line in metrics.epoch_lines(epoch, "Validation", self.metric):
            log.info(line)
        loss = self.reporter.end_of_epoch(epoch, self.metric)
        return metrics.accuracy(self.metric), loss

    def save(self, epoch, accuracy, loss, last):
        if self.keeper is None:
            return
        if not self.served_ready:  # export needs one forward pass of the hybridized block
            artifacts.write_metadata(self.model_dir, self.preprocessing, self.class_names)
            self.served(mx.nd.zeros((1, *self.hp.image_shape), ctx=self.contexts[0], dtype=self.dtype))
            self.served_ready = True
        if self.dtype == "float16":  # the saved model takes float32 input, as serving sends
            self.net.cast("float32")
        self.keeper.end_of_epoch(self.served, epoch + 1, accuracy, loss, last)
        if self.dtype == "float16":
            self.net.cast("float16")

    def _progress(self, early_stopping, stopped_early, batches_done):
        return {
            "seed": self.hp.seed,
            "batches_done": batches_done,
            "keeper": self.keeper.state() if self.keeper else None,
            "early_stopping": early_stopping.state() if early_stopping else None,
            "stopped_early": stopped_early,
        }

    def _checkpoint(self, epochs_done, early_stopping, stopped_early=False, batches_done=0):
        if self.checkpoints.enabled:
            trainer = None if self.distributed else self.trainer
            self.checkpoints.save(
                epochs_done,
                self.net,
                trainer,
                self._progress(early_stopping, stopped_early, batches_done),
                self.model_dir,
            )

    def _resume(self, early_stopping):
        """(epochs done, batches of the next epoch done) from the newest checkpoint, (0, 0) without one;
        epochs done is None when training had finished."""
        if not self.checkpoints.enabled:
            return 0, 0
        state = self.checkpoints.resume(self.net, None if self.distributed else self.trainer, self.model_dir)
        if state is None:
            return 0, 0
        if self.keeper and state["keeper"]:
            self.keeper.restore(state["keeper"])
        if early_stopping and state["early_stopping"]:
            early_stopping.restore(state["early_stopping"])
        if state.get("seed", self.hp.seed) != self.hp.seed:  # drawn at random when the job sets none
            log.info("Going on with the stopped job's seed %d", state["seed"])
            self.hp = dataclasses.replace(self.hp, seed=state["seed"])
        return (None if state["stopped_early"] else state["epochs_done"]), state.get("batches_done", 0)

    def run(self, stop):
        hp = self.hp
        early_stopping = (
            EarlyStopping(hp.early_stopping_min_epochs, hp.early_stopping_patience, hp.early_stopping_tolerance)
            if hp.early_stopping
            else None
        )
        start, skip = self._resume(early_stopping)
        hp = self.hp  # a resumed job goes on with the stopped one's seed
        for epoch in range(hp.epochs if start is None else start, hp.epochs):
            mx.random.seed(hp.seed + epoch)
            if self.fine_tuning.start_epoch(epoch):
                self._hybridize()
            try:
                self.train_epoch(epoch, stop, skip if epoch == start else 0)
            except failure.Stopped:
                self._checkpoint(epoch, early_stopping, batches_done=self.batches_done)
                if self.keeper is not None:  # the checkpoint holds every epoch that may still be chosen
                    self.keeper.finish()
                raise
            accuracy, loss = self.validate(epoch)
            stopping = early_stopping is not None and early_stopping.should_stop(epoch + 1, accuracy)
            self.save(epoch, accuracy, loss, last=stopping or epoch + 1 == hp.epochs)
            self._checkpoint(epoch + 1, early_stopping, stopped_early=stopping)
            if stopping:
                log.info(
                    "Early stopping after epoch %d: no improvement in %d epochs", epoch, hp.early_stopping_patience
                )
                break
        if self.keeper is not None:
            self.keeper.finish()
        self.reporter.finish(iterators.batches(self.validation_iter, self.sets.validation), self.contexts[0])
        if hp.export_onnx and self.keeper is not None:
            log.info("Wrote %s", onnx_export.export(self.model_dir))


def _build_net(env, hp, contexts):
    net = sources.starting_network(env, hp)
    net.collect_params().reset_ctx(contexts)
    if hp.precision_dtype == "float16":
        net.cast("float16")
    return net


def train(env):
    stop = StopRequest()
    hp = hyperparameters.parse(env.hyperparameters)
    contexts = devices.training_contexts(hp.precision_dtype)
    if hp.seed is None:
        hp = dataclasses.replace(hp, seed=random.SystemRandom().randrange(2**31))
    _seed_everything(hp.seed)
    log.info("Training on %s with seed %d", ", ".join(str(ctx) for ctx in contexts), hp.seed)
    with tempfile.TemporaryDirectory(prefix="image-classifier-") as scratch_dir:
        sets = _load_data(env, hp, scratch_dir)
        Loop(env, hp, contexts, sets, _build_net(env, hp, contexts)).run(stop)


def main() -> int:
    configure_logging()
    paths = Paths.from_environ()
    return failure.run(paths, lambda: train(Environment.load(paths)))
