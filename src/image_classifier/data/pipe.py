"""Pipe mode's transport: a channel streamed through the FIFOs ``/opt/ml/input/data/<channel>_0``, ``<channel>_1``, ...

SageMaker writes epoch N's copy of the channel into ``<channel>_N``. We drain ``<channel>_0`` once, at start,
into the scratch directory and train every epoch from that copy, through ``ImageRecordIter`` and a record
index exactly as in File mode: record-level shuffling and sharding, the image count known before the first
batch (so num_training_samples and the schedule are checked), and every epoch reading the same images.

* RecordIO (``RecordWrapperType`` None): the stream is the channel's ``.rec`` files back to back; it is
  copied byte for byte into ``<channel>.rec`` (``drain``) and scanned like a File-mode channel (recordio.py).
* Augmented manifest (``RecordWrapperType`` RecordIO): the stream is RecordIO records (``records``), one per
  entry of ``AttributeNames`` and image: the image's bytes, then its label as text (``3``, ``[0, 1, 1]``),
  then any further attribute (a ``<label>-metadata`` one names the classes). manifest.py reads them into
  Items, packed into ``<channel>.rec`` as File-mode images are (packing.py) while the stream is read.

This module only moves bytes; channels.py picks the reader.

The later FIFOs are never opened. A FIFO's writer blocks until a reader opens it, so SageMaker transfers
nothing into ``<channel>_1`` and beyond, and the job does not depend on them. The price of this design: the
scratch directory (the container's /tmp) must hold one copy of the channel; a data set larger than that disk
needs a larger volume, or File mode.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .. import recordio_framing
from ..environment import Channel
from ..errors import UserError

IMAGE_CONTENT_TYPES = ("application/x-image", "image/jpeg", "image/png")


def source(channel: Channel) -> Path:
    """The FIFO to drain: the first (``<channel>_0``) of a channel whose content type Pipe mode can train from."""
    fifo = channel.path.with_name(f"{channel.name}_0")
    if channel.content_type.split(";")[0].strip().lower() in IMAGE_CONTENT_TYPES:
        raise UserError(
            f"The '{channel.name}' channel streams images ({channel.content_type}) in Pipe mode; stream RecordIO "
            f"(application/x-recordio) or an augmented manifest, or use File mode for images with .lst or annotations"
        )
    if not fifo.exists():
        raise UserError(
            f"The '{channel.name}' channel is in Pipe mode but {fifo} does not exist; SageMaker creates it for "
            f"TrainingInputMode Pipe (locally, make a FIFO or file of that name, or use File mode)"
        )
    return fifo


def drain(stream: BinaryIO, rec_path: str | Path) -> None:
    """The stream of a RecordIO channel (its .rec files back to back) copied byte for byte to ``rec_path``."""
    with open(rec_path, "wb") as copy:
        shutil.copyfileobj(stream, copy, 1 << 20)


def records(stream: BinaryIO, display_name: str) -> Iterator[bytes]:
    """The payloads of the RecordIO records in ``stream`` (named ``display_name`` in errors), in order."""
    try:
        for _offset, payload in recordio_framing.records(stream):
            yield payload
    except recordio_framing.FramingError as error:
        if error.problem in recordio_framing.CUT_SHORT:
            raise UserError(
                f"{display_name} ends inside record {error.number}; the stream was cut short, start the job again"
            ) from None
        raise UserError(
            f"record {error.number} of {display_name} (byte {error.offset}) {error.problem}; stream RecordIO: "
            f".rec files with RecordWrapperType None, or a manifest with RecordWrapperType RecordIO"
        ) from None
