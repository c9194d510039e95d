"""A channel, whatever its layout, as a RecordSet that ``ImageRecordIter`` reads.

File and FastFile mode, by what the channels hold (first match wins):

==================  ============================================  =========================================
layout              where                                         how
==================  ============================================  =========================================
images + .lst       a ``<name>_lst`` channel of .lst files         packed to RecordIO in the scratch dir
images + JSON       a ``<name>_annotation`` channel                packed
RecordIO            .rec files in the channel                      scanned in place (recordio.py)
manifest            .manifest or .jsonl files in the channel       packed, s3:// images fetched
images + .lst       .lst files in the channel itself               packed
==================  ============================================  =========================================

Packing (packing.py) writes one ``.rec`` and ``.idx`` in the scratch directory, so every layout trains
through the same ``ImageRecordIter`` path. Pipe mode: see pipe.py.
"""

from pathlib import Path

from ..errors import UserError
from . import annotations, channel_config, channel_files, lst, manifest, packing, pipe, recordio
from .items import IMAGE_SUFFIXES


def _files_by_suffix(directory):
    """The files under ``directory`` (one walk), grouped by lower-case suffix, each group sorted."""
    groups = {}
    for path in channel_files.listed(directory):
        groups.setdefault(path.suffix.lower(), []).append(path)
    return groups


def _pack(name, layout, entries, class_names, scratch_dir, min_size, resize):
    rec_path, index_path = scratch_dir / f"{name}.rec", scratch_dir / f"{name}.idx"
    labels, sources = packing.pack(entries, rec_path, index_path, min_size, resize, what=f"{name} channel, {layout}")
    return recordio.RecordSet(name, (rec_path,), index_path, labels, class_names, sources)


def _concatenated(readings):
    """One (entries, class names) from the readings of several files; the first file's name wins a class."""
    entries, names = [], {}
    for file_entries, file_names in readings:
        entries.extend(file_entries)
        names = {**file_names, **names}
    return entries, names


def _image_layout(env, name, channel, config, hp):
    """(layout, [(entries, class names) per file]) when the channel holds an image layout; None for RecordIO."""
    if f"{name}_lst" in env.channels:
        lists = channel_files.listed(env.channel(f"{name}_lst").path, (".lst",))
        if not lists:
            raise UserError(f"The '{name}_lst' channel holds no .lst file; put the list of the '{name}' images there")
        return "images + .lst", [lst.read(path, channel.path, hp.num_classes, hp.multi_label) for path in lists]
    if f"{name}_annotation" in env.channels:
        annotation_dir = env.channel(f"{name}_annotation").path
        return "images + JSON annotations", [
            annotations.read(annotation_dir, channel.path, hp.num_classes, hp.multi_label)
        ]
    files = _files_by_suffix(channel.path)
    if ".rec" in files:
        return None
    if manifests := sorted(path for suffix in manifest.SUFFIXES for path in files.get(suffix, [])):
        return "an augmented manifest", [
            manifest.read(
                path, channel.path, config.attribute_names, hp.num_classes, hp.multi_label, config.label_format
            )
            for path in manifests
        ]
    if ".lst" in files:
        return "images + .lst", [lst.read(path, channel.path, hp.num_classes, hp.multi_label) for path in files[".lst"]]
    if any(suffix in files for suffix in IMAGE_SUFFIXES):
        raise UserError(
            f"The '{name}' channel holds images but nothing that labels them: add a '{name}_lst' channel or a .lst "
            f"in this one, a '{name}_annotation' channel, or a manifest; or make RecordIO with "
            f"'image-classifier convert'"
        )
    return None


def prepare(env, name, scratch_dir, hp):
    """The channel ``name`` of ``env`` checked against ``hp``; scratch files go to ``scratch_dir``."""
    scratch_dir = Path(scratch_dir)
    min_size = None if hp.resize else hp.image_shape[1:]
    config = channel_config.read(env, name)
    declared = env.channels.get(name)
    if declared is not None and declared.input_mode == "Pipe":
        return pipe.prepare(declared, config, scratch_dir, hp.num_classes, hp.multi_label, min_size, hp.resize)
    channel = env.channel(name)
    found = _image_layout(env, name, channel, config, hp)
    if found is None:
        return recordio.scan(channel, scratch_dir, hp.num_classes, hp.multi_label, min_size)
    layout, readings = found
    entries, class_names = _concatenated(readings)
    return _pack(name, layout, entries, class_names, scratch_dir, min_size, hp.resize)
