"""Augmented manifests (JSON Lines, as SageMaker Ground Truth writes them): File-mode lines, Pipe-mode records.

One image a line::

    {"source-ref": "s3://bucket/cats/1.jpg", "class": 3, "class-metadata": {"class-name": "cat"}}

``AttributeNames`` (from inputdataconfig; default: ``source-ref`` and the line's one other attribute that
is not metadata) names the image's ``-ref`` attribute first and the label second. A ``source-ref`` is an
``s3://`` URI, fetched while packing, or a path relative to the channel. Labels: a class id (``3``, ``"3"``);
with multi_label=1 a JSON array, multi-hot by default or class ids with ``label-format=class-id`` in the
channel's content type (Ground Truth's multi-label output). Class names come from ``<label>-metadata``:
``class-name`` for single-label lines, ``class-map`` for multi-label ones.

In Pipe mode (``RecordWrapperType`` RecordIO) SageMaker streams each line as RecordIO records, one per
AttributeNames entry: the image's bytes, the label as JSON text, then any further attribute (``stream_items``).
"""

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ..errors import UserError
from . import class_names, items
from .items import Item
from .spec import DataSpec

SUFFIXES = (".manifest", ".jsonl")
CLASS_IDS = "class-id"


def _decoded(value):
    """A label value that is JSON text ("3", "[0, 2]", as the Pipe stream and some tools write it) decoded."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _label(value, spec, label_format, where):
    value = _decoded(value)
    if not spec.multi_label:
        if isinstance(value, list):
            raise UserError(f"{where}: the label {value} is a list; set multi_label=1 for multi-label manifests")
        return spec.class_id(value, where)
    if not isinstance(value, list):
        raise UserError(f"{where}: with multi_label=1 the label must be a JSON array, not {value!r}")
    if label_format == CLASS_IDS:
        return spec.from_class_ids(value, where)
    if len(value) != spec.num_classes:
        raise UserError(
            f"{where}: {len(value)} labels where num_classes={spec.num_classes} multi-hot values are needed; for lists "
            f"of class ids add '; label-format=class-id' to the channel's content type"
        )
    return spec.multi_hot(value, where)


def _collect_names(metadata, value, collector, where):
    """Class names from a ``<label>-metadata`` object: ``class-map`` ({"0": "cat"}) or ``class-name``."""
    if not isinstance(metadata, dict):
        return
    class_map = metadata.get("class-map")
    if isinstance(class_map, dict):
        for key, name in class_map.items():
            try:
                collector.add(int(key), name, where)
            except ValueError:
                raise UserError(f'{where}: class-map key \'{key}\' is not a class id; use {{"0": "cat"}}') from None
    elif "class-name" in metadata and not hasattr(value, "__len__"):
        collector.add(value, metadata["class-name"], where)


def _attribute_names(configured, document, where):
    """(image attribute, label attribute): ``configured`` (AttributeNames), or what ``document`` shows."""
    if configured:
        if len(configured) < 2 or not configured[0].endswith("-ref"):
            raise UserError(
                f"AttributeNames {list(configured)} must list the image's '-ref' attribute (such as 'source-ref') "
                f"first and the label attribute second; fix the channel's AttributeNames"
            )
        return configured[0], configured[1]
    others = [key for key in document if key != "source-ref" and not key.endswith("-metadata")]
    if "source-ref" not in document or len(others) != 1:
        raise UserError(
            f"{where}: cannot tell the image and label attributes apart among {list(document)}; set the channel's "
            f"AttributeNames, such as ['source-ref', 'class']"
        )
    return "source-ref", others[0]


def _line(text, where):
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(
            f"{where}: not valid JSON ({error.msg}, column {error.colno}); write one JSON object a line"
        ) from None
    if not isinstance(document, dict):
        raise UserError(f"{where}: a JSON {type(document).__name__}, not an object; one JSON object a line")
    return document


def _source(reference, channel_dir, where):
    if not isinstance(reference, str):
        raise UserError(f"{where}: the image reference {reference!r} is not a string; write an s3:// URI or a path")
    return reference if reference.startswith("s3://") else items.image_in(channel_dir, reference, where)


def read(
    manifest_path: Path,
    channel_dir: Path,
    configured_names: Sequence[str] | None,
    spec: DataSpec,
    label_format: str = "",
) -> tuple[list[Item], dict[int, str]]:
    """The manifest's lines as Items, and the class names its metadata gives."""
    entries, collector, names = [], class_names.Collector(), None
    try:
        lines = manifest_path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise UserError(f"{manifest_path} is not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        where = f"line {number} of {manifest_path}"
        document = _line(text, where)
        image_name, label_name = names or _attribute_names(configured_names, document, where)
        names = image_name, label_name
        for attribute in names:
            if attribute not in document:
                raise UserError(f"{where}: no '{attribute}' attribute; add it, or fix the channel's AttributeNames")
        value = _label(document[label_name], spec, label_format, where)
        _collect_names(document.get(f"{label_name}-metadata"), value, collector, where)
        entries.append(Item(where, _source(document[image_name], channel_dir, where), value))
    if not entries:
        raise UserError(f"{manifest_path} has no lines; write one JSON object per image")
    return entries, collector.names


def _label_text(data, where, attribute_names):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(
            f"{where} is {len(data)} bytes of binary data, not label text; the stream must repeat the records of "
            f"AttributeNames {list(attribute_names)} (image, then label) for every image"
        ) from None


def stream_items(
    payloads: Iterable[bytes],
    display_name: str,
    configured_names: Sequence[str] | None,
    spec: DataSpec,
    label_format: str,
    collector: class_names.Collector,
) -> Iterator[Item]:
    """Items from the records of a Pipe-mode manifest stream (``display_name`` in errors), names into ``collector``.

    The records come in groups of one per AttributeNames entry: the image's bytes first, its label second.
    """
    attribute_names = configured_names or ("source-ref", "class")
    if len(attribute_names) < 2:
        raise UserError(
            f"AttributeNames {list(attribute_names)} names no label; list the image attribute, then the label "
            f"attribute, such as ['source-ref', 'class']"
        )
    metadata_name = f"{attribute_names[1]}-metadata"
    group = []
    for number, payload in enumerate(payloads):
        group.append(payload)
        if len(group) < len(attribute_names):
            continue
        image_number = number // len(attribute_names)
        first = number - len(attribute_names) + 1
        where = f"record {first + 1} (the label of image {image_number}) of {display_name}"
        text = _label_text(group[1], where, attribute_names)
        value = _label(text, spec, label_format, where)
        for position, (name, data) in enumerate(zip(attribute_names, group)):
            if name == metadata_name:
                text = _label_text(data, f"record {first + position} of {display_name}", attribute_names)
                _collect_names(_decoded(text), value, collector, where)
        yield Item(f"image {image_number} (record {first}) of {display_name}", group[0], value)
        group = []
    if group:
        raise UserError(
            f"{display_name} ends after {len(group)} of the {len(attribute_names)} records of an image; every image "
            f"needs one record per AttributeNames entry {list(attribute_names)}"
        )
