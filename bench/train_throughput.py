"""Training throughput: the real `train` pipeline against a minimal GluonCV loop, same network and shapes.

    python bench/train_throughput.py [--images 1280] [--rows resnet20:32:32,resnet18:64:32]
    python bench/train_throughput.py --recipes [--images 1280] [--rows resnet20:32:32]

For each row (network:image size:batch) it runs, in one go:
  * pipeline: the `train` command on a generated RecordIO data set (ImageRecordIter decode + augment +
    train step), images/s read from its own `Speed:` progress lines after the first window;
  * minimal: a hand-written Gluon loop over one in-memory synthetic batch (no data loading at all),
and prints both with their ratio (target >= 0.9). A second table scales the first row out: 2 CPU
contexts in one process, and 2 hosts (127.0.0.1 and 127.0.0.2, MXNet's parameter server), with images/s
per worker and the scaling efficiency (total images/s over n times one worker's).

``--recipes`` instead runs `train` on the first row once per option of the recipe (RECIPE_ROWS: each
augmentation, mixup, CutMix, label smoothing, EMA, the schedules, no bias decay, distillation from an
untrained ResNet-20 and ResNet-56 teacher) and prints its images/s against today's path, augmentation_type=crop
through ImageRecordIter alone (target: the per-batch options within 3%; distillation costs the teacher's
forward pass). Rows run in turn, the reference first and last, so that drift on a shared machine shows.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mxnet as mx
from mxnet import autograd, gluon
from serve_latency import export_untrained

from image_classifier import demo_data
from image_classifier.model import networks

WARMUP_BATCHES = 5


TRAIN = str(Path(sys.executable).with_name("train"))


def _job(directory, num_layers, size, batch, images, **extra):
    hyperparameters = dict(num_layers=num_layers, epochs=1, mini_batch_size=batch, augmentation_type="crop")
    base_dir = demo_data.write_job(directory, images, batch, size, resize=size, **{**hyperparameters, **extra})
    if "lr_scheduler" in extra:  # the demo job's lr_scheduler_step belongs to the step schedule alone
        config_file = base_dir / "input" / "config" / "hyperparameters.json"
        config = json.loads(config_file.read_text())
        del config["lr_scheduler_step"]
        config_file.write_text(json.dumps(config))
    return base_dir


def _speed(output):
    speeds = [float(s) for s in re.findall(r"Speed: ([0-9.]+) samples/sec", output)]
    return sum(speeds[1:]) / len(speeds[1:])  # the first window includes start-up


# name: the hyperparameters it sets over the reference's (augmentation_type=crop, Adam, a step schedule)
RECIPE_ROWS = {
    "crop (ImageRecordIter only)": {},
    "crop_color": {"augmentation_type": "crop_color"},
    "randaugment": {"augmentation_type": "randaugment"},
    "trivialaugment": {"augmentation_type": "trivialaugment"},
    "random_erasing=0.25": {"random_erasing": 0.25},
    "label_smoothing=0.1": {"label_smoothing": 0.1},
    "mixup_alpha=0.2": {"mixup_alpha": 0.2},
    "cutmix_alpha=1": {"cutmix_alpha": 1.0},
    "ema_decay=0.99": {"ema_decay": 0.99},
    "cosine": {"lr_scheduler": "cosine"},  # warm-up is per batch as the decay: the same cost
    "poly": {"lr_scheduler": "poly"},
    "no_bias_decay=1": {"no_bias_decay": 1},
    "distillation, ResNet-20 teacher": {"teacher": 20},
    "distillation, ResNet-56 teacher": {"teacher": 56},
}


def pipeline_speed(num_layers, size, batch, images, contexts=1, **extra):
    """Images/s of one epoch of `train`; ``teacher=N`` gives it an untrained ResNet-N as its 'teacher' channel."""
    teacher = extra.pop("teacher", None)
    with tempfile.TemporaryDirectory() as tmp:
        base_dir = _job(Path(tmp), num_layers, size, batch, images, **extra)
        if teacher:
            export_untrained(base_dir / "input" / "data" / "teacher", teacher, (3, size, size))
            config_file = base_dir / "input" / "config" / "inputdataconfig.json"
            config = json.loads(config_file.read_text())
            config_file.write_text(json.dumps({**config, "teacher": {"ContentType": "application/x-sagemaker-model"}}))
        environ = dict(os.environ, SAGEMAKER_BASE_DIR=str(base_dir), IMAGE_CLASSIFIER_CPU_CONTEXTS=str(contexts))
        result = subprocess.run([TRAIN], env=environ, capture_output=True, text=True, check=True)
    return _speed(result.stdout)


def two_host_speeds(num_layers, size, batch, images):
    """Images/s of each worker of a 2-host dist_sync job on this machine (loopback addresses); each host's
    shard holds ``images`` images, as the one-host run does."""
    hosts = ["127.0.0.1", "127.0.0.2"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once the probe closes, for the scheduler to bind
    with tempfile.TemporaryDirectory() as tmp:
        first = _job(Path(tmp) / "host1", num_layers, size, batch, 2 * images, kv_store="dist_sync", _ps_port=port)
        shutil.copytree(first, Path(tmp) / "host2")
        processes = []
        for host in hosts:
            base_dir = Path(tmp) / f"host{hosts.index(host) + 1}"
            (base_dir / "input" / "config" / "resourceconfig.json").write_text(
                json.dumps({"current_host": host, "hosts": hosts})
            )
            processes.append(
                subprocess.Popen(
                    [TRAIN],
                    env=dict(os.environ, SAGEMAKER_BASE_DIR=str(base_dir)),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        outputs = [process.communicate()[0] for process in processes]
        if any(process.returncode for process in processes):
            raise SystemExit("the 2-host run failed:\n" + "\n".join(output[-2000:] for output in outputs))
        return [_speed(output) for output in outputs]


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


def recipes_table(row, images):
    name, size, batch = row.split(":")
    num_layers, size, batch = int(name.removeprefix("resnet")), int(size), int(batch)
    print(f"`train`, {name} {size}x{size}, batch {batch}, {images} images, one epoch a row ({os.cpu_count()} cores)")
    print(f"{'option':<34} {'images/s':>9} {'against crop':>13}")
    names = [*RECIPE_ROWS, next(iter(RECIPE_ROWS))]
    reference = None
    for option in names:
        speed = pipeline_speed(num_layers, size, batch, images, **RECIPE_ROWS[option])
        reference = reference or speed
        print(f"{option:<34} {speed:>9.1f} {speed / reference:>13.2f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1280)
    parser.add_argument("--rows", default="resnet20:32:32,resnet18:64:32")
    parser.add_argument("--recipes", action="store_true", help="images/s of each recipe option instead")
    args = parser.parse_args()
    if args.recipes:
        return recipes_table(args.rows.split(",")[0], args.images)
    print(f"{'network':<10} {'image':>7} {'batch':>5} {'pipeline img/s':>15} {'minimal img/s':>14} {'ratio':>6}")
    for row in args.rows.split(","):
        name, size, batch = row.split(":")
        num_layers, size, batch = int(name.removeprefix("resnet")), int(size), int(batch)
        pipeline = pipeline_speed(num_layers, size, batch, args.images)
        minimal = minimal_speed(num_layers, size, batch, args.images)
        print(
            f"{name:<10} {size:>4}x{size:<2} {batch:>5} {pipeline:>15.1f} {minimal:>14.1f} {pipeline / minimal:>6.2f}"
        )
    name, size, batch = args.rows.split(",")[0].split(":")
    num_layers, size, batch = int(name.removeprefix("resnet")), int(size), int(batch)
    one = pipeline_speed(num_layers, size, batch, args.images)
    two_contexts = pipeline_speed(num_layers, size, batch, args.images, contexts=2)
    hosts = two_host_speeds(num_layers, size, batch, args.images)
    print(f"\nscaling {name} {size}x{size}, batch {batch} per worker ({os.cpu_count()} cores in all)")
    print(f"{'setup':<22} {'workers':>7} {'img/s per worker':>17} {'img/s total':>12} {'efficiency':>10}")
    for setup, speeds in (
        ("1 context", [one]),
        ("2 CPU contexts", [two_contexts / 2] * 2),
        ("2 hosts, dist_sync", hosts),
    ):
        total = sum(speeds)
        print(
            f"{setup:<22} {len(speeds):>7} {total / len(speeds):>17.1f} {total:>12.1f} "
            f"{total / (len(speeds) * one):>10.2f}"
        )


if __name__ == "__main__":
    main()
