"""A Pipe-mode channel streamed: every pass (an epoch, a validation) reads the channel's next FIFO, once, in order.

SageMaker writes the channel into ``<channel>_0``, ``<channel>_1``, ... one FIFO a pass, numbered from 0 for
each run of the job: a job restarted from a checkpoint (managed spot) reads ``_0`` again for the epoch it
resumes. ``StreamedSet`` counts the passes of this run and opens the FIFO of that number.

A pass reads the stream in a thread that writes its records into chunks: an indexed ``.rec`` in one of two
scratch files of half the window each (``IMAGE_CLASSIFIER_PIPE_WINDOW``, scratch.py). Training reads a
chunk through ``ImageRecordIter`` (C++ decode and augmentation, shuffled within the chunk) while the thread
fills the other, so reading the FIFO overlaps training and disk use stays within the window (plus at most
one batch of records, as a chunk ends on a whole batch); memory holds one record at a time and a chunk's
labels. Records are checked as File-mode records are (labels, image headers): RecordIO streams record by
record, augmented-manifest streams (image bytes then label text) packed as packing.py packs images.

The image count is ``num_training_samples`` (what the built-in algorithm requires, known before the first
byte; counting a pass first would make SageMaker stream the channel once more): the schedule and the number of
batches follow from it, and the first pass checks it against the images the stream held. With several hosts
each host trains ``count`` images a pass (its share of num_training_samples): from every ``num_parts``-th
record of a FullyReplicated stream, or from its own ShardedByS3Key part; a part that ends early replays its
last chunk and one with more stops training at the count (reading the rest), so every host runs as many batches.
"""

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import mxnet as mx
import numpy as np
from mxnet import recordio

from ..environment import Channel
from ..errors import UserError
from . import class_names, iterators, manifest, packing, pipe
from . import recordio as record_layout
from .channel_config import ChannelConfig
from .record_set import RecordSet
from .spec import DataSpec

log = logging.getLogger(__name__)
SLOTS = 2  # chunk files: one read by training while the other is written
POLL_SECONDS = 0.5  # how often a waiting reader thread looks whether its pass was abandoned
JOIN_SECONDS = 5.0

Batch = tuple[mx.nd.NDArray, mx.nd.NDArray, int]


class _Abandoned(Exception):
    """The pass was left before the stream's end (a failure, a stop): the reader thread ends."""


