"""Pipe mode: a channel streamed through the FIFOs ``/opt/ml/input/data/<channel>_0``, ``<channel>_1``, ...

SageMaker writes epoch N's copy of the channel into ``<channel>_N``. We drain ``<channel>_0`` once, at start,
into the scratch directory and train every epoch from that copy, through ``ImageRecordIter`` and a record
index exactly as in File mode: record-level shuffling and sharding, the image count known before the first
batch (so num_training_samples and the schedule are checked), and every epoch reading the same images.

* RecordIO (``RecordWrapperType`` None): the stream is the channel's ``.rec`` files back to back; it is
  copied byte for byte into ``<channel>.rec`` and scanned like a File-mode channel.
* Augmented manifest (``RecordWrapperType`` RecordIO): the stream is RecordIO records, one per entry of
  ``AttributeNames`` and image: the image's bytes, then its label as text (``3``, ``[0, 1, 1]``), then any
  further attribute (a ``<label>-metadata`` one names the classes). The images are packed into
  ``<channel>.rec`` as File-mode images are (packing.py), while the stream is read.

The later FIFOs are never opened. A FIFO's writer blocks until a reader opens it, so SageMaker transfers
nothing into ``<channel>_1`` and beyond, and the job does not depend on them. The price of this design: the
scratch directory (the container's /tmp) must hold one copy of the channel; a data set larger than that disk
needs a larger volume, or File mode.
"""

import shutil

from .. import recordio_framing
from ..errors import UserError
from . import class_names, manifest, packing, recordio
from .items import Item
from .record_set import RecordSet

IMAGE_CONTENT_TYPES = ("application/x-image", "image/jpeg", "image/png")


def first_fifo(channel):
    return channel.path.with_name(f"{channel.name}_0")


def records(stream, shown):
    """The payloads of the RecordIO records in ``stream`` (named ``shown`` in errors), in order."""
    try:
        for _offset, payload in recordio_framing.records(stream):
            yield payload
    except recordio_framing.FramingError as error:
        if error.problem in recordio_framing.CUT_SHORT:
            raise UserError(
                f"{shown} ends inside record {error.number}; the stream was cut short, start the job again"
            ) from None
        raise UserError(
            f"record {error.number} of {shown} (byte {error.offset}) {error.problem}; stream RecordIO: .rec files "
            f"with RecordWrapperType None, or a manifest with RecordWrapperType RecordIO"
        ) from None


def _label_text(data, where, attribute_names):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(
            f"{where} is {len(data)} bytes of binary data, not label text; the stream must repeat the records of "
            f"AttributeNames {list(attribute_names)} (image, then label) for every image"
        ) from None


def manifest_items(stream, shown, config, spec, collector):
    """Items from an augmented-manifest stream: groups of one record per attribute, image first, label second."""
    attribute_names = config.attribute_names or ("source-ref", "class")
    if len(attribute_names) < 2:
        raise UserError(
            f"AttributeNames {list(attribute_names)} names no label; list the image attribute, then the label "
            f"attribute, such as ['source-ref', 'class']"
        )
    metadata_name = f"{attribute_names[1]}-metadata"
    group = []
    for number, payload in enumerate(records(stream, shown)):
        group.append(payload)
        if len(group) < len(attribute_names):
            continue
        image_number = number // len(attribute_names)
        first = number - len(attribute_names) + 1
        where = f"record {first + 1} (the label of image {image_number}) of {shown}"
        text = _label_text(group[1], where, attribute_names)
        value = manifest.label(text, spec, config.label_format, where)
        for position, (name, data) in enumerate(zip(attribute_names, group)):
            if name == metadata_name:
                text = _label_text(data, f"record {first + position} of {shown}", attribute_names)
                manifest.collect_names(manifest.decoded(text), value, collector, where)
        yield Item(f"image {image_number} (record {first}) of {shown}", group[0], value)
        group = []
    if group:
        raise UserError(
            f"{shown} ends after {len(group)} of the {len(attribute_names)} records of an image; every image needs "
            f"one record per AttributeNames entry {list(attribute_names)}"
        )


def prepare(channel, config, scratch_dir, spec):
    """The Pipe-mode channel drained from its first FIFO into ``scratch_dir``, as a RecordSet."""
    source = first_fifo(channel)
    if channel.content_type.split(";")[0].strip().lower() in IMAGE_CONTENT_TYPES:
        raise UserError(
            f"The '{channel.name}' channel streams images ({channel.content_type}) in Pipe mode; stream RecordIO "
            f"(application/x-recordio) or an augmented manifest, or use File mode for images with .lst or annotations"
        )
    if not source.exists():
        raise UserError(
            f"The '{channel.name}' channel is in Pipe mode but {source} does not exist; SageMaker creates it for "
            f"TrainingInputMode Pipe (locally, make a FIFO or file of that name, or use File mode)"
        )
    shown = f"the Pipe-mode stream {source}"
    rec_path = scratch_dir / f"{channel.name}.rec"
    with open(source, "rb") as stream:
        if config.record_wrapper != "RecordIO":
            with open(rec_path, "wb") as copy:
                shutil.copyfileobj(stream, copy, 1 << 20)
            return recordio.scan_files(channel.name, [rec_path], scratch_dir, spec, shown)
        collector = class_names.Collector()
        entries = manifest_items(stream, shown, config, spec, collector)
        index_path = scratch_dir / f"{channel.name}.idx"
        labels, sources = packing.pack(
            entries, rec_path, index_path, spec, what=f"{channel.name} channel, Pipe-mode manifest stream"
        )
    if not len(labels):
        raise UserError(f"{shown} held no records; check the channel's manifest")
    return RecordSet(channel.name, (rec_path,), index_path, labels, collector.names, sources)
