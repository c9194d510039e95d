"""Dynamic batching: the images of concurrent requests in one worker go through the model together.

Request threads queue their (already preprocessed) batches; one model thread takes whatever is waiting,
up to ``max_images``, runs one forward pass and hands each request its rows. Nothing waits for a batch
to fill: a lone request runs at once, so latency at low load is unchanged, and batches form only while
the model is busy. Jobs are taken in the order they came, so requests are answered about in arrival
order (a lock would not promise that: with eight threads waiting on one, some waited seconds). With
``max_images`` 1 it is turn-taking alone. How many images per pass is the plan's (workers.py).

A pass about to start while other requests are still being decoded waits for them, at most GATHER_WAIT:
clients that all got their answers from one pass send their next requests together, and without the wait
the first one decoded would run alone and the rest in the pass after (batches of 1, 7, 1, 7 instead of 8).
A lone request is never held back: nothing else is being decoded.
"""

import queue
import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager

import numpy as np

GATHER_WAIT = 0.015  # seconds; about the time to decode and preprocess one 224x224 JPEG on a busy core


class Batcher:
    def __init__(self, predictor, max_images):
        self._predictor = predictor
        self._max_images = max_images
        self._queue = queue.SimpleQueue()
        self._preparing = 0
        self._preparing_lock = threading.Lock()
        threading.Thread(target=self._serve, name="dynamic-batching", daemon=True).start()

    def predict(self, batch):
        """Like Predictor.predict, sharing the forward pass with whatever other requests are waiting."""
        future = Future()
        self._queue.put((batch, future))
        return future.result()

    @contextmanager
    def preparing(self):
        """Around the decoding of images that will come to predict(): a pass about to start waits for them."""
        with self._preparing_lock:
            self._preparing += 1
        try:
            yield
        finally:
            with self._preparing_lock:
                self._preparing -= 1

    def _next_job(self, deadline):
        """A waiting job; if none, one being prepared, until ``deadline``; else None."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            pass
        while self._preparing and time.monotonic() < deadline:
            try:
                return self._queue.get(timeout=max(0.0, min(0.002, deadline - time.monotonic())))
            except queue.Empty:
                pass
        return None

    def _take(self, held_over):
        """The jobs of the next forward pass; the first job that did not fit is held over to the next."""
        jobs = [held_over or self._queue.get()]
        count = len(jobs[0][0])
        deadline = time.monotonic() + GATHER_WAIT
        while count < self._max_images:
            job = self._next_job(deadline)
            if job is None:
                return jobs, None
            if count + len(job[0]) > self._max_images:
                return jobs, job
            jobs.append(job)
            count += len(job[0])
        return jobs, None

    def _serve(self):
        held_over = None
        while True:
            jobs, held_over = self._take(held_over)
            try:
                probabilities = self._predictor.predict(np.concatenate([batch for batch, _ in jobs]))
            except Exception as error:  # every waiting request learns of it; the app logs it once each
                for _, future in jobs:
                    future.set_exception(error)
                continue
            start = 0
            for batch, future in jobs:
                future.set_result(probabilities[start : start + len(batch)])
                start += len(batch)
