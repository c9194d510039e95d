"""Pipe mode's transport: a channel streamed through the FIFOs ``/opt/ml/input/data/<channel>_0``, ``<channel>_1``, ...

SageMaker writes pass N's copy of the channel into ``<channel>_N`` (numbered from 0 for each run of the job).
Two ways to train from it, chosen per channel by channels.py from ``IMAGE_CLASSIFIER_PIPE_MODE`` (scratch.py):

* copy: ``<channel>_0`` is drained once into the scratch folder and every epoch trains from that copy through
  ``ImageRecordIter`` and a record index exactly as in File mode (full shuffle, the count known before the
  first batch). The later FIFOs are never opened; a FIFO's writer blocks until a reader opens it, so SageMaker
  transfers nothing into them.
* stream: every pass reads its own FIFO, shuffled within a window of scratch space (stream.py).

``auto`` copies when the channel is estimated (``estimate``: the first ``PEEK_BYTES`` of ``_0``, scaled to
the image count) to fit in ``COPY_SHARE`` of the free scratch space, and streams otherwise.

* RecordIO (``RecordWrapperType`` None): the stream is the channel's ``.rec`` files back to back; a copy is
  byte for byte (``drain``) and scanned like a File-mode channel (recordio.py).
* Augmented manifest (``RecordWrapperType`` RecordIO): the stream is RecordIO records (``records``), one per
  entry of ``AttributeNames`` and image: the image's bytes, then its label as text (``3``, ``[0, 1, 1]``),
  then any further attribute (a ``<label>-metadata`` one names the classes). manifest.py reads them into
  Items, packed as File-mode images are (packing.py) while the stream is read.

This module only moves bytes; channels.py picks the reader.
"""

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .. import recordio_framing
from ..environment import Channel
from ..errors import UserError

IMAGE_CONTENT_TYPES = ("application/x-image", "image/jpeg", "image/png")
PEEK_BYTES = 64 << 20  # read from <channel>_0 to estimate the channel's size


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


class Prefixed(io.RawIOBase):
    """``stream`` read again from its start: the ``head`` already read from it, then the rest."""

    def __init__(self, head: bytes, stream: BinaryIO):
        super().__init__()
        self.head, self.stream, self.position = head, stream, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.position >= len(self.head):
            return self.stream.read(size)
        end = len(self.head) if size < 0 else self.position + size
        data = self.head[self.position : end]
        self.position += len(data)
        wanted = -1 if size < 0 else size - len(data)
        return data + self.stream.read(wanted) if wanted else data

    def close(self) -> None:
        self.stream.close()
        super().close()


def peek(stream: BinaryIO) -> tuple[bytes, Prefixed]:
    """The first PEEK_BYTES of ``stream`` (all of it when shorter), and the stream to read from its start."""
    head = stream.read(PEEK_BYTES)
    return head, Prefixed(head, stream)


def estimate(head: bytes, records_per_image: int, images: int | None) -> int | None:
    """The stream's size in bytes: ``head``'s length when it is the whole stream, else its whole records' mean
    size times ``records_per_image`` and ``images``; None when that count is unknown or ``head`` holds no record."""
    if len(head) < PEEK_BYTES:
        return len(head)
    sizes, stream = [], io.BytesIO(head)
    try:
        for offset, _payload in recordio_framing.records(stream):
            sizes.append(offset)
    except recordio_framing.FramingError as error:
        if error.problem not in recordio_framing.CUT_SHORT:
            return None
        sizes.append(error.offset)  # where the cut record starts: the end of the whole ones
    if not images or len(sizes) < 2:
        return None
    return int(sizes[-1] / (len(sizes) - 1) * records_per_image * images)


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
