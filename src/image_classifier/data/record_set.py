"""``RecordSet``: what every layout of a channel becomes, one or more ``.rec`` files and one index over them.

The RecordIO reader (recordio.py) scans ``.rec`` files in place; every other layout is packed into one scratch
``.rec`` (packing.py). Either way training reads the set through ``ImageRecordIter`` (iterators.py).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class RecordSet:
    """What a RecordIO channel holds, learnt from one pass over its records."""

    channel: str
    rec_files: tuple[Path, ...]
    index_path: Path
    labels: np.ndarray  # (count,) class ids, or (count, num_classes) multi-hot for multi-label
    class_names: dict[int, str]  # from the data (classes.json, .lst folders, categories, metadata); may be empty
    wheres: tuple[str, ...] = ()  # for packed sets: each image's Item.where ("line 3 of train.lst")

    @property
    def count(self) -> int:
        return len(self.labels)

    @property
    def path_imgrec(self) -> str:
        return ";".join(str(path) for path in self.rec_files)
