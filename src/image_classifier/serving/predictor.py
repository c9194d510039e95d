"""The model of one serving worker: loaded once, after fork, onto the worker's device; one forward pass at a time.

MXNet 1.x does not promise that one network may run on several threads at once, so the request threads of
a worker take turns (batching.py can instead gather their images into one pass). The network is warmed up
before the worker takes its first request, so that no client pays for MKL-DNN's or cuDNN's first-call setup:
on one image, then on two. Until its batch size first changes, MXNet 1.9 on CPU with two or more OpenMP
threads spends about three times the CPU on each single image (measured with ResNet-18: 200 ms instead of
70 ms), and an endpoint answering one image at a time would never leave that state.
"""

import logging
import threading
import time

import mxnet as mx
import numpy as np

from ..errors import UserError
from ..model import artifacts

log = logging.getLogger(__name__)
MAX_BATCH = 16  # images per forward pass: bounds the activations' memory, whatever a request holds
WARM_UP_BATCH_SIZES = (1, 2)


def check_model_dir(model_dir):
    """The files serving needs, present; the message says what is missing and where it comes from."""
    missing = artifacts.missing_files(model_dir)
    if missing:
        raise UserError(
            f"The model directory {model_dir} lacks {', '.join(missing)}: it must hold what `train` (or SageMaker's "
            f"built-in image classification algorithm) writes, unpacked from model.tar.gz"
        )


class Predictor:
    def __init__(self, net, ctx, preprocessing, class_names):
        self._net = net
        self._ctx = ctx
        self._lock = threading.Lock()
        self.preprocessing = preprocessing
        self.class_names = class_names
        for batch_size in WARM_UP_BATCH_SIZES:
            self.num_classes = self.predict(np.zeros((batch_size, *preprocessing.image_shape), np.float32)).shape[1]

    @classmethod
    def load(cls, model_dir, ctx):
        started = time.monotonic()
        check_model_dir(model_dir)
        predictor = cls(
            net=artifacts.load(model_dir, ctx),
            ctx=ctx,
            preprocessing=artifacts.read_preprocessing(model_dir),
            class_names=artifacts.read_classes(model_dir),
        )
        log.info(
            "Model of epoch %d loaded on %s in %.1f s: %d classes, input %s, preprocessing %s",
            artifacts.saved_epochs(model_dir)[-1],
            ctx,
            time.monotonic() - started,
            predictor.num_classes,
            "x".join(map(str, predictor.preprocessing.image_shape)),
            predictor.preprocessing,
        )
        return predictor

    def predict(self, batch):
        """An (N, C, H, W) float32 batch to its (N, classes) probabilities."""
        with self._lock:
            return self._net(mx.nd.array(batch, ctx=self._ctx)).asnumpy()
