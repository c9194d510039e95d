"""What serving a model will cost in memory, estimated before it is loaded: at start, and for a multi-model
endpoint's budget.

Each worker holds its own copy of each model it serves (multi_model.py), and in each the copy is more than the
weights: predictor.py binds an executor per batch size in PASS_SIZES, two of them (FUSED_SIZES) with MKL-DNN's
fused copy of the weights, and plans the activations of the largest.

At start, ``check_fits`` refuses, by name and with the memory it needs, a model that the container's memory
(its cgroup's limit, a serverless endpoint's 1 to 6 GB) cannot hold, rather than letting the kernel's
out-of-memory killer end a worker at its first load, again and again.
For a multi-model endpoint, a model costs model_bytes once per worker: its parameters file and the
activations of the batch sizes bound, from its symbol and input shape, each times a measured factor; a load
whose cost, added to that of the models registered, would pass the budget is refused (507, SageMaker's signal
to unload others) before it is loaded.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import mxnet as mx
import numpy as np

from ..errors import UserError
from ..model import artifacts
from .errors import InsufficientStorage
from .settings import MB

# What one Predictor.load adds to a worker's resident memory (psutil RSS) that has loaded models before, as
# bench/model_memory.py measures it (CPU, float32, results in bench/README.md), is counted as three parts:
# - PARAMS_FACTOR x the parameters file: the weights, and MKL-DNN's fused copy for each of FUSED_SIZES;
# - PLANNED_FACTOR x the activations of one image (every operator's output, float32, from the symbol) of the
#   operators MKL-DNN runs (MKLDNN_OPS): the executors share one memory plan, of the largest batch, reused
#   in place as the network runs;
# - UNPLANNED_FACTOR x one image's activations of the other operators (MobileNet v3's hard swish and squeeze-
#   excitation: scalar arithmetic, clip, broadcast_mul): their outputs are not reused, one per image of each
#   bound batch size (1 + 2 + 4 + 8 + 16 = 31 images);
# plus MODEL_BASE_BYTES. Measured at 3x224x224 unless said (growth, estimate): CIFAR ResNet-20 at 3x32x32 10,
# 15 MiB; at 224 171, 196; MobileNet v3 small 402-442, 482; ResNet-18 36-163, 175; ResNet-50 238-318, 484.
PARAMS_FACTOR = 3
PLANNED_FACTOR = 1.5
UNPLANNED_FACTOR = 31
MODEL_BASE_BYTES = 8 * MB
MKLDNN_OPS = frozenset(
    ("Convolution", "Deconvolution", "BatchNorm", "Activation", "LeakyReLU", "Pooling", "FullyConnected")
    + ("elemwise_add", "add_n", "Concat", "Flatten", "Reshape", "softmax", "SoftmaxActivation", "LRN", "_copy")
)
WORKER_BASE_BYTES = 256 * MB  # a worker before its model (Python, MXNet, Flask): 225 MB resident, measured
SERVE_BASE_BYTES = 64 * MB  # the supervisor, gunicorn's arbiter and nginx together: 57 MB resident, measured


def served_params_path(model_dir: Path, precision: str | None = None) -> Path | None:
    """The parameters file serving loads from ``model_dir`` (precision None: the directory's default, see
    artifacts.default_precision); None when there is none (not a model)."""
    if (precision or artifacts.default_precision(model_dir)) == "int8":
        return model_dir / artifacts.INT8_PARAMS_FILE
    epochs = artifacts.saved_epochs(model_dir)
    return artifacts.params_path(model_dir, epochs[-1]) if epochs else None


def served_params_bytes(model_dir: Path, precision: str | None = None) -> int:
    """The size of the parameters file serving loads from ``model_dir``; 0 when there is none (not a model)."""
    path = served_params_path(model_dir, precision)
    try:
        return path.stat().st_size if path else 0
    except OSError:
        return 0


def served_symbol_path(model_dir: Path, precision: str | None = None) -> Path:
    """The symbol file serving binds from ``model_dir`` at ``precision`` (None: the directory's default)."""
    int8 = (precision or artifacts.default_precision(model_dir)) == "int8"
    return model_dir / (artifacts.INT8_SYMBOL_FILE if int8 else artifacts.SYMBOL_FILE)


def activation_bytes(model_dir: Path, precision: str | None = None) -> tuple[int, int]:
    """The bytes of the operators' outputs for one image of the model's input shape (model-shapes.json),
    float32, from its symbol: (those of MKLDNN_OPS, those of the others); (0, 0) when the directory's files do
    not tell (not a model: loading it will say why)."""
    try:
        symbol = mx.sym.load(str(served_symbol_path(model_dir, precision)))
        image_shape = artifacts.read_preprocessing(model_dir).image_shape
        internals = symbol.get_internals()
        _, shapes, _ = internals.infer_shape(data=(1, *image_shape))
        operators = {node["name"]: node["op"] for node in json.loads(symbol.tojson())["nodes"]}
    except (OSError, ValueError, KeyError, TypeError, mx.base.MXNetError):
        return 0, 0
    planned = unplanned = 0
    for name, shape in zip(internals.list_outputs(), shapes or (), strict=False):
        operator = operators.get(re.sub(r"_output\d*$", "", name), "null")
        if operator != "null" and shape:
            size = int(np.prod(shape)) * 4
            planned, unplanned = (planned + size, unplanned) if operator in MKLDNN_OPS else (planned, unplanned + size)
    return planned, unplanned


def model_bytes(model_dir: Path, precision: str | None = None) -> int:
    """The memory one worker's copy of the model in ``model_dir`` takes (the factors above)."""
    planned, unplanned = activation_bytes(model_dir, precision)
    return int(
        MODEL_BASE_BYTES
        + served_params_bytes(model_dir, precision) * PARAMS_FACTOR
        + planned * PLANNED_FACTOR
        + unplanned * UNPLANNED_FACTOR
    )


def _mb(size: int) -> str:
    return f"{size / MB:.0f} MB" if size >= 10 * MB else f"{size / MB:.1f} MB"


def start_memory_bytes(model_bytes: int, workers: int) -> int:
    """The memory ``serve`` needs for a model of ``model_bytes`` (model_bytes) in each of ``workers`` workers."""
    return SERVE_BASE_BYTES + workers * (WORKER_BASE_BYTES + model_bytes)


def check_fits(model_dir: Path, precision: str, workers: int, memory_bytes: int) -> None:
    """A UserError naming the model and the memory it needs when more than ``memory_bytes``."""
    params, model = served_params_bytes(model_dir, precision), model_bytes(model_dir, precision)
    needed = start_memory_bytes(model, workers)
    if needed > memory_bytes:
        raise UserError(
            f"The model {served_params_path(model_dir, precision)} needs about {_mb(needed)} of memory to "
            f"serve ({_mb(model)} for its {_mb(params)} of parameters and its activations + "
            f"{_mb(WORKER_BASE_BYTES)} in each of "
            f"{workers} worker(s), + {_mb(SERVE_BASE_BYTES)} for nginx and gunicorn), and this container has "
            f"{_mb(memory_bytes)}: give it more memory (a larger instance, a serverless endpoint's MemorySizeInMB "
            f"up to 6144), or fewer workers (SAGEMAKER_MODEL_SERVER_WORKERS)"
        )


@dataclass(frozen=True)
class Budget:
    budget_bytes: int  # IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB, for every model of every worker together
    workers: int
    precision: str | None = None  # IMAGE_CLASSIFIER_PRECISION; None: each model directory's default

    def cost(self, model_dir: Path) -> int:
        """The memory the model in ``model_dir`` will take once every worker has served it."""
        return model_bytes(model_dir, self.precision) * self.workers

    def check(self, name: str, model_dir: Path, used_bytes: int) -> int:
        """The model's cost; 507 naming it, its cost and the budget when it does not fit beside ``used_bytes``."""
        cost = self.cost(model_dir)
        if used_bytes + cost > self.budget_bytes:
            params = served_params_bytes(model_dir, self.precision)
            raise InsufficientStorage(
                f"Model {name!r} needs about {_mb(cost)} of memory ({_mb(cost // self.workers)} for its "
                f"{_mb(params)} of parameters and its activations, x {self.workers} workers), and "
                f"{_mb(used_bytes)} of the {_mb(self.budget_bytes)} budget (IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB) "
                "are in use: unload a model with DELETE /models/NAME, or raise the budget"
            )
        return cost