class StreamedSet:
    """A Pipe-mode channel read afresh from its next FIFO each pass (see the module's docstring)."""

    def __init__(
        self,
        channel: Channel,
        config: ChannelConfig,
        spec: DataSpec,
        scratch_dir: Path,
        window: int,
        total: int | None,
        hosts: int = 1,
        sharded: bool = False,
        first_stream: BinaryIO | None = None,
    ):
        self.channel = channel.name
        self.fifo_dir = channel.path.parent
        self.config = config
        self.spec = spec
        self.scratch_dir = Path(scratch_dir)
        self.chunk_bytes = max(1, window // SLOTS)
        self.total = total  # num_training_samples: the images of the whole channel; None for validation
        self.hosts = hosts
        self.sharded = sharded  # ShardedByS3Key: this host's stream holds only its part
        self.count = -(-total // hosts) if total else None  # images a pass on this host; validation: learnt
        self.passes = 0  # FIFOs opened by this run
        self.first_stream = first_stream  # <channel>_0, opened to estimate the channel's size
        self.collector = class_names.Collector()
        self.labels = np.zeros((0,))  # no labels before training: they stream

    @property
    def class_names(self) -> dict[int, str]:
        return self.collector.names

    def fifo(self, number: int) -> Path:
        return self.fifo_dir / f"{self.channel}_{number}"

    def _open(self):
        fifo = self.fifo(self.passes)
        self.passes += 1
        if self.first_stream is not None:
            stream, self.first_stream = self.first_stream, None
            return fifo, stream
        if not fifo.exists():
            raise UserError(
                f"Pass {self.passes} of the Pipe-mode '{self.channel}' channel needs {fifo}, which does not exist; "
                f"SageMaker creates one FIFO per epoch (locally, make {fifo.name})"
            )
        return fifo, open(fifo, "rb")

    def _records(self, stream, shown):
        """(packed record, label) of each image of ``stream``, checked against the spec."""
        if self.config.record_wrapper != "RecordIO":
            for number, payload in enumerate(pipe.records(stream, shown)):
                where = f"record {number} of {shown}"
                try:
                    header, image = recordio.unpack(payload)
                except (ValueError, TypeError):
                    raise UserError(
                        f"{where} is too short for its IRHeader; stream .rec files made by im2rec"
                    ) from None
                label = self.spec.record_label(header.label, where)
                record_layout.check_image(image, where, self.spec)
                yield payload, label
            return
        entries = manifest.stream_items(
            pipe.records(stream, shown),
            shown,
            self.config.attribute_names,
            self.spec,
            self.config.label_format,
            self.collector,
        )
        for index, item in enumerate(entries):
            yield packing.record(index, item, self.spec), item.label

    def _write_chunk(self, slot, records, batch_size, abandoned):
        """Records from ``records`` into chunk file ``slot`` up to its share of the window (whole batches);
        the chunk's RecordSet, or None at the stream's end."""
        rec_path = self.scratch_dir / f"{self.channel}-chunk{slot}.rec"
        index_path = rec_path.with_suffix(".idx")
        writer = recordio.MXIndexedRecordIO(str(index_path), str(rec_path), "w")
        payloads, labels, size = [], [], 0
        try:
            for payload, label in records:
                if abandoned.is_set():
                    raise _Abandoned
                writer.write_idx(len(labels), payload)
                labels.append(label)
                size += len(payload)
                if len(payloads) < batch_size:
                    payloads.append(payload)
                if size >= self.chunk_bytes and len(labels) % batch_size == 0:
                    break
            if not labels:
                return None
            for number in range(len(labels), batch_size):  # ImageRecordIter needs a whole batch of records
                writer.write_idx(number, payloads[number % len(payloads)])
        finally:
            writer.close()
        return RecordSet(self.channel, (rec_path,), index_path, np.array(labels), {})

    def _shard(self, records, num_parts, part_index):
        for number, record in enumerate(records):
            self.seen = number + 1
            if num_parts == 1 or number % num_parts == part_index:
                yield record

    def _fill(self, stream, shown, batch_size, num_parts, part_index, free_slots, ready, abandoned):
        """The reader thread: the stream into chunks, each put on ``ready``; then None, or the error raised."""
        try:
            with contextlib.closing(stream):
                records = self._shard(self._records(stream, shown), num_parts, part_index)
                while True:
                    slot = _take(free_slots, abandoned)
                    chunk = self._write_chunk(slot, records, batch_size, abandoned)
                    if chunk is None:
                        break
                    ready.put((slot, chunk))
            ready.put(None)
        except _Abandoned:
            pass
        except BaseException as error:  # handed to the training thread, which raises it
            ready.put(error)

    def batches(
        self,
        make_iter: Callable[[RecordSet], mx.io.DataIter],
        batch_size: int,
        num_parts: int = 1,
        part_index: int = 0,
    ) -> Iterator[Batch]:
        """One pass as (data, label, valid), as ``iterators.batches`` gives them; ``make_iter`` reads a chunk.

        With several hosts a pass trains ``count`` images (the hosts agree on it), else every record.
        """
        fifo, stream = self._open()
        shown = f"the Pipe-mode stream {fifo}"
        parts = 1 if self.sharded else num_parts
        free_slots, ready, abandoned = queue.Queue(), queue.Queue(), threading.Event()
        for slot in range(SLOTS):
            free_slots.put(slot)
        self.seen = 0
        reader = threading.Thread(
            target=self._fill,
            args=(stream, shown, batch_size, parts, part_index, free_slots, ready, abandoned),
            name=f"pipe-{self.channel}",
            daemon=True,
        )
        reader.start()
        remaining = self.count if self.count is not None and self.hosts > 1 else None
        try:
            last = None
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                if last is not None:
                    free_slots.put(last[0])
                last = item
                slot, chunk = item
                if remaining is not None and remaining <= 0:
                    continue  # this host has trained its share; the rest of the stream is read, not trained
                wanted = chunk.count if remaining is None else min(remaining, chunk.count)
                yield from iterators.batches(make_iter(chunk), chunk, wanted)
                if remaining is not None:
                    remaining -= wanted
            if last is None:
                raise UserError(f"{shown} held no records; check the '{self.channel}' channel's S3 data")
            if remaining:  # a shorter part than the other hosts': its last chunk again, as File mode starts over
                yield from iterators.batches(make_iter(last[1]), last[1], remaining)
        finally:
            abandoned.set()
            reader.join(JOIN_SECONDS)
        self._check_count(shown)

    def _check_count(self, shown):
        """The first pass learns a validation stream's count and checks a whole train stream's."""
        if self.count is None:
            self.count = self.seen
            log.info("%s channel: %d images streamed in its first pass", self.channel, self.seen)
        elif self.passes == 1 and not self.sharded and self.seen != self.total:
            raise UserError(
                f"num_training_samples is {self.total} but {shown} held {self.seen} images; set "
                f"num_training_samples={self.seen}"
            )


def _take(free_slots, abandoned):
    """A free chunk slot, once training has released one; _Abandoned when the pass was left."""
    while True:
        try:
            return free_slots.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if abandoned.is_set():
                raise _Abandoned from None
