"""What one more model costs a serving worker in memory, beside serving/model_memory.py's estimate of it.

    python bench/model_memory.py [--models 3]

For each network, untrained models as `train` writes them are loaded one after another with Predictor.load
(CPU, float32) in this process, after a first one that pays MXNet's and MKL-DNN's one-time set-up; each
further load's growth of the resident memory (psutil RSS) is printed beside what serving/model_memory.py
estimates from the directory's files: its parameters, and the activations of one image (MKL-DNN's operators'
and the others'), each times a factor.
"""

import argparse
import gc
import tempfile
from pathlib import Path

import mxnet as mx
import psutil

from image_classifier.model import artifacts, networks
from image_classifier.model.preprocessing import Preprocessing
from image_classifier.serving.model_memory import Budget, activation_bytes, served_params_bytes
from image_classifier.serving.predictor import Predictor

CASES = (  # (name, num_layers, zoo name, image side)
    ("CIFAR ResNet-20", 20, None, 32),
    ("CIFAR ResNet-20", 20, None, 224),
    ("MobileNet v3 small", 0, "mobilenetv3_small", 224),
    ("ResNet-18", 18, None, 224),
    ("ResNet-50", 50, None, 224),
)
CLASSES = 10
MIB = 2**20


def export(model_dir, num_layers, network, side, seed):
    mx.random.seed(seed)
    net = networks.build(num_layers, CLASSES, network, (3, side, side))
    served = networks.with_probabilities(net, False)
    served.hybridize()
    served(mx.nd.zeros((1, 3, side, side)))
    artifacts.save_epoch(served, model_dir, 1)
    artifacts.write_metadata(
        model_dir, Preprocessing.for_training((3, side, side), None), {index: str(index) for index in range(CLASSES)}
    )
    return model_dir


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=3, help="loads measured per network, after the first")
    args = parser.parse_args()
    process = psutil.Process()
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for name, num_layers, network, side in CASES:
            seeds = range(args.models + 1)
            dirs = [export(Path(root) / f"{name}-{side}-{seed}", num_layers, network, side, seed) for seed in seeds]
            held = [Predictor.load(dirs[0], mx.cpu())]
            for model_dir in dirs[1:]:
                gc.collect()
                before = process.memory_info().rss
                held.append(Predictor.load(model_dir, mx.cpu()))
                gc.collect()
                growth = process.memory_info().rss - before
                params, activations = served_params_bytes(model_dir), activation_bytes(model_dir)
                estimate = Budget(0, workers=1).cost(model_dir)
                rows.append((f"{name} 3x{side}x{side}", params, activations, growth, estimate))
            del held
    print(
        f"| {'model':<28} | params MiB | MKL-DNN activations MiB | other activations MiB | RSS growth MiB "
        "| estimate MiB |"
    )
    rule = "|-----------:|------------------------:|----------------------:|---------------:|-------------:|"
    print("|" + "-" * 30 + rule)
    for model, params, (planned, unplanned), growth, estimate in rows:
        print(
            f"| {model:<28} | {params / MIB:10.1f} | {planned / MIB:23.1f} | {unplanned / MIB:21.1f} "
            f"| {growth / MIB:14.1f} | {estimate / MIB:12.1f} |"
        )


if __name__ == "__main__":
    main()
