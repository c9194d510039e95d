"""The epochs of a training job: train, validate, keep the epoch and checkpoint, from a Progress to the end.

Epoch ``epoch``'s shuffle, augmentation and MXNet random draws follow from (seed, epoch) alone, so a job
resumed from a checkpoint trains the same batches, in the same order, as one never stopped.
"""

import contextlib
import logging
import time
from typing import Protocol

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from .. import failure
from ..errors import UserError
from ..hyperparameters import Hyperparameters
from ..model import networks, onnx_export, quantize
from . import metrics, watchdog
from .checkpoints import Checkpoints
from .epoch_data import EpochData
from .keeper import ModelKeeper
from .learner import Learner
from .outputs import Outputs
from .progress import Progress

log = logging.getLogger(__name__)
PROGRESS_EVERY = 20  # batches between progress lines, as MXNet's image-classification examples log


class StopCheck(Protocol):
    def check(self, epoch: int) -> None:
        """Raise failure.Stopped when the job was asked to stop."""


class EpochRunner:
    def __init__(
        self, hp: Hyperparameters, learner: Learner, data: EpochData, outputs: Outputs, checkpoints: Checkpoints
    ):
        self.hp = hp  # its seed is the job's for good: resolved (from a checkpoint, if any) before the build
        self.learner = learner
        self.data = data
        self.outputs = outputs
        self.checkpoints = checkpoints
        self.metric = metrics.make_metrics(hp.multi_label, hp.top_k)
        self.split_logged = False
        self.validation_images = 0  # counted by each validation
        self._hybridize()

    def _hybridize(self):
        """``served`` (exported, batch 1) traces the network anew at its next save; hybridizing it reaches
        into ``net``, which then gets back the static memory it trains with."""
        self.learner.served.hybridize()
        self.learner.net.hybridize(static_alloc=True, static_shape=True)
        self.served_ready = False

    def _forward(self, data, label):
        """Split one batch over the devices; returns per-device (data, label) pairs (the label: targets while
        training)."""
        datas = gluon.utils.split_and_load(data, self.learner.contexts, even_split=False)
        labels = gluon.utils.split_and_load(label, self.learner.contexts, even_split=False)
        if not self.split_logged:
            sizes = "+".join(str(x.shape[0]) for x in datas)
            log.info("Batches of %d split over %d device(s): %s", data.shape[0], len(datas), sizes)
            self.split_logged = True
        return [(x.astype(self.learner.dtype, copy=False), y) for x, y in zip(datas, labels)]

    def _scores(self, outputs):
        """The batch's outputs as float32 on the CPU, probabilities for multi-label (for the metrics)."""
        outputs = [out.astype("float32", copy=False).as_in_context(mx.cpu()) for out in outputs]
        scores = outputs[0] if len(outputs) == 1 else mx.nd.concat(*outputs, dim=0)
        return scores.sigmoid() if self.hp.multi_label else scores

    def train_epoch(self, epoch: int, stop: StopCheck, progress: Progress) -> None:
        """Train one epoch, leaving out the batches ``progress`` says were trained before a stop, and counting
        in ``progress`` the batches done (a stop raises failure.Stopped between batches)."""
        learner = self.learner
        self.metric.reset()
        skip = progress.batches_done
        if skip:
            log.info("Epoch[%d] Skipping the %d batches trained before the stop", epoch, skip)
        started = window_start = time.time()
        window_samples = 0
        for number, (data, label, valid) in enumerate(watchdog.beating(self.data.train_batches(epoch, skip))):
            if number < skip:
                continue
            progress.batches_done = number
            stop.check(epoch)
            mix = learner.mixing.draw(self.hp.seed, epoch, number, *data.shape[2:])
            images = data if mix is None else mix.images(data)
            pairs = self._forward(images, learner.targets(label, mix))
            loss_inputs = self._loss_inputs(pairs)  # the teacher's scores, outside autograd.record: no gradients
            with autograd.record():
                outputs = [learner.net(x) for x, _ in pairs]
                losses = [
                    learner.loss(out.astype("float32", copy=False), y, *inputs)
                    for out, (_, y), inputs in zip(outputs, pairs, loss_inputs)
                ]
            autograd.backward(losses)
            learner.trainer.step(data.shape[0] * learner.num_workers)  # the gradient averaged over all workers
            if learner.average is not None:
                learner.average.update()
            scores = self._scores(outputs)
            metrics.update(self.metric, label, scores, valid)
            self.outputs.reporter.train_batch(label, scores, valid, self.metric, learner.trainer.learning_rate)
            window_samples += data.shape[0]
            if (number + 1) % PROGRESS_EVERY == 0:
                self._check_finite(losses, epoch)
                speed = window_samples / max(time.time() - window_start, 1e-9)
                log.info(metrics.progress_line(epoch, number + 1, speed, self.metric))
                window_start, window_samples = time.time(), 0
        for line in metrics.epoch_lines(epoch, "Train", self.metric):
            log.info(line)
        log.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - started)

    def _loss_inputs(self, pairs):
        """Per device, what the loss takes after outputs and targets: the teacher's scores with distillation,
        else the sample weight (none) and, multi-label with use_weighted_loss, the positives' weight."""
        learner = self.learner
        if learner.teacher is not None:
            return [(scores,) for scores in learner.teacher.outputs([x for x, _ in pairs])]
        if learner.pos_weight is None:
            return [(None,)] * len(pairs)
        return [(None, weight) for weight in learner.pos_weight]

    def _check_finite(self, losses, epoch):
        if not np.isfinite(losses[0].mean().asscalar()):
            raise UserError(f"Training diverged (the loss is not finite) in epoch {epoch}; lower learning_rate")

    def validate(self, epoch: int) -> tuple[float, float]:
        """Validation accuracy and mean loss of the network after epoch ``epoch``."""
        self.metric.reset()
        self.validation_images = 0
        for data, label, valid in watchdog.beating(self.data.validation_batches()):
            self.validation_images += valid
            outputs = [self.learner.net(x) for x, _ in self._forward(data, label)]
            scores = self._scores(outputs)
            metrics.update(self.metric, label, scores, valid)
            self.outputs.reporter.validation_batch(label, scores, valid)
        for line in metrics.epoch_lines(epoch, "Validation", self.metric):
            log.info(line)
        loss = self.outputs.reporter.end_of_epoch(epoch, self.metric)
        return metrics.accuracy(self.metric), loss

    def save(self, epoch: int, accuracy: float, loss: float, last: bool, keeper: ModelKeeper | None) -> None:
        """Hand epoch ``epoch`` to the keeper (on the master host), which saves it if it may be kept."""
        learner = self.learner
        if keeper is None:
            return
        keeper.validation_count = self.validation_images  # a streamed validation set's is known once read
        if not self.served_ready:  # export needs one forward pass of the hybridized block
            self.outputs.write_metadata(self.data.sets.train.class_names)
            learner.served(mx.nd.zeros((1, *self.hp.image_shape), ctx=learner.contexts[0], dtype=learner.dtype))
            self.served_ready = True
        with networks.float32_while(
            learner.net, learner.dtype
        ):  # the saved model takes float32 input, as serving sends
            keeper.end_of_epoch(learner.served, epoch + 1, accuracy, loss, last)

    def _averaged(self):
        average = self.learner.average
        return contextlib.nullcontext() if average is None else average.swapped_in()

    def _checkpoint(self, progress):
        if self.checkpoints.enabled:
            learner, model_dir = self.learner, self.outputs.model_dir
            trainer = learner.checkpointed_trainer
            self.checkpoints.save(
                progress.epochs_done, learner.net, trainer, progress.state(), model_dir, learner.average
            )

    def _left_behind(self, progress):
        """What a stopped job leaves: the epochs kept in the model directory, and the checkpoint if any."""
        keeper = progress.keeper
        if keeper is None:
            kept = "the first host keeps the model"
        elif keeper.saved:
            numbers = ", ".join(str(number - 1) for number in keeper.saved)
            kept = f"the model directory keeps epoch{'s' if len(keeper.saved) > 1 else ''} {numbers}"
        else:
            kept = "no epoch had ended, so nothing was kept in the model directory"
        if self.checkpoints.enabled:
            kept += (
                f"; a restarted job goes on from the checkpoint in {self.checkpoints.directory} "
                f"({progress.epochs_done} epochs and {progress.batches_done} batches done)"
            )
        return kept

    def run(self, progress: Progress, stop: StopCheck) -> None:
        """The epochs from ``progress`` on (none when early stopping had ended training), then the reports."""
        hp, keeper = self.hp, progress.keeper
        for epoch in range(hp.epochs if progress.stopped_early else progress.epochs_done, hp.epochs):
            mx.random.seed(hp.seed + epoch)
            if self.learner.fine_tuning.start_epoch(epoch):
                self._hybridize()
            try:
                self.train_epoch(epoch, stop, progress)
            except failure.Stopped as stopped:
                self._checkpoint(progress)
                if keeper is not None:  # the checkpoint holds every epoch that may still be chosen
                    keeper.finish()
                raise failure.Stopped(f"{stopped}; {self._left_behind(progress)}") from None
            with self._averaged():  # with ema_decay, the average is what is validated and kept
                accuracy, loss = self.validate(epoch)
                early_stopping = progress.early_stopping
                stopping = early_stopping is not None and early_stopping.should_stop(epoch + 1, accuracy)
                self.save(epoch, accuracy, loss, stopping or epoch + 1 == hp.epochs, keeper)
            progress.end_epoch(epoch + 1, stopped_early=stopping)
            self._checkpoint(progress)
            if stopping:
                log.info(
                    "Early stopping after epoch %d: no improvement in %d epochs", epoch, hp.early_stopping_patience
                )
                break
        if keeper is not None:
            keeper.finish()
        if hp.quantize == "int8" and keeper is not None:  # before the report, which evaluates it too
            calibration = (data for data, _, _ in watchdog.beating(self.data.validation_batches()))
            quantize.quantize(self.outputs.model_dir, calibration, hp.quantize_calibration_images)
        self.outputs.reporter.finish(watchdog.beating(self.data.validation_batches()), self.learner.contexts[0])
        if hp.export_onnx and keeper is not None:
            log.info("Wrote %s", onnx_export.export(self.outputs.model_dir))
        watchdog.finished()
