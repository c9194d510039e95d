"""``image-classifier convert``: images with their labels to RecordIO channels, ready to upload.

    image-classifier convert IMAGES OUT_DIR [--lst FILE | --annotations DIR | --manifest FILE]
                             [--num-classes N] [--multi-label] [--validation-fraction 0.2] [--seed 0] [--resize N]

Labels come from one sub-folder of IMAGES per class (the default; classes numbered in sorted order of the
folder names, as im2rec does), a ``.lst``, a folder of JSON annotations, or an augmented manifest (paths
relative to IMAGES; ``s3://`` images are fetched). It writes ``OUT_DIR/train/train.{rec,idx,lst}`` and, with
a validation fraction, ``OUT_DIR/validation/validation.{rec,idx,lst}`` (a seeded random split; 1 converts every
image into validation/ alone, for a folder that already is a validation set), each with
``classes.json`` when the class names are known. Upload OUT_DIR/train and OUT_DIR/validation as the
``train`` and ``validation`` channels (content type application/x-recordio).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from ..errors import UserError
from . import annotations, class_names, lst, manifest, packing
from .items import IMAGE_SUFFIXES, Item
from .spec import DataSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", type=Path, help="the image folder (the root of the paths the labels give)")
    parser.add_argument("out_dir", type=Path, help="where train/ and validation/ are written")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--lst", type=Path, help="an im2rec-style .lst (index, label(s), path)")
    source.add_argument("--annotations", type=Path, help="a folder of object-detection JSON annotations")
    source.add_argument("--manifest", type=Path, help="an augmented manifest (JSON Lines)")
    parser.add_argument("--num-classes", type=int, help="the number of classes (needed but for class folders)")
    parser.add_argument("--multi-label", action="store_true", help="multi-hot labels (several classes an image)")
    parser.add_argument(
        "--attribute-names", default="", help="the manifest's image and label attributes, such as source-ref,class"
    )
    parser.add_argument(
        "--label-format",
        default="",
        choices=(manifest.CLASS_IDS,),
        help="class-id: multi-label manifest labels are lists of class ids (default: multi-hot)",
    )
    parser.add_argument(
        "--validation-fraction", type=float, default=0.0, help="share of images for validation/ (1: all, no train/)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random train/validation split")
    parser.add_argument("--resize", type=int, help="bring every image's shorter side down to this many pixels")


def _class_folders(images):
    """Items from IMAGES/<class>/**/<image>, classes numbered by sorted folder name."""
    folders = sorted(path for path in images.iterdir() if path.is_dir())
    if not folders:
        raise UserError(f"{images} has no class sub-folders; give --lst, --annotations or --manifest for other layouts")
    entries = []
    for label, folder in enumerate(folders):
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                entries.append(Item(str(path), path, label))
    if not entries:
        raise UserError(f"The class folders of {images} hold no .jpg, .jpeg or .png images")
    return entries, {label: folder.name for label, folder in enumerate(folders)}


def _read(args):
    """(entries, class names, the DataSpec they were read with and are packed with)."""
    if not args.images.is_dir():
        raise UserError(f"{args.images} is not a folder; give the folder that holds the images")
    if not (args.lst or args.annotations or args.manifest):
        entries, names = _class_folders(args.images)
        return entries, names, DataSpec(len(names), resize=args.resize)
    if not args.num_classes or args.num_classes < 2:
        raise UserError("--num-classes (at least 2) is needed with --lst, --annotations or --manifest")
    spec = DataSpec(args.num_classes, args.multi_label, resize=args.resize)
    if args.lst:
        return (*lst.read(args.lst, args.images, spec), spec)
    if args.annotations:
        return (*annotations.read(args.annotations, args.images, spec), spec)
    names = tuple(name.strip() for name in args.attribute_names.split(",") if name.strip())
    return (*manifest.read(args.manifest, args.images, names, spec, args.label_format), spec)


def _split(entries, fraction, seed):
    """A seeded random split; fraction 1 puts every image in validation (a folder that is a validation set)."""
    if not 0.0 <= fraction <= 1.0:
        raise UserError(
            f"--validation-fraction {fraction} is not in [0, 1]; give the share of images for validation "
            f"(1: all of them, for a folder that is already the validation set)"
        )
    order = np.random.default_rng(seed).permutation(len(entries))
    count = round(len(entries) * fraction)
    validation = sorted(order[:count])
    train = sorted(order[count:])
    if 0.0 < fraction < 1.0 and not (validation and train):
        raise UserError(
            f"{len(entries)} images cannot be split {1 - fraction:g}/{fraction:g}; add images or change "
            f"--validation-fraction"
        )
    return {"train": [entries[i] for i in train], "validation": [entries[i] for i in validation]}


def run(args: argparse.Namespace) -> int:
    try:
        _convert(args)
    except UserError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _convert(args):
    entries, names, spec = _read(args)
    for channel, chosen in _split(entries, args.validation_fraction, args.seed).items():
        if not chosen:
            continue
        channel_dir = args.out_dir / channel
        channel_dir.mkdir(parents=True, exist_ok=True)
        prefix = channel_dir / channel
        packing.pack(chosen, prefix.with_suffix(".rec"), prefix.with_suffix(".idx"), spec, what=channel)
        lst.write(prefix.with_suffix(".lst"), chosen, args.images)
        if names:
            class_names.write_file(channel_dir, names)
        print(f"{channel}: {len(chosen)} images -> {prefix}.rec")
