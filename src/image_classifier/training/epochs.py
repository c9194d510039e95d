"""The epochs of a training job: train, validate, keep the epoch and checkpoint, from a Progress to the end.

Epoch ``epoch``'s shuffle, augmentation and MXNet random draws follow from (seed, epoch) alone, so a job
resumed from a checkpoint trains the same batches, in the same order, as one never stopped.
"""

import logging
import time
from pathlib import Path
from typing import Protocol

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from .. import failure
from ..data import iterators
from ..data.stream import StreamedSet
from ..errors import UserError
from ..model import artifacts, onnx_export
from . import metrics
from .checkpoints import Checkpoints
from .progress import Progress
from .setup import Setup

log = logging.getLogger(__name__)
PROGRESS_EVERY = 20  # batches between progress lines, as MXNet's image-classification examples log


class StopCheck(Protocol):
    def check(self, epoch: int) -> None:
        """Raise failure.Stopped when the job was asked to stop."""


class EpochRunner:
    def __init__(self, setup: Setup, checkpoints: Checkpoints, model_dir: Path):
        self.setup = setup
        self.checkpoints = checkpoints
        self.model_dir = model_dir
        self.dtype = setup.hp.precision_dtype
        self.train_iter = None
        self.split_logged = False
        self._hybridize()

    def _hybridize(self):
        """``served`` (exported, batch 1) traces the network anew at its next save; hybridizing it reaches
        into ``net``, which then gets back the static memory it trains with."""
        self.setup.served.hybridize()
        self.setup.net.hybridize(static_alloc=True, static_shape=True)
        self.served_ready = False

    def _forward(self, data, label):
        """Split one batch over the devices; returns per-device (data, label) pairs."""
        datas = gluon.utils.split_and_load(data, self.setup.contexts, even_split=False)
        labels = gluon.utils.split_and_load(label, self.setup.contexts, even_split=False)
        if not self.split_logged:
            sizes = "+".join(str(x.shape[0]) for x in datas)
            log.info("Batches of %d split over %d device(s): %s", data.shape[0], len(datas), sizes)
            self.split_logged = True
        return [(x.astype(self.dtype, copy=False), y) for x, y in zip(datas, labels)]

    def _scores(self, outputs):
        """The batch's outputs as float32 on the CPU, probabilities for multi-label (for the metrics)."""
        outputs = [out.astype("float32", copy=False).as_in_context(mx.cpu()) for out in outputs]
        scores = outputs[0] if len(outputs) == 1 else mx.nd.concat(*outputs, dim=0)
        return scores.sigmoid() if self.setup.hp.multi_label else scores

    def _epoch_batches(self, epoch):
        setup = self.setup
        self.train_iter = None  # its decode threads and buffers go before the next one's come
        if isinstance(setup.sets.train, StreamedSet):  # one iterator a chunk, each gone before its file is reused
            args = dict(setup.train_iter_args)
            return setup.sets.train.batches(
                lambda chunk: iterators.record_iter(chunk, train=True, seed=setup.hp.seed + epoch, **args),
                setup.hp.mini_batch_size,
                setup.num_workers,
                setup.rank,
            )
        self.train_iter = iterators.record_iter(
            setup.sets.train, train=True, seed=setup.hp.seed + epoch, **setup.train_iter_args
        )
        return iterators.batches(self.train_iter, setup.sets.train, setup.train_count)

    def train_epoch(self, epoch: int, stop: StopCheck, progress: Progress) -> None:
        """Train one epoch, leaving out the batches ``progress`` says were trained before a stop, and counting
        in ``progress`` the batches done (a stop raises failure.Stopped between batches)."""
        setup = self.setup
        setup.metric.reset()
        skip = progress.batches_done
        if skip:
            log.info("Epoch[%d] Skipping the %d batches trained before the stop", epoch, skip)
        started = window_start = time.time()
        window_samples = 0
        for number, (data, label, valid) in enumerate(self._epoch_batches(epoch)):
            if number < skip:
                continue
            progress.batches_done = number
            stop.check(epoch)
            pairs = self._forward(data, label)
            with autograd.record():
                outputs = [setup.net(x) for x, _ in pairs]
                losses = [
                    setup.loss(out.astype("float32", copy=False), y, None, *self._pos_weight(i))
                    for i, (out, (_, y)) in enumerate(zip(outputs, pairs))
                ]
            autograd.backward(losses)
            setup.trainer.step(data.shape[0] * setup.num_workers)  # the gradient averaged over all workers
            scores = self._scores(outputs)
            metrics.update(setup.metric, label, scores, valid)
            setup.reporter.train_batch(label, scores, valid, setup.metric, setup.trainer.learning_rate)
            window_samples += data.shape[0]
            if (number + 1) % PROGRESS_EVERY == 0:
                self._check_finite(losses, epoch)
                speed = window_samples / max(time.time() - window_start, 1e-9)
                log.info(metrics.progress_line(epoch, number + 1, speed, setup.metric))
                window_start, window_samples = time.time(), 0
        for line in metrics.epoch_lines(epoch, "Train", setup.metric):
            log.info(line)
        log.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - started)

    def _pos_weight(self, device_number):
        return () if self.setup.pos_weight is None else (self.setup.pos_weight[device_number],)

    def _check_finite(self, losses, epoch):
        if not np.isfinite(losses[0].mean().asscalar()):
            raise UserError(f"Training diverged (the loss is not finite) in epoch {epoch}; lower learning_rate")

    def validate(self, epoch: int) -> tuple[float, float]:
        """Validation accuracy and mean loss of the network after epoch ``epoch``."""
        setup = self.setup
        setup.metric.reset()
        images = 0
        for data, label, valid in setup.validation_batches():
            images += valid
            outputs = [setup.net(x) for x, _ in self._forward(data, label)]
            scores = self._scores(outputs)
            metrics.update(setup.metric, label, scores, valid)
            setup.reporter.validation_batch(label, scores, valid)
        for line in metrics.epoch_lines(epoch, "Validation", setup.metric):
            log.info(line)
        loss = setup.reporter.end_of_epoch(epoch, setup.metric)
        if setup.keeper is not None:
            setup.keeper.validation_count = images
        return metrics.accuracy(setup.metric), loss

    def save(self, epoch: int, accuracy: float, loss: float, last: bool) -> None:
        """Hand epoch ``epoch`` to the keeper (on the master host), which saves it if it may be kept."""
        setup = self.setup
        if setup.keeper is None:
            return
        if not self.served_ready:  # export needs one forward pass of the hybridized block
            found = setup.sets.train.class_names  # a streamed manifest's are known once it has been read
            setup.class_names.update({label: name for label, name in found.items() if label in setup.class_names})
            artifacts.write_metadata(self.model_dir, setup.preprocessing, setup.class_names)
            setup.served(mx.nd.zeros((1, *setup.hp.image_shape), ctx=setup.contexts[0], dtype=self.dtype))
            self.served_ready = True
        if self.dtype == "float16":  # the saved model takes float32 input, as serving sends
            setup.net.cast("float32")
        setup.keeper.end_of_epoch(setup.served, epoch + 1, accuracy, loss, last)
        if self.dtype == "float16":
            setup.net.cast("float16")

    def _checkpoint(self, progress):
        if self.checkpoints.enabled:
            trainer = None if self.setup.distributed else self.setup.trainer  # dist: the servers hold its state
            self.checkpoints.save(progress.epochs_done, self.setup.net, trainer, progress.state(), self.model_dir)

    def run(self, progress: Progress, stop: StopCheck) -> None:
        """The epochs from ``progress`` on (none when early stopping had ended training), then the reports."""
        setup, hp = self.setup, self.setup.hp
        for epoch in range(hp.epochs if progress.stopped_early else progress.epochs_done, hp.epochs):
            mx.random.seed(hp.seed + epoch)
            if setup.fine_tuning.start_epoch(epoch):
                self._hybridize()
            try:
                self.train_epoch(epoch, stop, progress)
            except failure.Stopped:
                self._checkpoint(progress)
                if setup.keeper is not None:  # the checkpoint holds every epoch that may still be chosen
                    setup.keeper.finish()
                raise
            accuracy, loss = self.validate(epoch)
            early_stopping = progress.early_stopping
            stopping = early_stopping is not None and early_stopping.should_stop(epoch + 1, accuracy)
            self.save(epoch, accuracy, loss, last=stopping or epoch + 1 == hp.epochs)
            progress.end_epoch(epoch + 1, stopped_early=stopping)
            self._checkpoint(progress)
            if stopping:
                log.info(
                    "Early stopping after epoch %d: no improvement in %d epochs", epoch, hp.early_stopping_patience
                )
                break
        if setup.keeper is not None:
            setup.keeper.finish()
        setup.reporter.finish(setup.validation_batches(), setup.contexts[0])
        if hp.export_onnx and setup.keeper is not None:
            log.info("Wrote %s", onnx_export.export(self.model_dir))
