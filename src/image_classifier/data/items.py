"""One image to pack into RecordIO (``Item``), and the checks every image layout applies to its entries.

Each layout (``.lst``, JSON annotations, manifests, class folders, the Pipe-mode manifest stream) reads its
files into Items; ``Item.where`` is how an error names the entry ("line 12 of /opt/ml/.../train.lst"), so
every message points at the line or file to fix.
"""

import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import UserError
from . import channel_files

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Item:
    where: str  # how errors name this entry: "line 12 of /opt/ml/input/data/train_lst/train.lst"
    source: object  # a local Path, an "s3://bucket/key" string, or the image's bytes
    label: object  # a class id (int), or a multi-hot row (float32 array of num_classes values)


def _number(text, where, what):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UserError(f"{where}: {what} '{text}' is not a number; write class ids as integers such as 3") from None
    if not math.isfinite(value):
        raise UserError(f"{where}: {what} '{text}' is not a finite number; write class ids as integers such as 3")
    return value


def class_id(value, num_classes, where):
    """A class id from ``value`` (3, "3", "3.000000"), in 0..num_classes-1."""
    if isinstance(value, bool):
        raise UserError(f"{where}: label {value} is not a class id; write an integer from 0 to {num_classes - 1}")
    number = _number(value, where, "label")
    if number != int(number) or not 0 <= number < num_classes:
        raise UserError(
            f"{where}: label {value} is not a class id from 0 to {num_classes - 1}; fix the label or raise num_classes"
        )
    return int(number)


def multi_hot(values, num_classes, where):
    """A multi-hot row from ``num_classes`` values, each 0 or 1."""
    if len(values) != num_classes:
        raise UserError(
            f"{where}: {len(values)} labels, but multi_label=1 with num_classes={num_classes} needs {num_classes} "
            f"multi-hot values (0 or 1, one per class); fix the line or num_classes"
        )
    row = np.array([_number(value, where, "label") for value in values], np.float32)
    if not np.isin(row, (0.0, 1.0)).all():
        raise UserError(f"{where}: multi-hot labels must each be 0 or 1, not {[f'{v:g}' for v in row]}; fix the line")
    return row


def from_class_ids(values, num_classes, where):
    """A multi-hot row from a list of class ids."""
    row = np.zeros(num_classes, np.float32)
    for value in values:
        row[class_id(value, num_classes, where)] = 1.0
    return row


def image_in(root, relative, where):
    """``root / relative`` for an image path that must stay inside ``root`` and exist there."""
    text = str(relative).strip()
    if not text:
        raise UserError(f"{where}: the image path is empty; write the image's path relative to {root}")
    pure = PurePosixPath(text.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        raise UserError(
            f"{where}: image path '{relative}' leaves the channel directory; write paths relative to {root}, "
            f"without '..' or a leading '/'"
        )
    path = Path(root) / pure
    if not path.is_file():
        raise UserError(f"{where}: image file {path} does not exist; add it or remove the entry")
    return channel_files.inside(root, path, where)
