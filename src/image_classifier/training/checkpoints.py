"""Managed-spot checkpoints in /opt/ml/checkpoints: written after every epoch and on SIGTERM, resumed on start.

Each checkpoint is a folder ``epoch-NNNN`` (NNNN = epochs completed) holding the network's parameters,
the optimizer's state, with ema_decay the weights' average (averaging.py), ``state.json`` (progress, batches
of the next epoch trained before a stop, best score, early stopping), the NumPy and Python RNG states, and a
copy of the model directory's files. It is
written as ``.partial-epoch-NNNN`` and renamed when complete (atomic_files.py), so a crash or ``kill -9`` mid-write
leaves no folder that looks finished; a start ignores (and removes) partial folders and falls back to an older
checkpoint when any part of the newest does not load (the log names the part).
"""

import json
import logging
import os
import pickle
import random
import re
import shutil
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import gluon

from .. import atomic_files
from ..model import artifacts
from .averaging import WeightAverage

log = logging.getLogger(__name__)
KEEP = 2
NAME = re.compile(r"^epoch-(\d{4})$")


class Checkpoints:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    @property
    def enabled(self) -> bool:
        """SageMaker creates /opt/ml/checkpoints only when the job asks for checkpoints."""
        return self.directory.is_dir()

    def _complete(self):
        found = [(int(m.group(1)), path) for path in self.directory.iterdir() if (m := NAME.match(path.name))]
        return [path for _, path in sorted(found)]

    def saved_seed(self) -> int | None:
        """The stopped job's seed, from the newest checkpoint whose state.json reads; None without one.

        Known before the job builds anything, so that a resumed job draws everything from the seed it had."""
        if not self.enabled:
            return None
        for path in reversed(self._complete()):
            try:
                return _state(json.loads((path / "state.json").read_text())).get("seed")
            except (OSError, ValueError):
                continue
        return None

    def save(
        self,
        epochs_done: int,
        net: gluon.Block,
        trainer: gluon.Trainer | None,
        state: dict,
        model_dir: Path,
        average: WeightAverage | None = None,
    ) -> None:
        """``trainer`` None: its state is not ours to save (with a dist kvstore the servers hold it)."""
        # All pushed work done first: batch norm updates its running mean and variance in the backward pass, which
        # takes them as inputs, so the engine does not order reads of them after it. A save right after a batch
        # (a stop) otherwise kept the early layers' statistics from before that batch.
        mx.nd.waitall()
        final = self.directory / f"epoch-{epochs_done:04d}"  # replaces one for the same progress, before a stop
        with atomic_files.staged(final, _bytes_needed(net, trainer, model_dir)) as partial:
            partial.mkdir()
            net.save_parameters(str(partial / "network.params"))
            if trainer is not None:
                trainer.save_states(str(partial / "trainer.states"))
            if average is not None:
                average.save(partial / "average.params")
            (partial / "rng.pickle").write_bytes(pickle.dumps((np.random.get_state(), random.getstate())))
            if Path(model_dir).is_dir():
                shutil.copytree(model_dir, partial / "model")
            (partial / "state.json").write_text(json.dumps({**state, "epochs_done": epochs_done}))
            _sync(partial)
        for old in self._complete()[:-KEEP]:
            shutil.rmtree(old, ignore_errors=True)
        log.info("Checkpoint saved: %s", final)

    def resume(
        self, net: gluon.Block, trainer: gluon.Trainer | None, model_dir: Path, average: WeightAverage | None = None
    ) -> dict | None:
        """Load the newest checkpoint that loads into ``net``, ``trainer`` and ``average``; its state, or None."""
        atomic_files.remove_partials(self.directory)
        complete = self._complete()
        for path in reversed(complete):
            try:
                state = _load(path, net, trainer, average)
            except CheckpointUnreadable as error:
                log.warning("Checkpoint %s does not load (%s); skipping it for an older one", path, error)
                continue
            if (path / "model").is_dir():
                shutil.copytree(path / "model", model_dir, dirs_exist_ok=True)
            batches = f" and {state['batches_done']} batches of the next" if state.get("batches_done") else ""
            log.info("Resuming from checkpoint %s: %d epochs done%s", path, state["epochs_done"], batches)
            return state
        if complete:
            log.warning("No checkpoint in %s loads; training starts from the beginning", self.directory)
        return None


class CheckpointUnreadable(Exception):
    """A part of a checkpoint folder is missing, truncated or not what we write."""


def _load(path, net, trainer, average):
    """The progress saved in checkpoint ``path``, with its weights, optimizer and RNG states loaded.

    Every part must load; any failure (a missing or empty file, truncated params, a broken pickle) is
    reported as ``CheckpointUnreadable`` naming the part, so the caller can fall back to an older checkpoint.
    """
    loaded = {}
    steps = [
        ("state.json", lambda file: loaded.update(state=_state(json.loads(file.read_text())))),
        ("network.params", lambda file: net.load_parameters(str(file), ctx=_contexts(net))),
    ]
    if trainer is not None and (path / "trainer.states").exists():
        steps.append(("trainer.states", lambda file: trainer.load_states(str(file))))
    if average is not None and (path / "average.params").exists():  # none: stopped before the first update
        steps.append(("average.params", average.load))
    steps.append(("rng.pickle", lambda file: _set_rng(*pickle.loads(file.read_bytes()))))
    for part, load in steps:
        try:
            load(path / part)
        except Exception as error:  # whatever a damaged file raises: the checkpoint cannot be resumed from
            detail = (str(error).strip().splitlines() or [""])[-1][:160]
            raise CheckpointUnreadable(f"{part}: {type(error).__name__} {detail}".strip()) from None
    return loaded["state"]


def _state(state):
    if not isinstance(state, dict) or not isinstance(state.get("epochs_done"), int):
        raise ValueError("no epochs_done")
    return state


def _set_rng(numpy_state, python_state):
    np.random.set_state(numpy_state)
    random.setstate(python_state)


def _contexts(net):
    return list(net.collect_params().values())[0].list_ctx()


def _bytes_needed(net, trainer, model_dir):
    """About what a checkpoint takes: the parameters, as much again for the optimizer's state, the model files."""
    model_files = sum(path.stat().st_size for path in Path(model_dir).rglob("*") if path.is_file())
    return artifacts.parameter_bytes(net) * (2 if trainer is not None else 1) + model_files


def _sync(folder):
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
