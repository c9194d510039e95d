"""Files and folders that appear whole or not at all: written beside their place as ``.partial-NAME``, then renamed.

A reader (serving, a resumed job, the user) sees the old version or the new one, never a half-written one;
a crash mid-write leaves only a ``.partial-`` name, which ``remove_partials`` clears at the next start.
A write that runs out of space is removed and fails as the user's to fix, naming the folder (disk_space.py).
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import disk_space

PARTIAL_PREFIX = ".partial-"


def partial_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place."""
    path = Path(path)
    return path.with_name(f"{PARTIAL_PREFIX}{path.name}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def staged(path: Path, needed: int | None = None) -> Iterator[Path]:
    """The partial path to write ``path``'s new file (or folder) to; renamed over ``path`` when the block ends
    without an error (a folder at ``path`` is removed first), removed when it raises. ``needed``: about how
    many bytes the write takes, for the message when the disk is full."""
    path = Path(path)
    partial = partial_path(path)
    _remove(partial)  # left by a crash
    try:
        yield partial
    except BaseException as error:
        _remove(partial)
        if disk_space.is_full(error):
            raise disk_space.full_error(path.parent, needed) from None
        raise
    if partial.is_dir() and path.is_dir():
        shutil.rmtree(path, ignore_errors=True)  # a folder cannot be renamed over a folder with files in it
    os.replace(partial, path)


def write_text(path: Path, text: str) -> None:
    with staged(path) as partial:
        partial.write_text(text)


def remove_partials(directory: Path) -> None:
    """What writes cut short by a crash left in ``directory``."""
    for partial in Path(directory).glob(f"{PARTIAL_PREFIX}*"):
        _remove(partial)
