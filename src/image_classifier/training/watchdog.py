"""A job on several hosts whose training stops moving has lost a host: the supervisor ends it.

MXNet 1.9.1's parameter server (ps-lite) never notices a peer that is gone: the workers left block in a push
or pull for ever, their servers and scheduler wait with them, and the job bills every instance until
MaxRuntimeInSeconds. ps-lite's PS_HEARTBEAT_INTERVAL and PS_HEARTBEAT_TIMEOUT do not help: the heartbeats
are recorded by the scheduler and read only when a node re-registers (its recovery path); nothing acts on
a missed one. So progress is watched instead: the job touches a file at every batch it trains, validates or
evaluates (``beat``), and the supervisor (``Watchdog``) ends the job when the file has not been touched for
``IMAGE_CLASSIFIER_LOST_HOST_SECONDS`` (default ``DEFAULT_SECONDS``). The watch starts at the first batch
(before it, the hosts wait for each other while they read their data, which may take long for good reasons)
and ends when the job's work is done (``finished``).

The default is far above the longest pause between two beats of a healthy job (one batch of the largest
network on a CPU, or an epoch's save and checkpoint between the last batch of one epoch and the first of the
next), and far below the five minutes within which a lost host must end the job.
"""

import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

from ..errors import UserError

PROGRESS_FILE_ENV = "IMAGE_CLASSIFIER_PROGRESS_FILE"
SECONDS_ENV = "IMAGE_CLASSIFIER_LOST_HOST_SECONDS"
DEFAULT_SECONDS = 240.0
Item = TypeVar("Item")


def beating(items: Iterable[Item]) -> Iterator[Item]:
    """``items``, with a beat before each (a no-op outside a watched job)."""
    path = os.environ.get(PROGRESS_FILE_ENV)
    for item in items:
        if path:
            Path(path).touch()
        yield item


def finished() -> None:
    """The job's work is done: what is left (waiting for the other hosts to finish too) is not watched, so that
    a host done first does not fail while the first host evaluates the model."""
    path = os.environ.get(PROGRESS_FILE_ENV)
    if path:
        Path(path).unlink(missing_ok=True)


def timeout(environ: Mapping[str, str] = os.environ) -> float:
    """The seconds without progress after which a job of several hosts is ended."""
    text = environ.get(SECONDS_ENV, "")
    if not text:
        return DEFAULT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise UserError(f"{SECONDS_ENV}={text!r} is not a number of seconds above 0; set it so, or unset it")
    return seconds


class Watchdog:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._directory = tempfile.TemporaryDirectory(prefix="image-classifier-progress-")
        self.path = Path(self._directory.name) / "progress"

    def environment(self) -> dict[str, str]:
        """What the job's environment needs to beat."""
        return {PROGRESS_FILE_ENV: str(self.path)}

    def stalled(self) -> bool:
        """Whether the job has beaten once and not again for ``seconds``."""
        try:
            return time.time() - self.path.stat().st_mtime > self.seconds
        except FileNotFoundError:
            return False

    def close(self) -> None:
        self._directory.cleanup()
