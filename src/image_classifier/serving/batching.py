"""Dynamic batching: the images of concurrent requests in one worker go through the model together.

Request threads queue their (already preprocessed) batches and take turns at the model: the thread whose
request is first in the queue runs the next forward pass, on whatever is waiting up to ``max_images``
images, and hands each request of the pass its rows; then the next request in the queue, if any, takes
over. There is no model thread: a lone request runs in its own thread at once, without a hand-off to
another thread and back. Nothing waits for a batch to
fill, so latency at low load is unchanged, and batches form only while the model is busy. Jobs are taken
in the order they came, so requests are answered about in arrival order (a lock would not promise that,
and the threads it starved would set the tail latency). One pass at a time, always. With ``max_images``
1 it is turn-taking alone. How many images per pass is the plan's (workers.py).

A pass about to start waits, at most GATHER_WAIT, for requests still being decoded, and for as many
images as the previous pass had: clients that all got their answers from one pass send their next requests
together, and without the wait the first ones to arrive would run alone and the rest in the pass after
(batches of 1, 7, 1, 7 instead of 8; with executors bound per power of two, predictor.py, a 5 padded to
8 costs as much as the 8). A lone request is never held back: nothing else is being decoded, and the
pass before it, if any, held one image too; when the load falls, one pass waits GATHER_WAIT in vain.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .predictor import Predictor

GATHER_WAIT = 0.015  # seconds; about the time to receive, decode and preprocess a 224x224 JPEG on a busy core


class _Job:
    def __init__(self, batch):
        self.batch = batch
        self.turn = threading.Event()  # set when answered, or when it is first in the queue and the model free
        self.answered = False
        self.probabilities = None
        self.error = None

    def answer(self, probabilities=None, error=None):
        self.probabilities, self.error, self.answered = probabilities, error, True
        self.turn.set()


class Batcher:
    def __init__(self, predictor: Predictor, max_images: int) -> None:
        self._predictor = predictor
        self._max_images = max_images
        self._queue = deque()  # jobs not yet in a pass, in arrival order
        self._busy = False  # a thread holds the model's turn
        self._preparing = 0
        self._thread = threading.local()  # .preparing: this thread is counted in _preparing
        self._last_pass = 1  # images in the previous pass
        self._changed = threading.Condition()  # guards all of the above; notified on a new job or a decode done

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Like Predictor.predict, sharing the forward pass with whatever other requests are waiting."""
        job = _Job(batch)
        with self._changed:
            self._queue.append(job)
            if getattr(self._thread, "preparing", False):  # no longer, in the same step: no pass misses it
                self._thread.preparing = False
                self._preparing -= 1
            self._changed.notify()
            if self._busy:
                mine = False
            else:
                self._busy = mine = True
        if not mine:
            job.turn.wait()  # answered by another thread's pass, or handed the turn
        if not job.answered:  # this thread's turn: its job is first in the queue, so in the pass
            self._run_pass()
        if job.error is not None:
            raise job.error
        return job.probabilities

    @contextmanager
    def preparing(self) -> Iterator[None]:
        """Around the decoding of images and the predict() they come to: a pass about to start waits for them
        until they are queued (or the decoding failed)."""
        with self._changed:
            self._preparing += 1
            self._thread.preparing = True
        try:
            yield
        finally:
            with self._changed:
                if self._thread.preparing:
                    self._thread.preparing = False
                    self._preparing -= 1
                    self._changed.notify()

    def _take(self):
        """The jobs of the next pass, from the front of the queue; a job that does not fit stays first."""
        deadline = time.monotonic() + GATHER_WAIT
        jobs, count = [], 0
        with self._changed:
            while count < self._max_images:
                if self._queue:
                    if jobs and count + len(self._queue[0].batch) > self._max_images:
                        break
                    jobs.append(self._queue.popleft())
                    count += len(jobs[-1].batch)
                    continue
                remaining = deadline - time.monotonic()
                if not (self._preparing or count < self._last_pass) or remaining <= 0:
                    break
                self._changed.wait(remaining)
            self._last_pass = count
        return jobs

    def _run_pass(self):
        """One forward pass for the jobs first in the queue; then the turn goes to the next job, if any."""
        jobs = self._take()
        try:
            probabilities = self._predictor.predict(np.concatenate([job.batch for job in jobs]))
        except Exception as error:  # every request of the pass learns of it; the app logs it once each
            for job in jobs:
                job.answer(error=error)
        else:
            start = 0
            for job in jobs:
                job.answer(probabilities=probabilities[start : start + len(job.batch)])
                start += len(job.batch)
        finally:
            with self._changed:
                if self._queue:
                    self._queue[0].turn.set()
                else:
                    self._busy = False
