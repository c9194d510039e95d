"""The one rule for the files a channel's readers open: each must lie inside the channel.

A symbolic link in a channel that resolves outside it (``train/x.jpg -> /etc/passwd``) is refused by name,
never opened. Every reader gets its files through here: listing a channel (``.rec``, ``.lst``, manifests,
JSON annotations) with ``listed``, and a path a list, annotation or manifest names with ``inside``.
"""

from collections.abc import Collection
from pathlib import Path

from ..errors import UserError


def inside(root: str | Path, path: str | Path, where: str | None = None) -> Path:
    """``path`` when it resolves (following every link) inside the channel folder ``root``; else the error."""
    path = Path(path)
    real, real_root = path.resolve(), Path(root).resolve()
    if not real.is_relative_to(real_root):
        raise UserError(
            f"{where or path}: {path} leads outside the channel {root} (a symbolic link to {real}); copy the "
            f"file into the channel instead of linking to it"
        )
    return path


def listed(root: str | Path, suffixes: Collection[str] | None = None) -> list[Path]:
    """The files under ``root`` (sorted; with ``suffixes``, only those, in any case), each checked by ``inside``."""
    found = sorted(
        path
        for path in Path(root).rglob("*")
        if (suffixes is None or path.suffix.lower() in suffixes) and path.is_file()
    )
    return [inside(root, path) for path in found]
