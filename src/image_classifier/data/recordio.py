"""The RecordIO layout: a channel's ``.rec`` files, scanned in place before training, then MXNet's ``ImageRecordIter``.

The scan reads each record (framing: recordio_framing.py) and its header, never decoding pixels, to count the
images, check labels and image sizes against the DataSpec, and write one index over all the channel's ``.rec``
files (MXNet's indexed reader accepts several ``.rec`` files joined with ';' but only one ``.idx``), which gives
record-level shuffling and sharding. Every other layout is packed into one scratch ``.rec`` (packing.py) and
read the same way.
"""

import array
import dataclasses
import io
import logging
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from mxnet import recordio
from PIL import Image, UnidentifiedImageError

from .. import image_ops, recordio_framing
from ..environment import Channel
from ..errors import UserError
from . import channel_files, image_headers
from . import class_names as names
from .record_set import RecordSet
from .spec import DataSpec

log = logging.getLogger(__name__)
READ_BUFFER = 1 << 20


def _invalid(display_name, what):
    return UserError(
        f"{display_name} is not a valid RecordIO file ({what}); re-create it with im2rec or 'image-classifier convert'"
    )


def _records(rec_file, display_name=None):
    """Yield (byte offset, header, image bytes) of every record in one .rec file, named ``display_name`` in errors."""
    display_name = display_name or rec_file
    with open(rec_file, "rb", buffering=READ_BUFFER) as stream:
        try:
            for number, (offset, record) in enumerate(recordio_framing.records(stream)):
                try:
                    header, image = recordio.unpack(record)
                except (ValueError, struct.error):
                    raise _invalid(
                        display_name, f"record {number} at byte {offset} is too short for its IRHeader"
                    ) from None
                yield offset, header, image
        except recordio_framing.FramingError as error:
            raise _invalid(display_name, error) from None


def check_image(image: bytes, where: str, spec: DataSpec) -> None:
    """The image must be one PIL can read, and at least the spec's ``min_size``."""
    known = image_headers.size(image)
    if known is not None:
        spec.check_size(known[1], known[0], where)
        return
    try:
        with Image.open(io.BytesIO(image)) as opened:  # reads the header only
            width, height = opened.size
    except (UnidentifiedImageError, OSError):
        raise UserError(
            f"{where} does not hold a JPEG or PNG image; re-create the file with im2rec or 'image-classifier convert'"
        ) from None
    spec.check_size(height, width, where)


def _class_names_from_lst(channel_dir, rec_file):
    """im2rec writes PREFIX.lst beside PREFIX.rec; a path's first folder names its label's class."""
    lst = rec_file.with_suffix(".lst")
    if not lst.exists():
        return {}
    pairs = []
    for line in channel_files.inside(channel_dir, lst).read_text(errors="replace").splitlines():
        fields = line.split("\t")
        if len(fields) != 3:
            return {}
        try:
            pairs.append((int(float(fields[1])), fields[2]))
        except ValueError:
            return {}
    return names.from_folders(pairs)


def scan_files(
    channel_name: str,
    rec_files: Sequence[Path],
    scratch_dir: str | Path,
    spec: DataSpec,
    display_name: str | None = None,
) -> RecordSet:
    """Read every record header of ``rec_files``, checked against ``spec``; write one index into ``scratch_dir``.

    ``display_name``: how errors name the one file when it is a copy (a Pipe-mode stream drained to scratch).
    """
    index_path = Path(scratch_dir) / f"{channel_name}.idx"
    labels = array.array("f")  # compact: 4 bytes a class id or multi-hot value, no Python object an image
    count, file_start = 0, 0
    with open(index_path, "w", buffering=READ_BUFFER) as index:
        for rec_file in rec_files:
            for number, (offset, header, image) in enumerate(_records(rec_file, display_name)):
                where = f"record {number} of {display_name or rec_file}"
                label = spec.record_label(header.label, where)
                if spec.multi_label:
                    labels.extend(label)
                else:
                    labels.append(label)
                check_image(image, where, spec)
                index.write(f"{count}\t{file_start + offset}\n")
                count += 1
            file_start += rec_file.stat().st_size
    if not count:
        raise UserError(f"The '{channel_name}' channel holds no records: its .rec files are empty")
    log.info("%s channel: %d images in %d .rec file(s)", channel_name, count, len(rec_files))
    values = np.frombuffer(labels, np.float32)
    labels = values.reshape(count, -1) if spec.multi_label else values.astype(np.int64)
    return RecordSet(channel_name, tuple(rec_files), index_path, labels, {})


def scan(channel: Channel, scratch_dir: str | Path, spec: DataSpec) -> RecordSet:
    """The RecordIO channel ``channel`` scanned (see scan_files), with the class names beside its files."""
    rec_files = tuple(channel_files.listed(channel.path, (".rec",)))
    if not rec_files:
        present = "is empty" if not any(channel.path.iterdir()) else "has no .rec file"
        raise UserError(
            f"The '{channel.name}' channel {present}: put RecordIO files (.rec) there, or make them from "
            f"images with 'image-classifier convert'"
        )
    record_set = scan_files(channel.name, rec_files, scratch_dir, spec)
    class_names = names.read_file(channel.path)
    if not class_names:
        for rec_file in rec_files:
            class_names.update(_class_names_from_lst(channel.path, rec_file))
    return dataclasses.replace(record_set, class_names=class_names)


def undecodable_image(record_set: RecordSet, error: Exception) -> UserError:
    """The UserError for an image ``ImageRecordIter`` failed to decode: the first record that does not decode.

    Only called once decoding has failed: decoding every image in the scan would cost a whole epoch.
    A packed set names the image's own entry (``wheres``) rather than the scratch file.
    """
    for rec_file in record_set.rec_files:
        for number, (_, _, image) in enumerate(_records(rec_file)):
            if image_ops.decode_rgb(image) is None:
                if record_set.wheres:
                    return UserError(
                        f"{record_set.wheres[number]}: the image cannot be decoded (corrupt or truncated); "
                        f"replace or remove it"
                    )
                return UserError(
                    f"record {number} of {rec_file} holds an image that cannot be decoded (corrupt or truncated); "
                    f"replace or remove that image and re-create the file"
                )
    return UserError(
        f"An image in the '{record_set.channel}' channel could not be decoded "
        f"({str(error).strip().splitlines()[-1][:200]}); check the channel's images"
    )
