"""Unpacking a model.tar.gz given as a channel: regular files and folders only, each inside the destination.

tarfile's own ``filter="data"`` arrived in Python 3.11.4 and the image runs Debian's 3.11.2, so the rule is
written here: absolute paths, paths that leave the destination, links, devices and FIFOs are refused by
name. A model.tar.gz written by SageMaker (or by training here) holds none of them.
"""

import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from ..errors import UserError

MODEL_ARCHIVE = "model.tar.gz"  # the name SageMaker gives a training job's model


def _refusal(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` is not unpacked, or None for a regular file or folder with a relative path inside."""
    if member.issym() or member.islnk():
        return f"a link ({member.name} -> {member.linkname})"
    if not (member.isfile() or member.isdir()):
        return f"a device or FIFO ({member.name})"
    path = PurePosixPath(member.name)
    if path.is_absolute():
        return f"an absolute path ({member.name})"
    if ".." in path.parts:
        return f"a path that leaves the archive's folder ({member.name})"
    return None


def unpack(archive_path: Path, destination: Path) -> None:
    """Unpack ``archive_path`` into the existing folder ``destination``; a UserError names what is refused."""
    fix = "give the model.tar.gz as training wrote it"
    try:
        with tarfile.open(archive_path) as archive:
            for member in archive:
                refusal = _refusal(member)
                if refusal:
                    raise UserError(f"{archive_path} holds {refusal}, which is not unpacked; {fix}")
                target = destination / member.name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.extractfile(member) as source, open(target, "wb") as copy:
                    shutil.copyfileobj(source, copy)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise UserError(f"{archive_path} cannot be unpacked ({error}); {fix}") from None
