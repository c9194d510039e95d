"""A small procedural data set (coloured shapes in four classes) written as SageMaker would mount it.

    python -m image_classifier.demo_data OUT_DIR [--num-train 800] [--num-validation 200] [--size 32]

writes OUT_DIR/input/data/{train,validation}/ as RecordIO (.rec, .idx and the im2rec-style .lst that
names the classes) and OUT_DIR/input/config/*.json, ready for ``SAGEMAKER_BASE_DIR=OUT_DIR train``.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .environment import Paths

CLASS_NAMES = ("circle", "square", "triangle", "cross")
NUM_CLASSES = len(CLASS_NAMES)


def _distinct_colours(rng):
    background = rng.integers(0, 256, size=3)
    foreground = rng.integers(0, 256, size=3)
    while np.abs(foreground - background).sum() < 200:
        foreground = rng.integers(0, 256, size=3)
    return [int(c) for c in background], [int(c) for c in foreground]


def render(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One RGB uint8 image of class ``label``: a shape of random colour, place and size, with noise."""
    background, foreground = _distinct_colours(rng)
    image = Image.new("RGB", (size, size), tuple(background))
    draw = ImageDraw.Draw(image)
    radius = int(rng.uniform(0.2, 0.4) * size)
    cx, cy = (int(rng.uniform(radius, size - radius)) for _ in range(2))
    colour = tuple(foreground)
    name = CLASS_NAMES[label]
    if name == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    elif name == "square":
        draw.rectangle((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    elif name == "triangle":
        draw.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=colour)
    else:
        bar = max(1, radius // 3)
        draw.rectangle((cx - radius, cy - bar, cx + radius, cy + bar), fill=colour)
        draw.rectangle((cx - bar, cy - radius, cx + bar, cy + radius), fill=colour)
    noise = rng.normal(0, 8, (size, size, 3))
    return np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8)


def samples(count: int, size: int, seed: int, num_classes: int = NUM_CLASSES) -> list[tuple[int, np.ndarray]]:
    """``count`` (label, image) pairs, classes in turn, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [(index % num_classes, render(index % num_classes, size, rng)) for index in range(count)]


def write_recordio(prefix: Path, pairs: list[tuple[int, np.ndarray]]) -> None:
    """Write prefix.rec and prefix.idx (PNG images, packed as any image layout is) and the im2rec-style prefix.lst."""
    from .data import packing  # MXNet loads only when RecordIO is written
    from .data.items import Item
    from .data.spec import DataSpec
    from .image_ops import encode

    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    entries = [Item(f"image {index}", encode(image, "PNG"), label) for index, (label, image) in enumerate(pairs)]
    packing.pack(entries, Path(f"{prefix}.rec"), Path(f"{prefix}.idx"), DataSpec(NUM_CLASSES), what=str(prefix))
    lines = [f"{i}\t{float(item.label):.6f}\t{CLASS_NAMES[item.label]}/{i:06d}.png\n" for i, item in enumerate(entries)]
    Path(f"{prefix}.lst").write_text("".join(lines))


def write_job(
    base_dir: Path,
    num_train: int = 800,
    num_validation: int = 200,
    size: int = 32,
    seed: int = 0,
    **hyperparameters: object,
) -> Path:
    """A complete /opt/ml tree: RecordIO channels and the three config files."""
    base_dir = Path(base_dir)
    paths = Paths(base_dir)
    data_dir = paths.data_dir
    write_recordio(data_dir / "train" / "train", samples(num_train, size, seed))
    write_recordio(data_dir / "validation" / "validation", samples(num_validation, size, seed + 1))
    config = {
        "num_classes": len(CLASS_NAMES),
        "num_training_samples": num_train,
        "num_layers": 20,
        "image_shape": f"3,{size},{size}",
        "epochs": 5,
        "mini_batch_size": 32,
        "optimizer": "adam",
        "learning_rate": 0.002,
        "lr_scheduler_step": "4",
        "seed": 1,
    }
    config.update(hyperparameters)
    channel = {
        "ContentType": "application/x-recordio",
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
    }
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.hyperparameters_file.write_text(json.dumps({k: str(v) for k, v in config.items()}, indent=1))
    paths.input_data_config_file.write_text(json.dumps({"train": channel, "validation": channel}, indent=1))
    paths.resource_config_file.write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}, indent=1)
    )
    return base_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir")
    parser.add_argument("--num-train", type=int, default=800)
    parser.add_argument("--num-validation", type=int, default=200)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a hyperparameter in hyperparameters.json",
    )


def run(args: argparse.Namespace) -> int:
    overrides = dict(item.split("=", 1) for item in args.set)
    write_job(args.out_dir, args.num_train, args.num_validation, args.size, args.seed, **overrides)
    print(f"demo data set written to {args.out_dir}")
    return 0


if __name__ == "__main__":
    from . import libraries

    libraries.before_mxnet()  # write_job imports MXNet
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
