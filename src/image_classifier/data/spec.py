"""``DataSpec``: what every label and image of a channel must be, and the checks that hold them to it.

One frozen object from the hyperparameters (``num_classes``, ``multi_label``, and from ``image_shape`` and
``resize`` the smallest image and the shorter side to pack to) goes to every layout reader and to packing.
Labels are checked here whatever their source: text from a ``.lst``, JSON from an annotation or a manifest,
or the float header of a RecordIO record; and so is the minimum image size, for records and packed images.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..hyperparameters import Hyperparameters


def _is_class_id(number, num_classes):
    return math.isfinite(number) and number == int(number) and 0 <= number < num_classes


def _is_multi_hot(row, num_classes):
    return len(row) == num_classes and np.isin(row, (0.0, 1.0)).all()


def _number(text, where):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UserError(f"{where}: label '{text}' is not a number; write class ids as integers such as 3") from None
    if not math.isfinite(value):
        raise UserError(f"{where}: label '{text}' is not a finite number; write class ids as integers such as 3")
    return value


@dataclass(frozen=True)
class DataSpec:
    num_classes: int
    multi_label: bool = False
    min_size: tuple | None = None  # (height, width) an image must reach, as it is cropped unresized; None: any
    resize: int | None = None  # packing brings a larger shorter side down to this; None: images kept as they are

    @classmethod
    def from_hyperparameters(cls, hp: Hyperparameters) -> "DataSpec":
        min_size = None if hp.resize else hp.image_shape[1:]
        return cls(hp.num_classes, hp.multi_label, min_size, hp.resize)

    def class_id(self, value: object, where: str) -> int:
        """A class id from ``value`` (3, "3", "3.000000"), in 0..num_classes-1."""
        if isinstance(value, bool):
            raise UserError(
                f"{where}: label {value} is not a class id; write an integer from 0 to {self.num_classes - 1}"
            )
        number = _number(value, where)
        if not _is_class_id(number, self.num_classes):
            raise UserError(
                f"{where}: label {value} is not a class id from 0 to {self.num_classes - 1}; fix the label or raise "
                f"num_classes"
            )
        return int(number)

    def multi_hot(self, values: Sequence[object], where: str) -> np.ndarray:
        """A multi-hot row from ``num_classes`` values, each 0 or 1."""
        if len(values) != self.num_classes:
            raise UserError(
                f"{where}: {len(values)} labels, but multi_label=1 with num_classes={self.num_classes} needs "
                f"{self.num_classes} multi-hot values (0 or 1, one per class); fix the line or num_classes"
            )
        row = np.array([_number(value, where) for value in values], np.float32)
        if not _is_multi_hot(row, self.num_classes):
            raise UserError(
                f"{where}: multi-hot labels must each be 0 or 1, not {[f'{v:g}' for v in row]}; fix the line"
            )
        return row

    def from_class_ids(self, values: Iterable[object], where: str) -> np.ndarray:
        """A multi-hot row from a list of class ids."""
        row = np.zeros(self.num_classes, np.float32)
        for value in values:
            row[self.class_id(value, where)] = 1.0
        return row

    def record_label(self, label: float | np.ndarray, where: str) -> int | np.ndarray:
        """The label of a RecordIO record's header (a float, or ``flag`` floats): a class id or a multi-hot row."""
        values = np.atleast_1d(np.asarray(label, dtype=np.float32))
        if self.multi_label:
            if not _is_multi_hot(values, self.num_classes):
                raise UserError(
                    f"{where} has label {values.tolist()}, but multi_label=1 needs {self.num_classes} multi-hot "
                    f"values (0 or 1, one per class); pack the records with num_classes labels each"
                )
            return values
        if not _is_class_id(values[0], self.num_classes):
            raise UserError(
                f"{where} has label {values[0]:g}, which is not a class id from 0 to {self.num_classes - 1}; "
                f"fix the label or raise num_classes"
            )
        return int(values[0])

    def check_size(self, height: int, width: int, where: str) -> None:
        """An image kept at ``height`` x ``width`` must be at least ``min_size`` to be cropped to image_shape."""
        if self.min_size and (height < self.min_size[0] or width < self.min_size[1]):
            raise UserError(
                f"{where} is {height}x{width} pixels, smaller than image_shape "
                f"{self.min_size[0]}x{self.min_size[1]}; set resize={max(self.min_size)} or lower image_shape"
            )
