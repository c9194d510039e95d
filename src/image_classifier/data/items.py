"""One image to pack into RecordIO (``Item``), and where an entry's image may be (``image_in``).

Each layout (``.lst``, JSON annotations, manifests, class folders, the Pipe-mode manifest stream) reads its
files into Items; ``Item.where`` is how an error names the entry ("line 12 of /opt/ml/.../train.lst"), so
every message points at the line or file to fix.
"""

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import UserError
from . import channel_files

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Item:
    where: str  # how errors name this entry: "line 12 of /opt/ml/input/data/train_lst/train.lst"
    source: Path | str | bytes  # a local Path, an "s3://bucket/key" string, or the image's bytes
    label: int | np.ndarray  # a class id (int), or a multi-hot row (float32 array of num_classes values)


def image_in(root: str | Path, relative: str | Path, where: str) -> Path:
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
