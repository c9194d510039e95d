"""Model selection on real data: held-out test accuracy of the epoch `train` keeps, of its last epoch, and of a
plain Gluon loop with the same recipe.

    pip install scikit-learn      # the data set: its handwritten digits (1,797 8x8 images, 10 classes)
    python bench/model_selection.py [--seeds 1,2,3] [--epochs 20] [--lr-steps 10,15] [--size 16]

The digits are split once (split seed 0): 1,000 to train, 200 to validate (what `train` selects on), 597
held out for testing. Images are upscaled to --size pixels (bilinear), grey in three channels. For each seed:
  * train: the real `train` command (ResNet-20, SGD momentum 0.9, wd 1e-4, learning rate 0.1 divided by 10 at
    --lr-steps, batch 32, no augmentation: mirroring digits changes them), checkpoint_frequency unset, managed
    spot checkpoints on so that the last epoch's weights can be read too;
  * plain: a hand-written Gluon loop with the same network, initialisation, optimizer, schedule, batch size,
    normalisation and epochs, shuffled each epoch, its last epoch tested.
It prints one row per seed and the means, and the comparison the issue asks for: the kept model must not
fall below the plain loop by more than the seed-to-seed spread (max - min of the plain loop's accuracies).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, recordio
from PIL import Image

from image_classifier.image_ops import encode
from image_classifier.model import artifacts, networks
from image_classifier.model.preprocessing import Preprocessing

TRAIN = str(Path(sys.executable).with_name("train"))
NUM_CLASSES = 10
NUM_LAYERS = 20
BATCH = 32
LEARNING_RATE = 0.1
SPLIT = {"test": 597, "validation": 200}  # the rest (1,000) trains


def digits(size):
    """{"train" | "validation" | "test": (uint8 images (N, size, size, 3), labels (N,))}."""
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = np.clip(data.images * 16, 0, 255).astype(np.uint8)
    images = np.stack([np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR)) for image in pixels])
    images = np.repeat(images[..., None], 3, axis=3)
    order = np.random.default_rng(0).permutation(len(images))
    test, validation = SPLIT["test"], SPLIT["test"] + SPLIT["validation"]
    parts = {"test": order[:test], "validation": order[test:validation], "train": order[validation:]}
    return {name: (images[index], data.target[index]) for name, index in parts.items()}


def normalised(images):
    """NCHW float32, normalised as `train`'s preprocessing does (ImageNet mean and std on 0-255 pixels)."""
    preprocessing = Preprocessing.for_training((3, *images.shape[1:3]), None)
    mean, std = np.array(preprocessing.mean, np.float32), np.array(preprocessing.std, np.float32)
    return mx.nd.array(((images.astype(np.float32) - mean) / std).transpose(0, 3, 1, 2))


def test_accuracy(net, test_set):
    images, labels = test_set
    scores = net(normalised(images)).asnumpy()
    return float((scores.argmax(axis=1) == labels).mean())


def write_channel(prefix, images, labels):
    prefix.parent.mkdir(parents=True, exist_ok=True)
    writer = recordio.MXIndexedRecordIO(f"{prefix}.idx", f"{prefix}.rec", "w")
    for index, (image, label) in enumerate(zip(images, labels)):
        writer.write_idx(index, recordio.pack(recordio.IRHeader(0, float(label), index, 0), encode(image, "PNG")))
    writer.close()


def write_job(base_dir, sets, hyperparameters):
    """A job tree for `train`: the train and validation sets as RecordIO channels, the hyperparameters as
    SageMaker writes them (every value a string)."""
    for name in ("train", "validation"):
        write_channel(base_dir / "input" / "data" / name / name, *sets[name])
    values = {"num_classes": NUM_CLASSES, "num_training_samples": len(sets["train"][1]), **hyperparameters}
    config_dir = base_dir / "input" / "config"
    config_dir.mkdir(parents=True)
    (config_dir / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in values.items()}))


