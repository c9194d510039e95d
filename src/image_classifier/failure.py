"""The one funnel every training failure goes through: /opt/ml/output/failure and the exit code.

A user error writes only its message (first line: what is wrong and how to fix it); anything else is
our fault and writes the traceback too. The first failure written wins.
"""

import logging
import traceback
from collections.abc import Callable

from . import disk_space
from .environment import Paths
from .errors import UserError

log = logging.getLogger(__name__)

USER_ERROR_EXIT = 1
INTERNAL_ERROR_EXIT = 2


class Stopped(Exception):
    """Training was asked to stop (SIGTERM: StopTrainingJob, spot interruption, docker stop)."""

    exit_code = 143


def reset(paths: Paths) -> None:
    """A new run starts without the last run's verdict."""
    for path in (paths.failure_file, paths.success_file):
        path.unlink(missing_ok=True)


def write_failure(paths: Paths, message: str) -> None:
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    if not paths.failure_file.exists():
        paths.failure_file.write_text(message if message.endswith("\n") else message + "\n")


def handle_error(paths: Paths, error: BaseException) -> int:
    """Log ``error`` (raised and being handled) and write it to the failure file; return the exit code."""
    error = disk_space.user_error(error) or error  # a full disk no write of ours named the folder of
    if isinstance(error, UserError):
        log.error("%s", error)
        write_failure(paths, str(error))
        return USER_ERROR_EXIT
    if isinstance(error, Stopped):
        log.info("%s", error)
        write_failure(paths, str(error))
        return Stopped.exit_code
    if isinstance(error, MemoryError):
        message = (
            "Training ran out of memory: lower mini_batch_size or image_shape, or use an instance with more memory"
        )
        log.error("%s", message)
        write_failure(paths, message)
        return USER_ERROR_EXIT
    details = "".join(traceback.format_exception(error))  # everything else is our own fault
    log.error("%s", details)
    write_failure(
        paths,
        f"Internal error ({type(error).__name__}: {error}); please report it with the traceback below\n{details}",
    )
    return INTERNAL_ERROR_EXIT


def run(paths: Paths, job: Callable[[], object]) -> int:
    """Run ``job()``; return the process exit code after writing down success or failure."""
    try:
        job()
    except Exception as error:  # the funnel
        return handle_error(paths, error)
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    paths.success_file.touch()
    return 0
