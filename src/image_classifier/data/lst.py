"""Image lists (``.lst``) as MXNet's im2rec writes them: ``index<TAB>label<TAB>path``, one image a line.

Multi-label lines (``multi_label=1``) carry num_classes multi-hot values: ``index<TAB>0<TAB>1<TAB>...<TAB>path``.
Labels may be written ``1`` or ``1.000000``. Paths are relative to the image channel's root. Parsing is
strict: a line that is not index, label(s) and path separated by tabs, a repeated index, a label that is
not a class id below num_classes, a path that leaves the channel, or a missing image file is an error
naming the file and line; nothing is skipped but empty lines.
"""

from collections.abc import Iterable
from pathlib import Path

from ..errors import UserError
from . import class_names, items
from .items import Item
from .spec import DataSpec


def _text(lst_path):
    try:
        return Path(lst_path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{lst_path} is not UTF-8 text (byte {error.start}); save the list as UTF-8") from None


def _index(text, where):
    try:
        return int(text)
    except ValueError:
        raise UserError(f"{where}: index '{text}' is not an integer; start each line with a whole number") from None


def _label(fields, spec, where):
    if spec.multi_label:
        return spec.multi_hot(fields, where)
    if len(fields) != 1:
        raise UserError(
            f"{where}: {len(fields)} labels but multi_label is 0; write one class id per line, or set "
            f"multi_label=1 for multi-hot lines"
        )
    return spec.class_id(fields[0], where)


def read(lst_path: str | Path, image_root: Path, spec: DataSpec) -> tuple[list[Item], dict[int, str]]:
    """The list's entries as Items, and the class names its folders or a classes.json beside it give."""
    entries, lines_of_index, folder_pairs = [], {}, []
    for number, line in enumerate(_text(lst_path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number} of {lst_path}"
        fields = line.split("\t")
        if len(fields) < 3:
            raise UserError(
                f"{where}: {len(fields)} tab-separated field(s) where index<TAB>label<TAB>path needs 3; "
                f"separate the fields with tabs, not spaces"
            )
        index = _index(fields[0].strip(), where)
        if index in lines_of_index:
            raise UserError(
                f"{where}: index {index} is also on line {lines_of_index[index]}; give every line its own index"
            )
        lines_of_index[index] = number
        label = _label(fields[1:-1], spec, where)
        path = items.image_in(image_root, fields[-1], where)
        entries.append(Item(where, path, label))
        folder_pairs.append((label, fields[-1].strip()))
    if not entries:
        raise UserError(f"{lst_path} lists no images; add lines index<TAB>label<TAB>path")
    names = class_names.read_file(Path(lst_path).parent)
    if not names and not spec.multi_label:
        names = class_names.from_folders(folder_pairs)
    return entries, names


def write(lst_path: str | Path, entries: Iterable[Item], image_root: Path) -> None:
    """An im2rec-style list of ``entries`` (Items), paths relative to ``image_root`` (s3:// URIs as they are)."""
    lines = []
    for index, entry in enumerate(entries):
        labels = entry.label if hasattr(entry.label, "__len__") else [entry.label]
        path = entry.source.relative_to(image_root).as_posix() if isinstance(entry.source, Path) else entry.source
        lines.append("\t".join([str(index), *(f"{float(value):f}" for value in labels), path]) + "\n")
    Path(lst_path).write_text("".join(lines), encoding="utf-8")
