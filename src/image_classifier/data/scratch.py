"""Scratch space for packed channels and Pipe-mode copies: a folder of ours on the ML storage volume.

SageMaker mounts the ML storage volume (its size is the job's ``VolumeSizeInGB``) under /opt/ml: File-mode
channels are downloaded to /opt/ml/input/data on it, and the model and output folders live on it. The
container's /tmp is the instance's root volume, whose size the user does not choose. Scratch files therefore go
to ``/opt/ml/input/image-classifier-scratch``: on the ML volume, beside the inputs, outside every folder
SageMaker uploads (model, output, checkpoints), and not under input/data, whose folders are channels. The
folder is removed when training ends. Should it not be writable (a read-only mount locally), the system's
temporary folder is used instead, with a log line.

Every write of known size is checked against the free space first (disk_space.refuse_unless_free), so a job
that cannot fit fails before writing, naming what needs the space and how much.

Settings (environment variables of the training job, ``Environment`` in CreateTrainingJob):

* ``IMAGE_CLASSIFIER_PIPE_MODE``: ``copy`` (drain a Pipe channel's first FIFO once and train every epoch from
  the copy: a full shuffle), ``stream`` (read every epoch's FIFO, shuffled within a window), or ``auto``
  (default: copy when the channel's estimated size is at most ``COPY_SHARE`` of the free scratch space).
* ``IMAGE_CLASSIFIER_PIPE_WINDOW``: the scratch space a streamed channel may use, in bytes (suffixes K, M, G):
  two chunk files of half of it each. Default: ``WINDOW_SHARE`` of the free space, at most ``WINDOW_MAX``.
"""

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import disk_space
from ..environment import Paths
from ..errors import UserError

log = logging.getLogger(__name__)
FOLDER = "image-classifier-scratch"
MODE_ENV = "IMAGE_CLASSIFIER_PIPE_MODE"
WINDOW_ENV = "IMAGE_CLASSIFIER_PIPE_WINDOW"
MODES = ("auto", "copy", "stream")
COPY_SHARE = 0.5  # auto mode copies a Pipe channel whose estimate fits in this share of the free space
WINDOW_SHARE = 0.25  # a streamed channel's default window: this share of the free space ...
WINDOW_MAX = 2 << 30  # ... at most 2 GiB, so that the first chunk is ready soon
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


@contextlib.contextmanager
def directory(paths: Paths) -> Iterator[Path]:
    """The job's scratch folder on the ML storage volume (see above), created empty and removed at the end."""
    folder = paths.root / "input" / FOLDER
    try:
        shutil.rmtree(folder, ignore_errors=True)  # a killed run's leftovers
        folder.mkdir(parents=True)
    except OSError as error:
        log.warning("Cannot write %s (%s); scratch files go to the system's temporary folder", folder, error)
        with tempfile.TemporaryDirectory(prefix="image-classifier-") as fallback:
            yield Path(fallback)
        return
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _size(text):
    text = text.strip().upper().removesuffix("B")
    number, unit = (text[:-1], text[-1]) if text[-1:] in UNITS else (text, "")
    try:
        size = int(float(number) * UNITS[unit])
    except ValueError:
        size = 0
    if size <= 0:
        raise UserError(f"{WINDOW_ENV}={text!r} is not a size; write bytes, or with a unit: 512M, 2G")
    return size


@dataclass(frozen=True)
class PipeSettings:
    mode: str  # one of MODES
    window: int  # bytes of scratch space a streamed channel may use

    @classmethod
    def read(cls, folder: str | Path, environ: Mapping[str, str] = os.environ) -> "PipeSettings":
        mode = environ.get(MODE_ENV, "auto").strip().lower() or "auto"
        if mode not in MODES:
            raise UserError(f"{MODE_ENV}={mode!r} is not one of {', '.join(MODES)}; unset it for auto")
        window = environ.get(WINDOW_ENV)
        return cls(
            mode, _size(window) if window else min(WINDOW_MAX, int(disk_space.free_bytes(folder) * WINDOW_SHARE))
        )
