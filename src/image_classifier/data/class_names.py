"""Class names (class id -> name) as the data gives them, for the model's classes.json.

Sources: a ``classes.json`` beside the data (as ``image-classifier convert`` writes it, the model's format),
the first folder of image paths (``cat/001.jpg``, as im2rec lists a folder of class folders), JSON
annotations' ``categories`` and manifest metadata (``class-name``, ``class-map``).
"""

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import UserError
from . import channel_files

FILE_NAME = "classes.json"


def read_file(directory: str | Path) -> dict[int, str]:
    """The names in ``directory/classes.json``, or {} when there is none."""
    path = Path(directory) / FILE_NAME
    if not path.is_file():
        return {}
    try:
        names = json.loads(channel_files.inside(directory, path).read_text(encoding="utf-8"))
        return {int(label): str(name) for label, name in names.items()}
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, ValueError) as error:
        raise UserError(
            f'{path} is not a JSON object of class ids to names ({error}); write it as {{"0": "cat", ...}} or remove it'
        ) from None


def write_file(directory: str | Path, names: Mapping[int, str]) -> None:
    text = json.dumps({str(label): name for label, name in sorted(names.items())}, indent=1)
    (Path(directory) / FILE_NAME).write_text(text + "\n", encoding="utf-8")


def from_folders(pairs: Iterable[tuple[int, str | Path]]) -> dict[int, str]:
    """Names from (class id, relative image path) pairs when every path starts with its class's own folder."""
    names = {}
    for label, path in pairs:
        parts = str(path).replace("\\", "/").split("/")
        if len(parts) < 2 or names.setdefault(label, parts[0]) != parts[0]:
            return {}
    return names if len(set(names.values())) == len(names) else {}


class Collector:
    """Names met entry by entry (annotations, manifest lines); one class id may not get two names."""

    def __init__(self):
        self.names = {}
        self.first_seen = {}

    def add(self, label: int, name: object, where: str) -> None:
        name = str(name)
        known = self.names.setdefault(label, name)
        self.first_seen.setdefault(label, where)
        if known != name:
            raise UserError(
                f"{where}: class {label} is named '{name}' here but '{known}' in {self.first_seen[label]}; "
                f"give each class id one name"
            )
