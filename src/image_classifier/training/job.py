"""One training job, run in the child process that ``train`` supervises (cli.job_main)."""

import dataclasses
import logging
import random
import signal
from types import SimpleNamespace

import mxnet as mx
import numpy as np

from .. import devices, failure, hyperparameters
from ..data import channels, checks, scratch
from ..environment import Environment, Paths
from ..logs import configure_logging
from ..model import sources
from ..model.preprocessing import Preprocessing
from .checkpoints import Checkpoints
from .epoch_data import EpochData
from .epochs import EpochRunner
from .learner import Learner
from .outputs import Outputs
from .progress import Progress

log = logging.getLogger(__name__)


class StopRequest:
    """Set by SIGTERM; the loop checks it between batches."""

    def __init__(self):
        self.signal = None
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, number, _frame):
        self.signal = number

    def check(self, epoch: int) -> None:
        if self.signal is not None:
            raise failure.Stopped(f"Training stopped by {self.name} during epoch {epoch}")

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name


def _seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def _train_sharded(env):
    """Whether the train channel is ShardedByS3Key: each host holds its own part."""
    channel = env.channels.get("train")
    return channel is not None and channel.sharded


def _load_data(env, hp, scratch_dir):
    sets = SimpleNamespace(**{name: channels.prepare(env, name, scratch_dir, hp) for name in ("train", "validation")})
    checks.against_train_set(hp, sets.train, _train_sharded(env))
    return sets


def _seeded(hp, checkpoints):
    """``hp`` with the job's seed: a stopped job's (from its checkpoint), else the one set, else one drawn."""
    saved = checkpoints.saved_seed()
    if saved is not None and saved != hp.seed:
        log.info("Going on with the stopped job's seed %d", saved)
        return dataclasses.replace(hp, seed=saved)
    if hp.seed is None:
        return dataclasses.replace(hp, seed=random.SystemRandom().randrange(2**31))
    return hp


def _resumed(progress, learner, checkpoints, model_dir):
    """``progress`` as the newest checkpoint that loads left it (weights, their average, optimizer and RNG states), or
    as it is: a fresh start."""
    if checkpoints.enabled:
        state = checkpoints.resume(learner.net, learner.checkpointed_trainer, model_dir, learner.average)
        if state is not None:
            progress.restore(state)
    return progress


def _build_net(env, hp, contexts):
    net = sources.starting_network(env, hp)
    net.collect_params().reset_ctx(contexts)
    if hp.precision_dtype == "float16":
        net.cast("float16")
    return net


def train(env: Environment) -> None:
    stop = StopRequest()
    for note in env.notes:
        log.info("%s", note)
    hp = hyperparameters.parse(env.hyperparameters)
    contexts = devices.training_contexts(hp.precision_dtype)
    checkpoints = Checkpoints(env.paths.checkpoint_dir)
    hp = _seeded(hp, checkpoints)  # before anything is drawn at random
    _seed_everything(hp.seed)
    log.info("Training on %s with seed %d", ", ".join(str(ctx) for ctx in contexts), hp.seed)
    with scratch.directory(env.paths) as scratch_dir:
        sets = _load_data(env, hp, scratch_dir)
        sharded = _train_sharded(env)
        learner = Learner.build(env, hp, contexts, sets.train, _build_net(env, hp, contexts), sharded)
        preprocessing = Preprocessing.for_training(hp.image_shape, hp.resize)
        data = EpochData.build(hp, sets, preprocessing, learner.num_workers, learner.rank, sharded)
        outputs = Outputs.build(env, hp, sets, preprocessing)
        progress = _resumed(Progress.start(env, hp, sets.validation.count), learner, checkpoints, outputs.model_dir)
        EpochRunner(hp, learner, data, outputs, checkpoints).run(progress, stop)
    if stop.signal is not None:  # after the last batch, nothing was left to stop: the model is whole
        log.info("%s came after the last batch; the model is complete, so training ends as a success", stop.name)


def main() -> int:
    configure_logging()
    paths = Paths.from_environ()
    return failure.run(paths, lambda: train(Environment.load(paths)))
