"""A full disk is the user's to fix: what our writes raise when a volume runs out of space becomes a UserError
that names the folder, the space the write needed when it is known, and the fix.

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
FIX = (
    "give the training job a larger volume (VolumeSizeInGB), or keep fewer epochs (leave checkpoint_frequency "
    "unset to keep only the best one, or raise it)"
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


def full_error(directory: Path, needed: int | None = None) -> UserError:
    """The message for a write to ``directory`` that ran out of space (``needed``: the bytes it needed)."""
    parts = [f"needed about {_megabytes(needed)}"] if needed else []
    try:
        parts.append(f"{_megabytes(shutil.disk_usage(directory).free)} free")
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
