"""The int8 model: the served float32 model quantized with MXNet's oneDNN (MKLDNN) calibration, for CPUs.

    quantize=int8 (hyperparameter): after training, the model directory also holds
    image-classification-int8-symbol.json and image-classification-int8.params, calibrated on
    quantize_calibration_images images of the validation channel

The float32 files stay, and stay what serving loads by default. The int8 graph is MXNet's own
(``quantize_model_mkldnn``, ``quantize_mode='smart'``): oneDNN's fused convolution and dense operators on
int8 data, with fixed requantization ranges measured on the calibration images (``naive``: the minimum and
maximum each layer's output reached; the images are the validation transform's, which serving applies).
The first convolution, which sees the raw pixels, and the last dense layer, whose outputs become the
probabilities, stay float32; they are found in the fused graph by operator, so any network of the catalog
quantizes the same way. The int8 graph runs only on CPUs: oneDNN has no GPU kernels.
"""

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import mxnet as mx

from ..errors import UserError
from . import artifacts

log = logging.getLogger(__name__)
CALIBRATION_MODE = "naive"
BACKEND = "MKLDNN_QUANTIZE"  # the subgraph pass that fuses convolution, batch norm, activation and sums
CONV_OP, DENSE_OP = "_sg_mkldnn_conv", "_sg_mkldnn_fully_connected"


class _Calibration(mx.io.DataIter):
    """The calibration batches as the DataIter MXNet's calibration reads, stopping after ``num_images``."""

    def __init__(self, batches: Iterable[mx.nd.NDArray], batch_shape: tuple[int, ...], num_images: int):
        super().__init__(batch_shape[0])
        self._batches = iter(batches)
        self._left = num_images
        self.images_read = 0
        self.provide_data = [mx.io.DataDesc("data", batch_shape)]
        self.provide_label = []

    def next(self) -> mx.io.DataBatch:
        if self._left <= 0:
            raise StopIteration
        data = next(self._batches)
        self._left -= data.shape[0]
        self.images_read += data.shape[0]
        return mx.io.DataBatch([data.as_in_context(mx.cpu())])

    def reset(self) -> None:
        """One pass: MXNet reads the batches once."""


def float32_layers(fused: mx.sym.Symbol) -> list[str]:
    """The fused graph's first convolution and last dense layer: those int8 would cost the most accuracy."""
    operators = [node for node in json.loads(fused.tojson())["nodes"] if node["op"] != "null"]
    convolutions = [node["name"] for node in operators if node["op"] == CONV_OP]
    dense = [node["name"] for node in operators if node["op"] == DENSE_OP]
    return convolutions[:1] + dense[-1:]


def int8_network(model_dir: Path) -> Callable[[mx.nd.NDArray], mx.nd.NDArray]:
    """The int8 model of ``model_dir`` as a function of an NCHW float32 batch to its outputs, on the CPU
    (one executor a batch shape, bound when first seen)."""
    symbol, arg_params, aux_params = artifacts.load_int8(model_dir)
    executors = {}

    def run(data: mx.nd.NDArray) -> mx.nd.NDArray:
        if data.shape not in executors:
            inputs = dict(arg_params, data=mx.nd.zeros(data.shape))
            executors[data.shape] = symbol.bind(mx.cpu(), inputs, aux_states=aux_params, grad_req="null")
        executor = executors[data.shape]
        executor.arg_dict["data"][:] = data.as_in_context(mx.cpu())
        return executor.forward(is_train=False)[0]

    return run


def _peek(batches: Iterator[mx.nd.NDArray]) -> tuple[mx.nd.NDArray, Iterator[mx.nd.NDArray]]:
    try:
        first = next(batches)
    except StopIteration:
        raise UserError("quantize=int8 needs calibration images, and the validation channel gave none") from None

    def again():
        yield first
        yield from batches

    return first, again()


def quantize(model_dir: Path, batches: Iterable[mx.nd.NDArray], num_images: int) -> Path:
    """Write the int8 model of ``model_dir``'s served (newest) epoch, calibrated on the first ``num_images``
    images of ``batches`` (NCHW float32, preprocessed as for serving); returns the int8 params path."""
    model_dir = Path(model_dir)
    if artifacts.missing_files(model_dir, (artifacts.SYMBOL_FILE, artifacts.PARAMS_FILES)):
        raise UserError(f"{model_dir} holds no trained model ({artifacts.SYMBOL_FILE} and {artifacts.PARAMS_FILES})")
    symbol = mx.sym.load(str(model_dir / artifacts.SYMBOL_FILE))
    epoch_number = artifacts.saved_epochs(model_dir)[-1]
    arg_params, aux_params = mx.model.load_params(str(model_dir / artifacts.PREFIX), epoch_number)
    first, batches = _peek(iter(batches))
    calibration = _Calibration(batches, first.shape, num_images)
    int8_symbol, int8_args, int8_aux = mx.contrib.quantization.quantize_model_mkldnn(
        symbol,
        arg_params,
        aux_params,
        label_names=(),
        ctx=mx.cpu(),
        excluded_sym_names=float32_layers(symbol.get_backend_symbol(BACKEND)),
        calib_mode=CALIBRATION_MODE,
        calib_data=calibration,
        num_calib_examples=num_images,
        quantize_mode="smart",
    )
    artifacts.save_int8(model_dir, int8_symbol, int8_args, int8_aux)
    log.info("Wrote the int8 model (%s), calibrated on %d images", artifacts.INT8_PARAMS_FILE, calibration.images_read)
    return model_dir / artifacts.INT8_PARAMS_FILE
