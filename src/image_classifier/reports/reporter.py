"""The one object the training loop reports to; only the first host writes.

    reporter = Reporter(env, hp, class_names)                            at the start
    reporter.train_batch(labels, scores, valid, metric, learning_rate)   after each training step
    reporter.validation_batch(labels, scores, valid)                     for each validation batch
    reporter.end_of_epoch(epoch, metric)                                 after validation, its metric; returns
                                                                         the mean validation loss
    reporter.finish(batches, ctx)                                        after training

``labels``, ``scores`` and ``valid`` are what ``metrics.update`` gets (scores: logits, or probabilities
for multi-label); ``metric`` is the loop's metric; ``batches`` yields (data, label, valid) over the
validation set. ``finish`` evaluates the model as kept in the model directory (the newest params file:
the best epoch, or the last one with checkpoint_frequency), so the report describes what is deployed; with
quantize=int8 also the int8 model, on the same images in the same pass (it must be written before).
"""

import json
import logging
from collections.abc import Iterable

import mxnet as mx
import numpy as np

from ..environment import Environment
from ..hyperparameters import Hyperparameters
from ..model import artifacts, quantize
from . import evaluation, plots
from .history import History
from .losses import cross_entropy
from .tensorboard import TensorBoard

log = logging.getLogger(__name__)
BATCH_SCALARS_EVERY = 10
HISTORY_FILE = "metrics.json"
EVALUATION_FILE = "evaluation.json"
CURVES_FILE = "training_curves.png"
CONFUSION_FILE = "confusion_matrix.png"


class _Mean:
    def __init__(self):
        self.total = 0.0
        self.count = 0

    def add(self, values):
        self.total += float(values.sum())
        self.count += len(values)

    @property
    def value(self):
        return self.total / self.count


def _predict(networks, batches):
    """The labels and each network's probabilities over one pass of ``batches``."""
    labels, probabilities = [], [[] for _ in networks]
    for data, label, valid in batches:
        for network, outputs in zip(networks, probabilities):
            outputs.append(network(data).asnumpy()[:valid])
        labels.append(label.asnumpy()[:valid])
    return np.concatenate(labels), [np.concatenate(outputs) for outputs in probabilities]


class Reporter:
    def __init__(self, env: Environment, hp: Hyperparameters, class_names: dict[int, str]):
        self.active = env.is_master
        self.multi_label = hp.multi_label
        self.int8 = hp.quantize == "int8"  # the int8 model, written before finish, is evaluated too
        self.top_k = hp.top_k
        self.class_names = class_names
        self.data_dir = env.paths.output_data_dir
        self.model_dir = env.paths.model_dir
        self.history = History(self.data_dir / HISTORY_FILE)
        self.board = TensorBoard(env.tensorboard_dir) if self.active else None
        self.batches_trained = 0
        self.learning_rate = None
        self.train_values = {}
        self._new_epoch()

    def _new_epoch(self):
        self.train_loss, self.window_loss, self.validation_loss = _Mean(), _Mean(), _Mean()

    def _losses(self, labels, scores, valid):
        return cross_entropy(labels.asnumpy()[:valid], scores.asnumpy()[:valid], self.multi_label)

    def train_batch(
        self,
        labels: mx.nd.NDArray,
        scores: mx.nd.NDArray,
        valid: int,
        metric: mx.metric.EvalMetric,
        learning_rate: float,
    ) -> None:
        if not self.active:
            return
        losses = self._losses(labels, scores, valid)
        self.train_loss.add(losses)
        self.window_loss.add(losses)
        self.train_values = dict(metric.get_name_value())
        self.learning_rate = learning_rate
        self.batches_trained += 1
        if self.batches_trained % BATCH_SCALARS_EVERY == 0:
            self.board.batch(
                self.batches_trained,
                {**self.train_values, "loss": self.window_loss.value, "learning_rate": learning_rate},
            )
            self.window_loss = _Mean()

    def validation_batch(self, labels: mx.nd.NDArray, scores: mx.nd.NDArray, valid: int) -> None:
        if self.active:
            self.validation_loss.add(self._losses(labels, scores, valid))

    def end_of_epoch(self, epoch: int, metric: mx.metric.EvalMetric) -> float | None:
        """Record the epoch (metrics.json, TensorBoard); its mean validation loss (None off the master host)."""
        if not self.active:
            return None
        record = {
            "epoch": epoch,
            "learning_rate": self.learning_rate,
            "train": {**self.train_values, "loss": self.train_loss.value},
            "validation": {**dict(metric.get_name_value()), "loss": self.validation_loss.value},
        }
        self.history.add(record)
        self.board.epoch(record)
        self._new_epoch()
        return record["validation"]["loss"]

    def _evaluate(self, labels, probabilities):
        if self.multi_label:
            return evaluation.multi_label(labels, probabilities, self.class_names)
        return evaluation.single_label(labels, probabilities, self.class_names, self.top_k)

    def finish(self, batches: Iterable[tuple[mx.nd.NDArray, mx.nd.NDArray, int]], ctx: mx.Context) -> None:
        """evaluation.json and the plots, from the kept model on the validation ``batches``."""
        if not self.active:
            return
        self.board.close()
        epoch_number = artifacts.saved_epochs(self.model_dir)[-1]
        net = artifacts.load(self.model_dir, ctx, epoch_number)
        networks = [lambda data: net(data.as_in_context(ctx))]
        if self.int8:
            networks.append(quantize.int8_network(self.model_dir))
        labels, (probabilities, *int8) = _predict(networks, batches)
        report = {
            "model": artifacts.params_path(self.model_dir, epoch_number).name,
            **self._evaluate(labels, probabilities),
        }
        if int8:
            report["int8"] = {
                "model": artifacts.INT8_PARAMS_FILE,
                "accuracy": self._evaluate(labels, int8[0])["accuracy"],
                "agreement_with_float32": evaluation.agreement(probabilities, int8[0], self.multi_label),
            }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / EVALUATION_FILE).write_text(json.dumps(report, indent=1))
        if self.history.epochs:  # none when a restarted job found its training already done
            plots.training_curves(self.history.epochs, self.data_dir / CURVES_FILE)
        if not self.multi_label:
            matrix = report["confusion_matrix"]
            plots.confusion_matrix(matrix["counts"], matrix["classes"], self.data_dir / CONFUSION_FILE)
        log.info(
            "Evaluation of %s on %d validation images: accuracy=%f; reports in %s",
            report["model"],
            report["count"],
            report["accuracy"],
            self.data_dir,
        )
        if int8:
            log.info(
                "Evaluation of the int8 model (%s): accuracy=%f, agreement with float32=%f",
                artifacts.INT8_PARAMS_FILE,
                report["int8"]["accuracy"],
                report["int8"]["agreement_with_float32"],
            )
