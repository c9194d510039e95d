"""The catalog's networks side by side on this machine's CPU: size, training and inference speed, and accuracy
on a real small data set at an equal training budget.

    pip install scikit-learn      # the accuracy data set: its handwritten digits (as bench/model_selection.py)
    python bench/networks.py [--size 224] [--networks resnet50_v1,...] [--accuracy-networks ...]
                             [--accuracy-size 32] [--epochs 10]

Speed, for each network (one member of each family, and MobileNet v3 small) at --size pixels (a network that
takes one size only at that size, such as Inception v3 at 299), 10 classes, float32:
  * parameters, in millions;
  * training images/s: a hybridized training step (SGD, momentum 0.9) on a batch of 8 in-memory images, the
    mean over 3 steps after 2 warm-up steps;
  * inference: the model saved as `train` saves it and loaded as serving loads it (serving's Predictor),
    ms per batch of 1 (mean of 10 after 2 warm-up) and images/s in batches of 8 (mean of 3 after 1 warm-up).
Accuracy, for --accuracy-networks (those that take small images): the real `train` command on scikit-learn's
digits upscaled to --accuracy-size pixels, split as bench/model_selection.py splits them (1,000 train, 200
validation, 597 test), the same budget for every network: --epochs epochs, Adam at 0.001 divided by 10 for
the last third, batch 32, seed 1; the held-out test accuracy of the model `train` keeps.
One table, printed in Markdown.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import mxnet as mx
import numpy as np
from model_selection import NUM_CLASSES, digits, run_train, test_accuracy, write_job
from mxnet import autograd, gluon

from image_classifier import network_catalog
from image_classifier.model import artifacts, networks
from image_classifier.model.preprocessing import Preprocessing
from image_classifier.serving.predictor import Predictor

SPEED_NETWORKS = (
    "resnet50_v1,resnet50_v2,resnet50_v1d,resnext50_32x4d,se_resnext50_32x4d,resnest50,mobilenet1.0,"
    "mobilenetv2_1.0,mobilenetv3_large,mobilenetv3_small,densenet121,inceptionv3,xception,squeezenet1.1,"
    "vgg16,vgg16_bn,efficientnet_b0,efficientnet_b0b,regnetx004,regnety004,ghostnet,mixnet_s,"
    "efficientnet_edge_small_b"
)
ACCURACY_NETWORKS = (
    "resnet18_v1,resnet18_v1b,mobilenetv2_1.0,mobilenetv3_small,mobilenetv3_large,vgg11_bn,efficientnet_b0,"
    "regnetx004,regnety004"
)
TRAIN_BATCH, INFER_BATCH = 8, 8


def _mean_seconds(run, warm_up, repeats):
    for _ in range(warm_up):
        run()
    started = time.perf_counter()
    for _ in range(repeats):
        run()
    return (time.perf_counter() - started) / repeats


def _side(name, size):
    return network_catalog.NETWORKS[name].side(name) or size


def speed(name, size, work_dir):
    """(side, parameters in millions, training images/s, inference ms at batch 1, inference images/s at batch 8)."""
    side = _side(name, size)
    image_shape = (3, side, side)
    mx.random.seed(0)
    net = networks.build(None, NUM_CLASSES, name, image_shape)
    net.hybridize(static_alloc=True, static_shape=True)
    data = mx.nd.random.uniform(-2, 2, shape=(TRAIN_BATCH, *image_shape))
    labels = mx.nd.array(np.arange(TRAIN_BATCH) % NUM_CLASSES)
    net(data)
    parameters = sum(param.data().size for param in net.collect_params().values()) / 1e6
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.001, "momentum": 0.9})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

    def step():
        with autograd.record():
            loss = loss_fn(net(data), labels)
        loss.backward()
        trainer.step(TRAIN_BATCH)
        loss.wait_to_read()

    train_rate = TRAIN_BATCH / _mean_seconds(step, 2, 3)
    served = networks.with_probabilities(net, False)
    served.hybridize()
    served(mx.nd.zeros((1, *image_shape)))
    model_dir = work_dir / name
    artifacts.write_metadata(model_dir, Preprocessing.for_training(image_shape, None), {})
    artifacts.save_epoch(served, model_dir, 1)
    predictor = Predictor.load(model_dir, mx.cpu())
    one, eight = data[:1].asnumpy(), data[:INFER_BATCH].asnumpy()
    latency = _mean_seconds(lambda: predictor.predict(one), 2, 10) * 1000
    infer_rate = INFER_BATCH / _mean_seconds(lambda: predictor.predict(eight), 1, 3)
    return side, parameters, train_rate, latency, infer_rate


def accuracy(name, sets, size, epochs, work_dir):
    """(held-out test accuracy of the model `train` keeps, seconds of `train`)."""
    base_dir = work_dir / f"train-{name}"
    hyperparameters = {
        "network": name,
        "image_shape": f"3,{size},{size}",
        "epochs": epochs,
        "mini_batch_size": 32,
        "optimizer": "adam",
        "learning_rate": 0.001,
        "lr_scheduler_step": max(1, epochs * 2 // 3),
        "lr_scheduler_factor": 0.1,
        "seed": 1,
    }
    write_job(base_dir, sets, hyperparameters)
    started = time.time()
    run_train(base_dir, name)
    return test_accuracy(artifacts.load(base_dir / "model"), sets["test"]), time.time() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--networks", default=SPEED_NETWORKS)
    parser.add_argument("--accuracy-networks", default=ACCURACY_NETWORKS)
    parser.add_argument("--accuracy-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    names = args.networks.split(",")
    accuracy_names = [name for name in args.accuracy_networks.split(",") if name]
    sets = digits(args.accuracy_size) if accuracy_names else None
    results = {}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-networks-") as work_dir:
        for name in names:
            results[name] = {"speed": speed(name, args.size, Path(work_dir))}
            print(f"# {name}: {time.time() - started:.0f} s", file=sys.stderr, flush=True)
        for name in accuracy_names:
            results.setdefault(name, {})["accuracy"] = accuracy(
                name, sets, args.accuracy_size, args.epochs, Path(work_dir)
            )
            print(f"# {name} trained: {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    print(
        f"CPU, {os.cpu_count()} cores, float32, {NUM_CLASSES} classes; speed at {args.size} px (fixed-size networks "
        f"at their own); accuracy: scikit-learn digits at {args.accuracy_size} px, {args.epochs} epochs of `train` "
        f"(Adam 0.001, batch 32, seed 1), held-out test set of 597\n"
    )
    print(
        "| network | family | px | parameters (M) | train img/s (batch 8) | infer ms (batch 1) "
        "| infer img/s (batch 8) | digits test accuracy | train s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, result in results.items():
        cells = [name, network_catalog.NETWORKS[name].title]
        if "speed" in result:
            side, parameters, train_rate, latency, infer_rate = result["speed"]
            cells += [str(side), f"{parameters:.1f}", f"{train_rate:.1f}", f"{latency:.1f}", f"{infer_rate:.1f}"]
        else:
            cells += [""] * 5
        if "accuracy" in result:
            test, seconds = result["accuracy"]
            cells += [f"{test:.4f}", f"{seconds:.0f}"]
        else:
            cells += [""] * 2
        print(f"| {' | '.join(cells)} |")
    print(f"\ntotal {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
