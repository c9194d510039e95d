"""``image-classifier quantize``: the int8 model of a model already trained, ours or the built-in algorithm's.

    image-classifier quantize MODEL_DIR --calibration CHANNEL_DIR [--images N]

It writes what training writes with quantize=int8 (model/quantize.py does both), beside the float32 files,
which stay: the newest params file quantized, calibrated on the first N images (default: the
quantize_calibration_images default) of CHANNEL_DIR. That folder is laid out as a validation channel is
(RecordIO, images with a .lst, or a manifest) and read by the same readers and checks (data/channels.py),
its labels checked against the model's classes. Each image goes through the model's own preprocessing, as
serving applies it: preprocessing.json, or the built-in's squash to model-shapes.json for its artifacts.
The int8 model runs only on CPUs, so a GPU host is refused; so is a folder that is not a model directory.
"""

import argparse
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import mxnet as mx
import numpy as np

from . import devices
from .data import channel_files, channels, manifest
from .data.items import IMAGE_SUFFIXES
from .data.record_set import RecordSet
from .data.spec import DataSpec
from .errors import UserError
from .hyperparameters import Hyperparameters
from .model import artifacts, graph, quantize
from .model.preprocessing import Preprocessing

CHANNEL_NAME = "calibration"  # how messages about the folder's files name it
BATCH_SIZE = 32
DEFAULT_IMAGES = next(field.default for field in fields(Hyperparameters) if field.name == "quantize_calibration_images")
CALIBRATION_SUFFIXES = (*IMAGE_SUFFIXES, ".rec", *manifest.SUFFIXES)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, help="a trained model directory (ours or the built-in algorithm's)")
    parser.add_argument(
        "--calibration",
        type=Path,
        required=True,
        metavar="CHANNEL_DIR",
        help="a folder laid out as a validation channel (RecordIO, images with a .lst, or a manifest)",
    )
    parser.add_argument(
        "--images",
        type=int,
        default=DEFAULT_IMAGES,
        metavar="N",
        help=f"how many images calibrate (default {DEFAULT_IMAGES})",
    )


def _check_model_dir(model_dir):
    if not model_dir.is_dir():
        raise UserError(f"{model_dir} is not a directory: give a model directory (unpack model.tar.gz)")
    missing = artifacts.missing_files(model_dir)
    if missing:
        raise UserError(
            f"{model_dir} is not a model directory: it lacks {', '.join(missing)}; give the folder that `train` "
            f"(or SageMaker's built-in image classification algorithm) wrote, unpacked from model.tar.gz"
        )


def _check_calibration_dir(channel_dir):
    if not channel_dir.is_dir():
        raise UserError(f"--calibration {channel_dir} is not a folder; give the folder of the calibration images")
    if not channel_files.listed(channel_dir, CALIBRATION_SUFFIXES):
        raise UserError(
            f"--calibration {channel_dir} holds no images: give a folder laid out as a validation channel, "
            f"RecordIO (.rec), images ({', '.join(IMAGE_SUFFIXES)}) with a .lst, or a manifest"
        )


def _spec(model_dir, preprocessing):
    """What the folder's labels and images must be: the model's classes, and images its preprocessing takes."""
    symbol = mx.sym.load(str(model_dir / artifacts.SYMBOL_FILE))
    num_classes = symbol.infer_shape(data=(1, *preprocessing.image_shape))[1][0][1]
    cropped = preprocessing.crop != "squash" and not preprocessing.resize
    return DataSpec(
        num_classes,
        graph.ends_in_sigmoid(symbol),
        min_size=preprocessing.image_shape[1:] if cropped else None,
        resize=preprocessing.resize,
    )


def _records(record_set: RecordSet) -> Iterator[bytes]:
    for rec_file in record_set.rec_files:
        reader = mx.recordio.MXRecordIO(str(rec_file), "r")
        try:
            while (record := reader.read()) is not None:
                yield mx.recordio.unpack(record)[1]
        finally:
            reader.close()


def calibration_batches(
    record_set: RecordSet, preprocessing: Preprocessing, num_images: int
) -> Iterator[mx.nd.NDArray]:
    """The first ``num_images`` images of ``record_set`` (all, if it holds fewer), preprocessed as serving
    preprocesses a request's image, in batches of BATCH_SIZE (the last one may be smaller)."""
    flag = 1 if preprocessing.image_shape[0] == 3 else 0  # RGB, or one channel
    batch = []
    for number, image in enumerate(_records(record_set)):
        if number == num_images:
            break
        batch.append(preprocessing.apply(mx.image.imdecode(image, flag=flag).asnumpy()))
        if len(batch) == BATCH_SIZE:
            yield mx.nd.array(np.stack(batch))
            batch = []
    if batch:
        yield mx.nd.array(np.stack(batch))


def quantize_trained(model_dir: Path, channel_dir: Path, num_images: int = DEFAULT_IMAGES) -> Path:
    """Write the int8 model of ``model_dir`` calibrated on ``channel_dir``'s images; returns the int8 params path."""
    model_dir, channel_dir = Path(model_dir), Path(channel_dir)
    if num_images < 1:
        raise UserError(f"--images {num_images}: give how many images calibrate, at least 1")
    num_gpus = devices.gpu_count()
    if num_gpus:
        raise UserError(
            f"image-classifier quantize runs on CPU hosts only (MXNet's int8 models are oneDNN's, which has no GPU "
            f"kernels) and this host has {num_gpus} GPU(s); run it on a CPU host, where the int8 model also serves"
        )
    _check_model_dir(model_dir)
    _check_calibration_dir(channel_dir)
    preprocessing = artifacts.read_preprocessing(model_dir)
    with tempfile.TemporaryDirectory(prefix="calibration-") as scratch_dir:
        record_set = channels.read_folder(channel_dir, CHANNEL_NAME, scratch_dir, _spec(model_dir, preprocessing))
        return quantize.quantize(model_dir, calibration_batches(record_set, preprocessing, num_images), num_images)


def run(args: argparse.Namespace) -> int:
    try:
        path = quantize_trained(args.model_dir, args.calibration, args.images)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path} and {path.with_name(artifacts.INT8_SYMBOL_FILE)}")
    return 0
