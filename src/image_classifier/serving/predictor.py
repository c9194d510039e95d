"""The model of one serving worker: loaded once, after fork, onto the worker's device; one forward pass at a time.

The network runs as MXNet runs it fastest in one process: through executors bound once per batch size
(the Module API), not through a Gluon SymbolBlock. On CPU an executor fuses convolution, batch norm and
ReLU with MKL-DNN (MXNet's default subgraph backend, which a SymbolBlock's CachedOp does not apply) and
plans its memory once (bench/README.md has the numbers). Only PASS_SIZES are bound, sharing the weight
arrays and the activation memory of the largest; a batch of another size is padded with zeros to the next
(images are independent in inference: the padding changes no other row), one larger runs in pieces.
A fused executor keeps a fused copy of the weights of its own, which no sharing reaches (the copy lives
in the fused operators' state), so only FUSED_SIZES are bound fused: those an endpoint runs in its steady
states, one request at a time and full dynamic batches (workers.CPU_DYNAMIC_BATCH). The other sizes run
MXNet's unfused operators, which read the shared weight arrays (docs/serving-design.md has the trade).

MXNet 1.x does not promise that one network may run on several threads at once, so the request threads of
a worker take turns (batching.py can instead gather their images into one pass). The network is warmed up
before the worker takes its first request, so that no client pays for MKL-DNN's or cuDNN's first-call setup:
on every bound size, smallest first. Until its batch size first changes, MXNet 1.9 on CPU with two or more
OpenMP threads spends several times the CPU on each single image, and an endpoint answering one image at a
time would never leave that state.
"""

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import mxnet as mx
import numpy as np

from .. import devices
from ..errors import UserError
from ..model import artifacts
from ..model.preprocessing import Preprocessing

log = logging.getLogger(__name__)
MAX_BATCH = 16  # images per forward pass: bounds the activations' memory, whatever a request holds
PASS_SIZES = (1, 2, 4, 8, MAX_BATCH)  # batch sizes bound to an executor
FUSED_SIZES = (1, 8)  # of those, bound with MKL-DNN's fusion, each with a copy of the weights of its own
SUBGRAPH_BACKEND_ENV = "MXNET_SUBGRAPH_BACKEND"  # MXNet reads it at each bind; NONE: no fusion


def served_precision(model_dir: Path, precision: str | None) -> str:
    """IMAGE_CLASSIFIER_PRECISION (``precision``), or unset, the model directory's (artifacts.default_precision);
    float32 asked of a directory that holds only the int8 model is refused by name."""
    if precision is None:
        return artifacts.default_precision(model_dir)
    if precision == "float32" and artifacts.holds_only_int8(model_dir):
        raise UserError(
            f"IMAGE_CLASSIFIER_PRECISION=float32, and the model directory {model_dir} holds only the int8 model "
            f"({artifacts.INT8_PARAMS_FILE}, no {artifacts.PARAMS_FILES}): unset IMAGE_CLASSIFIER_PRECISION (or set "
            f"it to int8) to serve it, or add the float32 files"
        )
    return precision


def check_model_dir(model_dir: Path, precision: str = "float32") -> None:
    """The files serving needs, present; the message says what is missing and where it comes from."""
    if precision == "int8":
        missing = artifacts.missing_files(model_dir, artifacts.INT8_MODEL_FILES)
        if missing:
            raise UserError(
                f"IMAGE_CLASSIFIER_PRECISION=int8, and the model directory {model_dir} lacks {', '.join(missing)}: "
                f"train with the hyperparameter quantize=int8, or serve float32 (unset IMAGE_CLASSIFIER_PRECISION)"
            )
        return
    missing = artifacts.missing_files(model_dir)
    if missing:
        raise UserError(
            f"The model directory {model_dir} lacks {', '.join(missing)}: it must hold what `train` (or SageMaker's "
            f"built-in image classification algorithm) writes, unpacked from model.tar.gz"
        )


def _network_files(model_dir, epoch_number, precision):
    """The symbol and its (arg, aux) parameters of the float32 model's epoch, or of the int8 model."""
    if precision == "int8":
        return artifacts.load_int8(model_dir)
    epoch_number = epoch_number or artifacts.saved_epochs(model_dir)[-1]
    symbol = mx.sym.load(str(model_dir / artifacts.SYMBOL_FILE))
    return symbol, *mx.model.load_params(str(model_dir / artifacts.PREFIX), epoch_number)


