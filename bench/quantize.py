"""int8 against float32: speed per network as serving runs it, and accuracy on real data.

    pip install scikit-learn      # the accuracy data set: its handwritten digits (see model_selection.py)
    python bench/quantize.py [--networks resnet18_v1,resnet50_v1,mobilenetv3_large,resnext50_32x4d]
                             [--serve-networks resnet18_v1,resnet50_v1,mobilenetv3_large] [--serve-rounds 6]
                             [--serve-requests 480] [--epochs 15] [--size 16] [--repeats 20] [--skip-accuracy]

Speed: each network (catalog names), untrained at 3x224x224 (weights do not change the time), saved as
`train` saves it and quantized by model/quantize.py on 64 demo images; then run as `serve` runs it
(predictor.Executors, float32 and IMAGE_CLASSIFIER_PRECISION=int8): the median ms of one image and images/s of
batches of 8, float32 and int8 measured in alternating rounds so that other load weighs on both alike.
Through `serve`: the same files behind two real `serve` processes at once (serve_latency.py's machinery),
IMAGE_CLASSIFIER_PRECISION=float32 and int8, answering 224x224 JPEGs over HTTP on 127.0.0.1: p50 latency at
concurrency 1 and images/s at concurrency 8 (one image per request), the two endpoints in alternating rounds;
the medians of the rounds.
Accuracy: the real `train` (ResNet-20, the digits upscaled to --size pixels, SGD as model_selection.py) with
quantize=int8, calibrated on its validation channel; validation and held-out test accuracy of the float32
and the int8 model, and how often their top-1 answers agree on the test images.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import mxnet as mx
import numpy as np
from model_selection import BATCH, LEARNING_RATE, NUM_LAYERS, digits, normalised, run_train, write_job
from serve_latency import free_port, http_latencies, http_throughput_run, images_per_second, jpegs, start_serve

from image_classifier import demo_data
from image_classifier.model import artifacts, networks, quantize
from image_classifier.model.preprocessing import Preprocessing
from image_classifier.serving.predictor import Executors

IMAGE_SHAPE = (3, 224, 224)
NUM_CLASSES = 4
CALIBRATION_IMAGES = 64
DEFAULT_NETWORKS = "resnet18_v1,resnet50_v1,mobilenetv3_large,resnext50_32x4d"
DEFAULT_SERVE_NETWORKS = "resnet18_v1,resnet50_v1,mobilenetv3_large"
PRECISIONS = ("float32", "int8")


def export_quantized(name, model_dir):
    """Network ``name`` untrained at 3x224x224, saved as `train` saves it, with its int8 model calibrated on
    CALIBRATION_IMAGES demo images; returns those images, preprocessed."""
    mx.random.seed(0)
    served = networks.with_probabilities(networks.build(None, NUM_CLASSES, name, IMAGE_SHAPE), multi_label=False)
    served.hybridize()
    served(mx.nd.zeros((1, *IMAGE_SHAPE)))
    preprocessing = Preprocessing.for_training(IMAGE_SHAPE, None)
    artifacts.save_epoch(served, model_dir, 1)
    artifacts.write_metadata(model_dir, preprocessing, dict(enumerate(demo_data.CLASS_NAMES)))
    rng = np.random.default_rng(0)
    images = np.stack(
        [preprocessing.apply(demo_data.render(index % NUM_CLASSES, 224, rng)) for index in range(CALIBRATION_IMAGES)]
    )
    quantize.quantize(model_dir, (mx.nd.array(images[start : start + 16]) for start in range(0, len(images), 16)), 64)
    return images


def _seconds(run, repeats):
    started = time.perf_counter()
    for _ in range(repeats):
        run()
    return (time.perf_counter() - started) / repeats


def speed(name, work_dir, repeats, rounds=3):
    """{precision: (median ms at batch 1, median images/s at batch 8)}."""
    model_dir = work_dir / name
    images = export_quantized(name, model_dir)
    one, eight = images[:1], images[:8]
    runs = {
        precision: Executors(model_dir, mx.cpu(), IMAGE_SHAPE, precision=precision) for precision in ("float32", "int8")
    }
    for run in runs.values():  # warm-up: oneDNN's first-call setup, on every size used
        for _ in range(3):
            run(one), run(eight)
    latency, rate = {p: [] for p in runs}, {p: [] for p in runs}
    for _ in range(rounds):
        for precision, run in runs.items():
            latency[precision].append(_seconds(lambda run=run: run(one), repeats) * 1000)
            rate[precision].append(8 / _seconds(lambda run=run: run(eight), max(1, repeats // 4)))
    return {p: (statistics.median(latency[p]), statistics.median(rate[p])) for p in runs}


def serve_speed(name, work_dir, requests, rounds):
    """{precision: (median ms at concurrency 1, images/s at concurrency 8)} through `serve` over HTTP."""
    base_dir = work_dir / "serve" / name
    export_quantized(name, base_dir / "model")
    images = jpegs(max(CALIBRATION_IMAGES, requests // rounds))
    servers = {}
    try:
        for precision in PRECISIONS:
            port = free_port()
            servers[precision] = port, start_serve(base_dir, port, None, 0, precision)
        for port, _ in servers.values():  # warm-up: every batch size the worker runs at concurrency 1 and 8
            http_latencies(port, images[:20])
            http_throughput_run(port, images)
        latency, rate = {p: [] for p in PRECISIONS}, {p: [] for p in PRECISIONS}
        for _ in range(rounds):
            for precision, (port, _) in servers.items():
                latency[precision].append(float(np.median(http_latencies(port, images))) * 1000)
                rate[precision].append(images_per_second(http_throughput_run(port, images)))
    finally:
        for _, process in servers.values():
            process.terminate()
            process.wait(timeout=60)
    return {p: (statistics.median(latency[p]), statistics.median(rate[p])) for p in PRECISIONS}


def accuracy(epochs, size, work_dir):
    """{precision: (validation accuracy, test accuracy)}, the top-1 agreement on the test set, train seconds."""
    sets = digits(size)
    base_dir = work_dir / "digits"
    hyperparameters = {
        "num_layers": NUM_LAYERS,
        "image_shape": f"3,{size},{size}",
        "epochs": epochs,
        "mini_batch_size": BATCH,
        "learning_rate": LEARNING_RATE,
        "lr_scheduler_step": f"{epochs * 2 // 3}",
        "seed": 1,
        "quantize": "int8",
    }
    write_job(base_dir, sets, hyperparameters)
    started = time.time()
    run_train(base_dir, "the digits model")
    seconds = time.time() - started
    model_dir = base_dir / "model"
    answers, accuracies = {}, {}
    for precision in ("float32", "int8"):
        run = Executors(model_dir, mx.cpu(), (3, size, size), precision=precision)
        scores = {part: run(normalised(sets[part][0]).asnumpy()).argmax(axis=1) for part in ("validation", "test")}
        answers[precision] = scores["test"]
        accuracies[precision] = tuple(float((scores[part] == sets[part][1]).mean()) for part in ("validation", "test"))
    agreement = float((answers["float32"] == answers["int8"]).mean())
    return accuracies, agreement, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default=DEFAULT_NETWORKS)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--serve-networks", default=DEFAULT_SERVE_NETWORKS, help="through `serve` ('': none)")
    parser.add_argument("--serve-requests", type=int, default=480, help="requests per endpoint, over all rounds")
    parser.add_argument("--serve-rounds", type=int, default=6)
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, MXNet {mx.__version__}")
    with tempfile.TemporaryDirectory(prefix="bench-quantize-") as scratch:
        work_dir = Path(scratch)
        for title, (one, eight), names, measure in (
            (
                "in-process (predictor.Executors)",
                ("ms, batch 1", "images/s, batch 8"),
                args.networks,
                lambda name: speed(name, work_dir, args.repeats),
            ),
            (
                "through `serve` over HTTP (224x224 JPEGs, one a request)",
                ("p50 ms, concurrency 1", "images/s, concurrency 8"),
                args.serve_networks,
                lambda name: serve_speed(name, work_dir, args.serve_requests, args.serve_rounds),
            ),
        ):
            names = [name for name in names.split(",") if name]
            if not names:
                continue
            print(f"\n{title}")
            print(f"| network | {one}: float32 | int8 | {eight}: float32 | int8 | int8 / float32 |")
            print("|---|---|---|---|---|---|")
            for name in names:
                measured = measure(name)
                (f_ms, f_rate), (q_ms, q_rate) = measured["float32"], measured["int8"]
                print(
                    f"| {name} | {f_ms:.1f} | {q_ms:.1f} | {f_rate:.1f} | {q_rate:.1f} | {q_rate / f_rate:.2f}x |",
                    flush=True,
                )
        if not args.skip_accuracy:
            accuracies, agreement, seconds = accuracy(args.epochs, args.size, work_dir)
            print(
                f"\ndigits, ResNet-20 at {args.size}px, {args.epochs} epochs (`train`, quantize=int8: {seconds:.0f} s)"
            )
            print("| model | validation accuracy | test accuracy |")
            print("|---|---|---|")
            for precision, (validation, test) in accuracies.items():
                print(f"| {precision} | {validation:.4f} | {test:.4f} |")
            change = (accuracies["int8"][1] - accuracies["float32"][1]) * 100
            print(
                f"test accuracy, int8 - float32: {change:+.2f} points; top-1 agreement on the test set {agreement:.4f}"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