def run_train(base_dir: Path, what: str) -> str:
    """The `train` command's standard output for the job under ``base_dir``; if it fails, the bench stops with
    the end of its output (where its failure message is), naming ``what`` failed."""
    result = subprocess.run(
        [TRAIN], env=dict(os.environ, SAGEMAKER_BASE_DIR=str(base_dir)), capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"train failed for {what}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result.stdout


def product(sets, seed, epochs, lr_steps, size, work_dir):
    """(kept epoch (0-based), earliest best epoch, test accuracy of the kept model, of the last epoch, seconds)."""
    base_dir = work_dir / f"train-{seed}"
    hyperparameters = {
        "num_layers": NUM_LAYERS,
        "image_shape": f"3,{size},{size}",
        "epochs": epochs,
        "mini_batch_size": BATCH,
        "optimizer": "sgd",
        "learning_rate": LEARNING_RATE,
        "lr_scheduler_step": lr_steps,
        "lr_scheduler_factor": 0.1,
        "seed": seed,
    }
    write_job(base_dir, sets, hyperparameters)
    (base_dir / "checkpoints").mkdir()
    started = time.time()
    output = run_train(base_dir, f"seed {seed}")
    seconds = time.time() - started
    kept_epoch = int(re.search(r"^Kept epoch (\d+) ", output, re.M).group(1))
    history = json.loads((base_dir / "output" / "data" / "metrics.json").read_text())["epochs"]
    accuracies = [record["validation"]["accuracy"] for record in history]
    earliest_best = accuracies.index(max(accuracies))
    kept = test_accuracy(artifacts.load(base_dir / "model"), sets["test"])
    last_net = networks.architecture(NUM_LAYERS, NUM_CLASSES)
    last_net.load_parameters(str(base_dir / "checkpoints" / f"epoch-{epochs:04d}" / "network.params"))
    return kept_epoch, earliest_best, kept, test_accuracy(last_net, sets["test"]), seconds


def plain_loop(sets, seed, epochs, lr_steps):
    """(test accuracy after the last epoch, seconds) of a hand-written Gluon loop with the same recipe."""
    mx.random.seed(seed)
    shuffle = np.random.default_rng(seed)
    images, labels = sets["train"]
    data, label = normalised(images), mx.nd.array(labels)
    batches = -(-len(labels) // BATCH)
    net = networks.build(NUM_LAYERS, NUM_CLASSES)
    net.hybridize(static_alloc=True, static_shape=True)
    steps = [int(step) * batches for step in lr_steps.split(",")]
    schedule = mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=0.1, base_lr=LEARNING_RATE)
    trainer = gluon.Trainer(
        net.collect_params(),
        "sgd",
        {"learning_rate": LEARNING_RATE, "momentum": 0.9, "wd": 1e-4, "lr_scheduler": schedule},
    )
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    started = time.time()
    for _ in range(epochs):
        order = mx.nd.array(shuffle.permutation(len(labels)), dtype="int32")
        for start in range(0, len(labels), BATCH):
            index = order[start : start + BATCH]
            x, y = data.take(index), label.take(index)
            with autograd.record():
                batch_loss = loss(net(x), y)
            batch_loss.backward()
            trainer.step(x.shape[0])
    return test_accuracy(net, sets["test"]), time.time() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr-steps", default="10,15")
    parser.add_argument("--size", type=int, default=16)
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    sets = digits(args.size)
    print(
        f"scikit-learn digits at {args.size}x{args.size}: {len(sets['train'][1])} train, "
        f"{len(sets['validation'][1])} validation, {len(sets['test'][1])} test; ResNet-{NUM_LAYERS}, {args.epochs} "
        f"epochs, lr {LEARNING_RATE} /10 at epochs {args.lr_steps}, batch {BATCH}\n"
    )
    print(
        "| seed | kept epoch | earliest best epoch | test acc kept | test acc last epoch | test acc plain loop "
        "| train s | plain s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory(prefix="model-selection-") as work_dir:
        for seed in seeds:
            kept_epoch, earliest, kept, last, seconds = product(
                sets, seed, args.epochs, args.lr_steps, args.size, Path(work_dir)
            )
            plain, plain_seconds = plain_loop(sets, seed, args.epochs, args.lr_steps)
            rows.append((kept, last, plain))
            print(
                f"| {seed} | {kept_epoch} | {earliest} | {kept:.4f} | {last:.4f} | {plain:.4f} | {seconds:.0f} "
                f"| {plain_seconds:.0f} |",
                flush=True,
            )
    kept, last, plain = (np.array(column) for column in zip(*rows))
    print(f"| mean | | | {kept.mean():.4f} | {last.mean():.4f} | {plain.mean():.4f} | | |")
    spread = plain.max() - plain.min()
    gap = plain.mean() - kept.mean()
    print(
        f"\nkept - plain: {-gap:+.4f} (mean over seeds); seed-to-seed spread of the plain loop: {spread:.4f} "
        f"(kept: {kept.max() - kept.min():.4f}); kept - last epoch: {kept.mean() - last.mean():+.4f}"
    )
    print(
        "PASS: the kept model is within the spread of the plain loop"
        if gap <= spread
        else "FAIL: the kept model falls below the plain loop by more than the seed-to-seed spread"
    )


if __name__ == "__main__":
    main()
