"""A multi-model endpoint's memory budget: what loading a model will cost, estimated before it is loaded.

A model costs the size of the parameters file it serves times LOAD_MEMORY_FACTOR, once per worker: each
worker holds its own copy of each model it serves (multi_model.py), and in each the copy is more than the
weights, since predictor.py binds an executor per batch size in PASS_SIZES, each with MKL-DNN's fused copy of
the weights, and plans the activations of the largest. A load whose cost, added to that of the models
registered, would pass the budget is refused (507, SageMaker's signal to unload others) before it is loaded.
"""

from dataclasses import dataclass
from pathlib import Path

from ..model import artifacts
from .errors import InsufficientStorage
from .settings import MB

# The resident memory (psutil RSS) one Predictor.load adds to a worker that has loaded a model before, over
# the bytes of the parameters file it loads, as bench/model_memory.py measures it (CPU, float32, results in
# bench/README.md): 13.4 for a CIFAR ResNet-20 at 3x32x32 (1.1 MiB of parameters), 9 for ResNet-18 at
# 3x224x224 (43 MiB). The small model's, rounded up: small models cost the most per byte (fixed costs).
LOAD_MEMORY_FACTOR = 14


def served_params_bytes(model_dir: Path, precision: str | None = None) -> int:
    """The size of the parameters file serving loads from ``model_dir`` (precision None: the directory's
    default); 0 when there is none (not a model)."""
    if (precision or artifacts.default_precision(model_dir)) == "int8":
        path = model_dir / artifacts.INT8_PARAMS_FILE
    else:
        epochs = artifacts.saved_epochs(model_dir)
        if not epochs:
            return 0
        path = artifacts.params_path(model_dir, epochs[-1])
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mb(size: int) -> str:
    return f"{size / MB:.0f} MB" if size >= 10 * MB else f"{size / MB:.1f} MB"


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
