"""Options in the X-Amzn-SageMaker-Custom-Attributes header: ``key=value`` pairs separated by ',' or ';'.

    top_k=K   also name the K most probable classes (names from classes.json; the index otherwise)

Other keys are left alone: the header is shared with whatever else sits between client and model.
"""
import re
from dataclasses import dataclass
from typing import Optional

from .errors import BadRequest

HEADER = "X-Amzn-SageMaker-Custom-Attributes"


@dataclass(frozen=True)
class Options:
    top_k: Optional[int] = None


def _pairs(header_value):
    for item in re.split(r"[,;]", header_value or ""):
        key, _, value = item.partition("=")
        if key.strip():
            yield key.strip().lower(), value.strip()


def parse(header_value, num_classes):
    options = {}
    for key, value in _pairs(header_value):
        if key == "top_k":
            if not re.fullmatch("[0-9]+", value) or not 1 <= int(value) <= num_classes:
                raise BadRequest(f"top_k in {HEADER} must be a whole number from 1 to {num_classes}, not '{value}'")
            options["top_k"] = int(value)
    return Options(**options)
