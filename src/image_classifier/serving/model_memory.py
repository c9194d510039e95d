"""What serving a model will cost in memory, estimated before it is loaded: at start, and for a multi-model
endpoint's budget.

Each worker holds its own copy of each model it serves (multi_model.py), and in each the copy is more than the
weights: predictor.py binds an executor per batch size in PASS_SIZES, two of them (FUSED_SIZES) with MKL-DNN's
fused copy of the weights, and plans the activations of the largest.

At start, ``check_fits`` refuses, by name and with the memory it needs, a model that the container's memory
(its cgroup's limit, a serverless endpoint's 1 to 6 GB) cannot hold, rather than letting the kernel's
out-of-memory killer end a worker at its first load, again and again.
For a multi-model endpoint, a model costs the size of its parameters file times LOAD_MEMORY_FACTOR, once per
worker; a load whose cost, added to that of the models registered, would pass the budget is refused (507,
SageMaker's signal to unload others) before it is loaded.
"""

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..model import artifacts
from .errors import InsufficientStorage
from .settings import MB

# The resident memory (psutil RSS) one Predictor.load adds to a worker that has loaded a model before, over
# the bytes of the parameters file it loads, as bench/model_memory.py measures it (CPU, float32, results in
# bench/README.md): 13.4 for a CIFAR ResNet-20 at 3x32x32 (1.1 MiB of parameters), 9 for ResNet-18 at
# 3x224x224 (43 MiB). The small model's, rounded up: small models cost the most per byte (fixed costs).
LOAD_MEMORY_FACTOR = 14
# The same growth for the large networks, at 3x224x224: 4.4 for ResNet-50 (90 MiB of parameters), 3.3 for
# ResNet-152 (223 MiB), bench/README.md; rounded up. A small model's growth is within WORKER_BASE_BYTES' margin.
START_MEMORY_FACTOR = 5
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


def _mb(size: int) -> str:
    return f"{size / MB:.0f} MB" if size >= 10 * MB else f"{size / MB:.1f} MB"


def start_memory_bytes(params_bytes: int, workers: int) -> int:
    """The memory ``serve`` needs for a model of ``params_bytes`` in each of ``workers`` workers."""
    return SERVE_BASE_BYTES + workers * (WORKER_BASE_BYTES + params_bytes * START_MEMORY_FACTOR)


def check_fits(model_dir: Path, precision: str, workers: int, memory_bytes: int) -> None:
    """A UserError naming the model and the memory it needs when more than ``memory_bytes``."""
    params = served_params_bytes(model_dir, precision)
    needed = start_memory_bytes(params, workers)
    if needed > memory_bytes:
        raise UserError(
            f"The model {served_params_path(model_dir, precision)} needs about {_mb(needed)} of memory to "
            f"serve ({_mb(params)} of parameters x {START_MEMORY_FACTOR} + {_mb(WORKER_BASE_BYTES)} in each of "
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
        return served_params_bytes(model_dir, self.precision) * LOAD_MEMORY_FACTOR * self.workers

    def check(self, name: str, model_dir: Path, used_bytes: int) -> int:
        """The model's cost; 507 naming it, its cost and the budget when it does not fit beside ``used_bytes``."""
        cost = self.cost(model_dir)
        if used_bytes + cost > self.budget_bytes:
            params = served_params_bytes(model_dir, self.precision)
            raise InsufficientStorage(
                f"Model {name!r} needs about {_mb(cost)} of memory ({_mb(params)} of parameters x "
                f"{LOAD_MEMORY_FACTOR} x {self.workers} workers), and {_mb(used_bytes)} of the "
                f"{_mb(self.budget_bytes)} budget (IMAGE_CLASSIFIER_MULTI_MODEL_MEMORY_MB) are in use: unload a "
                f"model with DELETE /models/NAME, or raise the budget"
            )
        return cost
