"""Training throughput: the real `train` pipeline against a minimal GluonCV loop, same network and shapes.

    python bench/train_throughput.py [--images 1280] [--rows resnet20:32:32,resnet18:64:32]

For each row (network:image size:batch) it runs, in one go:
  * pipeline: the `train` command on a generated RecordIO data set (ImageRecordIter decode + augment +
    train step), images/s read from its own `Speed:` progress lines after the first window;
  * minimal: a hand-written Gluon loop over one in-memory synthetic batch (no data loading at all),
and prints both with their ratio (target >= 0.9).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mxnet as mx
from mxnet import autograd, gluon

from image_classifier import demo_data
from image_classifier.model import networks

WARMUP_BATCHES = 5


def pipeline_speed(num_layers, size, batch, images):
    with tempfile.TemporaryDirectory() as tmp:
        base_dir = demo_data.write_job(Path(tmp), images, batch, size, num_layers=num_layers, epochs=1,
                                       mini_batch_size=batch, augmentation_type="crop", resize=size)
        train = Path(sys.executable).with_name("train")
        result = subprocess.run([str(train)], env=dict(os.environ, SAGEMAKER_BASE_DIR=str(base_dir)),
                                capture_output=True, text=True, check=True)
    speeds = [float(s) for s in re.findall(r"Speed: ([0-9.]+) samples/sec", result.stdout)]
    return sum(speeds[1:]) / len(speeds[1:])  # the first window includes start-up


def minimal_speed(num_layers, size, batch, images):
    net = networks.build(num_layers, 4)
    net.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.002})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    data = mx.nd.random.uniform(shape=(batch, 3, size, size))
    label = mx.nd.array([i % 4 for i in range(batch)])
    batches = images // batch
    for number in range(WARMUP_BATCHES + batches):
        if number == WARMUP_BATCHES:
            mx.nd.waitall()
            started = time.time()
        with autograd.record():
            loss = loss_fn(net(data), label)
        loss.backward()
        trainer.step(batch)
        loss.asnumpy()  # the pipeline syncs each batch for its metric too
    return batches * batch / (time.time() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1280)
    parser.add_argument("--rows", default="resnet20:32:32,resnet18:64:32")
    args = parser.parse_args()
    print(f"{'network':<10} {'image':>7} {'batch':>5} {'pipeline img/s':>15} {'minimal img/s':>14} {'ratio':>6}")
    for row in args.rows.split(","):
        name, size, batch = row.split(":")
        num_layers, size, batch = int(name.removeprefix("resnet")), int(size), int(batch)
        pipeline = pipeline_speed(num_layers, size, batch, args.images)
        minimal = minimal_speed(num_layers, size, batch, args.images)
        print(f"{name:<10} {size:>4}x{size:<2} {batch:>5} {pipeline:>15.1f} {minimal:>14.1f} {pipeline / minimal:>6.2f}")


if __name__ == "__main__":
    main()
