"""Dynamic batching: the images of concurrent requests in one worker go through the model together.

Request threads queue their (already preprocessed) batches; one model thread takes whatever is waiting,
up to ``max_images``, runs one forward pass and hands each request its rows. Nothing waits for a batch
to fill: a lone request runs at once, so latency at low load is unchanged, and batches form only while
the model is busy. Jobs are taken in the order they came, so requests are answered about in arrival
order (a lock would not promise that: with eight threads waiting on one, some waited seconds). With
``max_images`` 1 it is turn-taking alone. How many images per pass is the plan's (workers.py).
"""
import queue
import threading
from concurrent.futures import Future

import numpy as np


class Batcher:
    def __init__(self, predictor, max_images):
        self._predictor = predictor
        self._max_images = max_images
        self._queue = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="dynamic-batching", daemon=True).start()

    def predict(self, batch):
        """Like Predictor.predict, sharing the forward pass with whatever other requests are waiting."""
        future = Future()
        self._queue.put((batch, future))
        return future.result()

    def _take(self, held_over):
        """The jobs of the next forward pass; the first job that did not fit is held over to the next."""
        jobs = [held_over or self._queue.get()]
        count = len(jobs[0][0])
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return jobs, None
            if count + len(job[0]) > self._max_images:
                return jobs, job
            jobs.append(job)
            count += len(job[0])

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
                future.set_result(probabilities[start:start + len(batch)])
                start += len(batch)
