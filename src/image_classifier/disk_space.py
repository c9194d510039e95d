"""A full disk is the user's to fix, and the one home of how we say so: a write of known size that cannot fit is
refused before it starts (``refuse_unless_free``), and what our writes raise when a volume runs out of space
becomes a UserError (``full_error``, ``user_error``); both name the folder, the space needed, the space free and
the fix.

Python raises OSError with errno ENOSPC (or EDQUOT); MXNet's own writers (``export``, ``save_parameters``)
raise MXNetError "FileStream.Write incomplete", since dmlc's stream checks only the byte count written. On
SageMaker /opt/ml/model, /opt/ml/checkpoints and /opt/ml/output share the training volume (VolumeSizeInGB).
"""

import errno
import shutil
from pathlib import Path

from .errors import UserError

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
MXNET_SHORT_WRITE = "FileStream.Write incomplete"
LARGER_VOLUME = "give the training job a larger volume (VolumeSizeInGB"
FIX = (
    f"{LARGER_VOLUME}), or keep fewer epochs (leave checkpoint_frequency unset to keep only the best one, or raise it)"
)


def is_full(error: BaseException) -> bool:
    """Whether ``error`` is a write that ran out of space."""
    if isinstance(error, OSError):
        return error.errno in FULL_ERRNOS
    return type(error).__name__ == "MXNetError" and (
        MXNET_SHORT_WRITE in str(error) or "No space left on device" in str(error)
    )


def _megabytes(count: int) -> str:
    return f"{count / 2**20:.1f} MB"


def free_bytes(folder: str | Path) -> int:
    return shutil.disk_usage(folder).free


def refuse_unless_free(folder: Path, needed: int, what: str, alternative: str) -> None:
    """Fail before writing, naming ``what`` needs the space, when ``needed`` bytes do not fit in ``folder``'s free
    space; the fix is a volume larger by what is missing, or ``alternative``."""
    free = free_bytes(folder)
    if needed > free:
        more = max(1, -(-(needed - free) // 2**30))
        raise UserError(
            f"{what} needs about {_megabytes(needed)} in {folder}, which has {_megabytes(free)} free: "
            f"{LARGER_VOLUME}, at least {more} GB more), or {alternative}"
        )


def full_error(directory: Path, needed: int | None = None) -> UserError:
    """The message for a write to ``directory`` that ran out of space (``needed``: the bytes it needed)."""
    parts = [f"needed about {_megabytes(needed)}"] if needed else []
    try:
        parts.append(f"{_megabytes(free_bytes(directory))} free")
    except OSError:
        pass
    space = f" ({', '.join(parts)})" if parts else ""
    return UserError(f"No space left in {directory} to write training's files{space}: {FIX}")


def user_error(error: BaseException) -> UserError | None:
    """``error`` as the user's to fix when it is a full disk that no write of ours named the folder of; else None."""
    if not is_full(error):
        return None
    filename = getattr(error, "filename", None)
    return full_error(Path(filename).parent) if filename else UserError(f"A disk is full: {FIX}")
