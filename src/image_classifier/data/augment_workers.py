"""Training batches augmented (augmentation.py) in worker processes, a few batches ahead of training.

ImageRecordIter decodes, crops and mirrors in C++ threads and hands over pixels (not normalised); each batch
is split among one process per core, which augment and normalise their images while training runs on the
batches before. The training thread only copies pixels out and results in. With no augmentation of
augmentation.py on, the reader's batches pass through untouched (the C++ path alone, as fast as before).

Processes, not threads: the operations are Python and Pillow calls that would hold the GIL the training loop
needs. They come from a fork server (forked from a process that imported NumPy and Pillow only, never from
this one, whose MXNet threads a fork would copy in an unknown state), live for one epoch, and block SIGTERM
and SIGINT: a stop is the job's to handle, and the pool ends with the epoch's iterator, stopped or not.
"""

import collections
import functools
import multiprocessing
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import mxnet as mx
import numpy as np

from .augmentation import Augmentation, augment_images
from .iterators import decode_threads

AHEAD = 2  # batches in the workers beyond the one training runs on
Batch = tuple[mx.nd.NDArray, mx.nd.NDArray, int]


def _pool(processes):
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([augment_images.__module__])
    # blocked, not handled: a function of this module would make each worker import it, and MXNet with it
    deaf = functools.partial(signal.pthread_sigmask, signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    return ProcessPoolExecutor(processes, mp_context=context, initializer=deaf)


def augmented(
    batches: Iterator[Batch], augmentation: Augmentation, seed: int, epoch: int, skip: int = 0
) -> Iterator[Batch]:
    """``batches`` (of pixels) with each image augmented and normalised; the first ``skip`` batches, which a
    resumed job trains no more, pass through as they are."""
    if not augmentation.enabled:
        return batches
    return _augmented(batches, augmentation, seed, epoch, skip)


def _augmented(batches, augmentation, seed, epoch, skip):
    processes = decode_threads()
    pool = _pool(processes)
    pending = collections.deque()  # (futures of the parts, label, valid), in batch order
    try:
        for number, (data, label, valid) in enumerate(batches):
            if number < skip:
                yield data, label, valid
                continue
            # copies: the reader reuses its output arrays for the batches after
            pixels = np.rint(data.asnumpy()).astype(np.uint8)
            parts = np.array_split(np.arange(len(pixels)), processes)
            futures = [
                pool.submit(augment_images, augmentation, pixels[part], seed, epoch, number, int(part[0]))
                for part in parts
                if len(part)
            ]
            pending.append((futures, label.copy(), valid))
            if len(pending) > AHEAD:
                yield _collected(*pending.popleft())
        while pending:
            yield _collected(*pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _collected(futures, label, valid):
    return mx.nd.array(np.concatenate([future.result() for future in futures])), label, valid