@contextlib.contextmanager
def _subgraph_backend(fused):
    """MXNet's default fusion for the binds within, when ``fused``, else none; the user's setting otherwise wins."""
    user_setting = os.environ.get(SUBGRAPH_BACKEND_ENV)
    if user_setting is None and not fused:
        os.environ[SUBGRAPH_BACKEND_ENV] = "NONE"
    try:
        yield
    finally:
        if user_setting is None:
            os.environ.pop(SUBGRAPH_BACKEND_ENV, None)


class Executors:
    """The network bound once per size in PASS_SIZES on ``ctx``, the executors sharing weights and memory, with
    MKL-DNN's fusion on FUSED_SIZES only."""

    def __init__(
        self,
        model_dir: Path,
        ctx: mx.Context,
        image_shape: tuple[int, int, int],
        epoch_number: int | None = None,
        precision: str = "float32",
    ) -> None:
        symbol, arg_params, aux_params = _network_files(model_dir, epoch_number, precision)
        weights = {name: value.as_in_context(ctx) for name, value in arg_params.items()}
        aux_states = {name: value.as_in_context(ctx) for name, value in aux_params.items()}
        self._executors = {}
        largest = None
        for size in sorted(PASS_SIZES, reverse=True):  # the largest first: the others share its memory
            inputs = dict(weights, data=mx.nd.zeros((size, *image_shape), ctx))
            with _subgraph_backend(fused=size in FUSED_SIZES):
                largest = symbol.bind(ctx, inputs, aux_states=aux_states, grad_req="null", shared_exec=largest)
            self._executors[size] = largest

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """An (N, C, H, W) float32 batch to the network's (N, outputs) float32 outputs."""
        most = PASS_SIZES[-1]
        if len(batch) > most:
            return np.concatenate([self(batch[start : start + most]) for start in range(0, len(batch), most)])
        executor = self._executors[next(size for size in PASS_SIZES if size >= len(batch))]
        data, count = executor.arg_dict["data"], len(batch)
        if count < len(data):  # padding: images are independent in inference, so it changes no other row
            batch = np.concatenate([batch, np.zeros((len(data) - count, *batch.shape[1:]), batch.dtype)])
        data[:] = batch  # one copy into MXNet, not a sliced assignment for the images and another for the padding
        return executor.forward(is_train=False)[0].asnumpy()[:count]


class Predictor:
    def __init__(
        self,
        network: Callable[[np.ndarray], np.ndarray],
        preprocessing: Preprocessing,
        class_names: Mapping[int, str],
    ):
        self._network = network
        self._lock = threading.Lock()
        self.preprocessing = preprocessing
        self.class_names = class_names
        for batch_size in PASS_SIZES:
            self.num_classes = self.predict(np.zeros((batch_size, *preprocessing.image_shape), np.float32)).shape[1]

    @classmethod
    def load(cls, model_dir: Path, ctx: mx.Context, precision: str | None = None) -> "Predictor":
        """The model of ``model_dir`` at ``precision`` (None: served_precision's choice) on ``ctx``."""
        started = time.monotonic()
        precision = served_precision(model_dir, precision)
        devices.check_serving_precision(ctx, precision)
        check_model_dir(model_dir, precision)
        preprocessing = artifacts.read_preprocessing(model_dir)
        predictor = cls(
            network=Executors(model_dir, ctx, preprocessing.image_shape, precision=precision),
            preprocessing=preprocessing,
            class_names=artifacts.read_classes(model_dir),
        )
        log.info(
            "Model %s loaded on %s in %.1f s: %d classes, input %s, preprocessing %s",
            f"int8 ({artifacts.INT8_PARAMS_FILE})"
            if precision == "int8"
            else f"of epoch {artifacts.saved_epochs(model_dir)[-1]}",
            ctx,
            time.monotonic() - started,
            predictor.num_classes,
            "x".join(map(str, predictor.preprocessing.image_shape)),
            predictor.preprocessing,
        )
        return predictor

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """An (N, C, H, W) float32 batch to its (N, classes) probabilities."""
        with self._lock:
            return self._network(batch)
