"""Images to RecordIO as MXNet's im2rec makes it: parallel read/check/resize/encode, one ordered writer, an .idx.

Each image is read (local file, S3 object or bytes from a Pipe stream), its header checked (PIL reads the
size without decoding the pixels), and packed behind an ``IRHeader`` carrying its label. JPEG and PNG bytes
pass through untouched unless ``resize`` is set and the shorter side is larger than it: then the image is
decoded, resized as ``ImageRecordIter`` resizes (shorter side to ``resize``, bilinear), and re-encoded in its
own format (JPEG at quality 95, PNG lossless), which makes every later epoch decode a smaller image. Other
formats PIL reads (BMP, GIF, TIFF, WebP) are re-encoded as PNG. Threads do the work (file and network reads;
decode, resize and encode release the GIL); the writer takes results in input order from a bounded window,
so records and index keep the input's order and memory stays flat for any number of images.
"""

import collections
import io
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from mxnet import recordio
from PIL import Image, UnidentifiedImageError

from .. import image_ops, s3_objects
from ..errors import UserError
from .items import Item
from .spec import DataSpec

log = logging.getLogger(__name__)
THREADS = 16  # enough to overlap S3 latency; decoding shares the cores
WINDOW_PER_THREAD = 4  # chunks queued per thread
CHUNK = 16  # images a task: fewer hand-offs between threads
PASS_THROUGH = ("JPEG", "PNG")
PROGRESS_EVERY = 10000


def _read(item):
    if isinstance(item.source, bytes):
        return item.source
    if isinstance(item.source, str):
        return s3_objects.fetch(item.source, item.where)
    try:
        return Path(item.source).read_bytes()
    except OSError as error:
        raise UserError(f"{item.where}: cannot read {item.source} ({error.strerror}); check the file") from None


def _image_named(item):
    return "the image" if isinstance(item.source, bytes) else f"image {item.source}"


def _rgb(opened, item):
    """The opened image's pixels, RGB; a corrupt or truncated image is the user's to replace."""
    try:
        return np.asarray(opened.convert("RGB"))
    except OSError:
        raise UserError(
            f"{item.where}: {_image_named(item)} cannot be decoded (corrupt or truncated); replace or remove it"
        ) from None


def record(index: int, item: Item, spec: DataSpec) -> bytes:
    """The packed record of ``item``, number ``index``: IRHeader, label, image bytes (checked or resized)."""
    data = _read(item)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image_format, (width, height) = opened.format, opened.size
            shrink = bool(spec.resize) and min(height, width) > spec.resize
            if shrink or image_format not in PASS_THROUGH:  # decoded once, re-encoded in its format or as PNG
                rgb = _rgb(opened, item)
                data = image_ops.encode(
                    image_ops.resize_shorter_side(rgb, spec.resize) if shrink else rgb,
                    image_format if image_format in PASS_THROUGH else "PNG",
                )
    except (UnidentifiedImageError, OSError):
        raise UserError(
            f"{item.where}: {_image_named(item)} is not an image (JPEG or PNG); replace it or remove the entry"
        ) from None
    except Image.DecompressionBombError as error:
        raise UserError(f"{item.where}: {_image_named(item)} is too large to train on ({error}); shrink it") from None
    if not shrink:
        spec.check_size(height, width, f"{item.where}: {_image_named(item)}")
    return recordio.pack(recordio.IRHeader(0, item.label, index, 0), data)


def _chunks(entries, size):
    """(index of the first, [entries]) for consecutive runs of ``size`` entries."""
    chunk, start = [], 0
    for index, entry in enumerate(entries):
        chunk.append(entry)
        if len(chunk) == size:
            yield start, chunk
            chunk, start = [], index + 1
    if chunk:
        yield start, chunk


def _records(start, chunk, spec):
    return [record(start + offset, entry, spec) for offset, entry in enumerate(chunk)]


def _in_order(executor, entries, window, spec):
    """(entry, packed record) for each entry, work run ahead by at most ``window`` chunks, in input order."""
    pending = collections.deque()
    for start, chunk in _chunks(entries, CHUNK):
        pending.append((chunk, executor.submit(_records, start, chunk, spec)))
        if len(pending) >= window:
            chunk, future = pending.popleft()
            yield from zip(chunk, future.result())
    for chunk, future in pending:
        yield from zip(chunk, future.result())


def pack(
    entries: Iterable[Item],
    rec_path: str | Path,
    idx_path: str | Path,
    spec: DataSpec,
    threads: int = THREADS,
    what: str = "images",
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Write ``entries`` (Items, any iterable) to ``rec_path`` and ``idx_path``; return (labels, wheres).

    Each image is checked against ``spec``'s minimum size, or brought down to its ``resize``.

    ``labels`` is the (count,) or (count, num_classes) array of the records' labels, ``wheres`` each
    record's ``Item.where`` (to name an image that fails to decode later). ``what`` names them in the log.
    """
    labels, wheres = [], []
    started = time.time()
    writer = recordio.MXIndexedRecordIO(str(idx_path), str(rec_path), "w")
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pack")
    try:
        for index, (entry, record) in enumerate(_in_order(executor, entries, threads * WINDOW_PER_THREAD, spec)):
            writer.write_idx(index, record)
            labels.append(entry.label)
            wheres.append(entry.where)
            if (index + 1) % PROGRESS_EVERY == 0:
                log.info("%s: packed %d images (%.0f images/s)", what, index + 1, (index + 1) / (time.time() - started))
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        writer.close()
    seconds = time.time() - started
    log.info(
        "%s: %d images packed to RecordIO in %.1f s (%.0f images/s)",
        what,
        len(labels),
        seconds,
        len(labels) / max(seconds, 1e-9),
    )
    return np.array(labels), tuple(wheres)
