"""Options in the X-Amzn-SageMaker-Custom-Attributes header: ``key=value`` pairs separated by ',' or ';'.

    top_k=K   also name the K most probable classes (names from classes.json; the index otherwise)

Other keys are left alone: the header is shared with whatever else sits between client and model.
"""

import re
from dataclasses import dataclass

from .errors import BadRequest

HEADER = "X-Amzn-SageMaker-Custom-Attributes"


@dataclass(frozen=True)
class Options:
    top_k: int | None = None


def _pairs(header_value):
    for item in re.split(r"[,;]", header_value or ""):
        key, _, value = item.partition("=")
        if key.strip():
            yield key.strip().lower(), value.strip()


def _top_k(value, num_classes):
    try:  # digits only; int() still refuses more digits than sys.get_int_max_str_digits() allows
        top_k = int(value) if re.fullmatch("[0-9]+", value) else None
    except ValueError:
        top_k = None
    if top_k is None or not 1 <= top_k <= num_classes:
        quoted = value if len(value) <= 20 else f"{value[:20]}... ({len(value)} characters)"
        raise BadRequest(f"top_k in {HEADER} must be a whole number from 1 to {num_classes}, not '{quoted}'")
    return top_k


def parse(header_value: str, num_classes: int) -> Options:
    options = {}
    for key, value in _pairs(header_value):
        if key == "top_k":
            options["top_k"] = _top_k(value, num_classes)
    return Options(**options)
