"""Per-image JSON annotations in the object-detection layout, read as image classification labels.

One ``NAME.json`` per image, in the annotation channel::

    {"file": "NAME.jpg", "image_size": [{"width": 500, "height": 400, "depth": 3}],
     "annotations": [{"class_id": 0, "left": 10, "top": 20, "width": 100, "height": 80}],
     "categories": [{"class_id": 0, "name": "cat"}]}

``file`` is relative to the image channel. The image's class is its annotations' ``class_id`` (several
distinct ids need multi_label=1, and then all of them are its labels); ``categories`` names the classes.
Errors name the JSON file and, for invalid JSON, the line; for a wrong value, the key (``annotations[2].class_id``).
"""

import json
import logging
from pathlib import Path

from ..errors import UserError
from . import channel_files, class_names, items
from .items import IMAGE_SUFFIXES, Item
from .spec import DataSpec

log = logging.getLogger(__name__)


def _load(json_path):
    try:
        document = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(
            f"line {error.lineno} of {json_path}: not valid JSON ({error.msg}, column {error.colno}); fix the file"
        ) from None
    except UnicodeDecodeError as error:
        raise UserError(f"{json_path} is not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise UserError(f"{json_path} holds a JSON {kind}, not an object; see the layouts in docs/training.md")
    return document


def _class_ids(document, json_path, spec):
    annotations = document.get("annotations")
    if not isinstance(annotations, list) or not annotations:
        raise UserError(
            f'{json_path}: "annotations" must be a non-empty list of objects with a class_id; add the image\'s class'
        )
    ids = []
    for number, annotation in enumerate(annotations):
        where = f"{json_path}, annotations[{number}].class_id"
        if not isinstance(annotation, dict) or "class_id" not in annotation:
            raise UserError(f"{where} is missing; give every annotation a class_id")
        ids.append(spec.class_id(annotation["class_id"], where))
    return ids


def _label(ids, json_path, spec):
    if spec.multi_label:
        return spec.from_class_ids(ids, json_path)
    if len(set(ids)) > 1:
        raise UserError(
            f"{json_path}: annotations name classes {sorted(set(ids))} but multi_label is 0; keep one class per image "
            f"or set multi_label=1"
        )
    return ids[0]


def _categories(document, json_path, collector):
    categories = document.get("categories", [])
    if not isinstance(categories, list):
        raise UserError(f'{json_path}: "categories" must be a list of {{"class_id": 0, "name": "cat"}}')
    for number, category in enumerate(categories):
        where = f"{json_path}, categories[{number}]"
        if not isinstance(category, dict) or "class_id" not in category or "name" not in category:
            raise UserError(f'{where} needs a class_id and a name, such as {{"class_id": 0, "name": "cat"}}')
        try:
            label = int(category["class_id"])
        except (TypeError, ValueError):
            raise UserError(f"{where}: class_id {category['class_id']!r} is not an integer") from None
        collector.add(label, category["name"], json_path)


def read(annotation_dir: Path, image_root: Path, spec: DataSpec) -> tuple[list[Item], dict[int, str]]:
    """The annotated images as Items (in the order of the JSON files' paths), and the categories' names."""
    json_paths = channel_files.listed(annotation_dir, (".json",))
    if not json_paths:
        raise UserError(
            f"The annotation channel {annotation_dir} holds no .json files; add one NAME.json per image NAME.jpg"
        )
    entries, annotated_by, collector = [], {}, class_names.Collector()
    for json_path in json_paths:
        document = _load(json_path)
        if not isinstance(document.get("file"), str):
            raise UserError(f'{json_path}: "file" naming the image is missing; add "file": "NAME.jpg"')
        path = items.image_in(image_root, document["file"], str(json_path))
        if path in annotated_by:
            raise UserError(
                f"{json_path}: image {path} is also annotated by {annotated_by[path]}; keep one annotation file "
                f"per image"
            )
        annotated_by[path] = json_path
        label = _label(_class_ids(document, json_path, spec), json_path, spec)
        _categories(document, json_path, collector)
        entries.append(Item(str(json_path), path, label))
    images = sum(1 for path in image_root.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)
    if images > len(entries):
        log.warning("%d images in %s have no annotation and are left out", images - len(entries), image_root)
    return entries, collector.names
