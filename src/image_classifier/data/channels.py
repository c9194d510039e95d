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
through the same ``ImageRecordIter`` path; the free scratch space is checked first against the images' bytes
(local files; s3:// objects are not counted). Pipe mode (pipe.py) either drains the first FIFO once (a RecordIO
stream scanned as a ``.rec``, a manifest stream's records read by manifest.py and packed) or streams every pass
(stream.py: a StreamedSet instead of a RecordSet).

This module is the hub: the transport (channel_files.py for File mode, pipe.py, and s3.py inside packing)
hands bytes to a layout reader (recordio.py, lst.py, annotations.py, manifest.py), every reader and packing
check against one DataSpec (spec.py), and every channel comes out as a RecordSet (record_set.py).
"""

import dataclasses
import logging
from pathlib import Path

from .. import disk_space
from ..environment import Channel, Environment, Paths
from ..errors import UserError
from ..hyperparameters import Hyperparameters
from . import annotations, channel_config, channel_files, class_names, lst, manifest, packing, pipe, recordio, scratch
from . import stream as stream_set
from .items import IMAGE_SUFFIXES
from .record_set import RecordSet
from .spec import DataSpec

log = logging.getLogger(__name__)


def _files_by_suffix(directory):
    """The files under ``directory`` (one walk), grouped by lower-case suffix, each group sorted."""
    groups = {}
    for path in channel_files.listed(directory):
        groups.setdefault(path.suffix.lower(), []).append(path)
    return groups


def _pack(name, layout, entries, names, scratch_dir, spec):
    rec_path, index_path = scratch_dir / f"{name}.rec", scratch_dir / f"{name}.idx"
    labels, wheres = packing.pack(entries, rec_path, index_path, spec, what=f"{name} channel, {layout}")
    return RecordSet(name, (rec_path,), index_path, labels, names, wheres)


def _records_per_image(config):
    return max(2, len(config.attribute_names)) if config.record_wrapper == "RecordIO" else 1


def _copies(settings, estimate, scratch_dir):
    """Whether a Pipe channel of ``estimate`` bytes (None: unknown) is copied rather than streamed (pipe.py)."""
    if settings.mode != "auto":
        return settings.mode == "copy"
    return estimate is not None and estimate <= scratch.COPY_SHARE * disk_space.free_bytes(scratch_dir)


def _pipe(env, channel, config, scratch_dir, spec, hp):
    """A Pipe-mode channel: its first FIFO drained once into ``scratch_dir``, or a StreamedSet (see pipe.py)."""
    fifo = pipe.source(channel)
    display_name = f"the Pipe-mode stream {fifo}"
    total = hp.num_training_samples if channel.name == "train" else None
    settings = scratch.PipeSettings.read(scratch_dir)
    head, stream = pipe.peek(open(fifo, "rb"))
    estimate = pipe.estimate(head, _records_per_image(config), total and -(-total // len(env.hosts)))
    if not _copies(settings, estimate, scratch_dir):
        disk_space.refuse_unless_free(
            scratch_dir,
            settings.window,
            f"Streaming the '{channel.name}' channel ({scratch.WINDOW_ENV})",
            f"set {scratch.WINDOW_ENV} smaller",
        )
        log.info(
            "%s channel: streamed every pass, shuffled within %.1f MB of scratch space",
            channel.name,
            settings.window / 2**20,
        )
        return stream_set.StreamedSet(
            channel, config, spec, scratch_dir, settings.window, total, len(env.hosts), channel.sharded, stream
        )
    if estimate is not None:
        disk_space.refuse_unless_free(
            scratch_dir,
            estimate,
            f"A copy of the Pipe-mode '{channel.name}' channel",
            f"stream it: set {scratch.MODE_ENV}=stream",
        )
    with stream:
        if config.record_wrapper != "RecordIO":
            rec_path = scratch_dir / f"{channel.name}.rec"
            pipe.drain(stream, rec_path)
            return recordio.scan_files(channel.name, [rec_path], scratch_dir, spec, display_name)
        collector = class_names.Collector()
        entries = manifest.stream_items(
            pipe.records(stream, display_name),
            display_name,
            config.attribute_names,
            spec,
            config.label_format,
            collector,
        )
        record_set = _pack(channel.name, "Pipe-mode manifest stream", entries, {}, scratch_dir, spec)
    if not record_set.count:
        raise UserError(f"{display_name} held no records; check the channel's manifest")
    return dataclasses.replace(record_set, class_names=collector.names)


def _local_bytes(entries):
    """The bytes of the entries' local image files: what packing them writes, give or take the headers."""
    return sum(Path(entry.source).stat().st_size for entry in entries if isinstance(entry.source, Path))


def _concatenated(readings):
    """One (entries, class names) from the readings of several files; the first file's name wins a class."""
    entries, names = [], {}
    for file_entries, file_names in readings:
        entries.extend(file_entries)
        names = {**file_names, **names}
    return entries, names


def _image_layout(env, name, channel, config, spec):
    """(layout, [(entries, class names) per file]) when the channel holds an image layout; None for RecordIO."""
    if f"{name}_lst" in env.channels:
        lists = channel_files.listed(env.channel(f"{name}_lst").path, (".lst",))
        if not lists:
            raise UserError(f"The '{name}_lst' channel holds no .lst file; put the list of the '{name}' images there")
        return "images + .lst", [lst.read(path, channel.path, spec) for path in lists]
    if f"{name}_annotation" in env.channels:
        annotation_dir = env.channel(f"{name}_annotation").path
        return "images + JSON annotations", [annotations.read(annotation_dir, channel.path, spec)]
    files = _files_by_suffix(channel.path)
    if ".rec" in files:
        return None
    if manifests := sorted(path for suffix in manifest.SUFFIXES for path in files.get(suffix, [])):
        return "an augmented manifest", [
            manifest.read(path, channel.path, config.attribute_names, spec, config.label_format) for path in manifests
        ]
    if ".lst" in files:
        return "images + .lst", [lst.read(path, channel.path, spec) for path in files[".lst"]]
    if any(suffix in files for suffix in IMAGE_SUFFIXES):
        raise UserError(
            f"The '{name}' channel holds images but nothing that labels them: add a '{name}_lst' channel or a .lst "
            f"in this one, a '{name}_annotation' channel, or a manifest; or make RecordIO with "
            f"'image-classifier convert'"
        )
    return None


def prepare(
    env: Environment, name: str, scratch_dir: str | Path, hp: Hyperparameters
) -> RecordSet | stream_set.StreamedSet:
    """The channel ``name`` of ``env`` checked against ``hp``; scratch files go to ``scratch_dir``."""
    scratch_dir = Path(scratch_dir)
    spec = DataSpec.from_hyperparameters(hp)
    config = channel_config.read(env, name)
    declared = env.channels.get(name)
    if declared is not None and declared.input_mode == "Pipe":
        return _pipe(env, declared, config, scratch_dir, spec, hp)
    return _file_mode(env, name, config, scratch_dir, spec)


def read_folder(folder: Path, name: str, scratch_dir: str | Path, spec: DataSpec) -> RecordSet:
    """A folder laid out as a File-mode channel (RecordIO, images + .lst, a manifest) as a RecordSet named
    ``name``: the same readers and checks as a training channel, for a folder outside a job."""
    env = Environment(Paths(Path(folder)), {}, {name: Channel(name, Path(folder))})
    return _file_mode(env, name, channel_config.read(env, name), Path(scratch_dir), spec)


def _file_mode(env, name, config, scratch_dir, spec):
    channel = env.channel(name)
    found = _image_layout(env, name, channel, config, spec)
    if found is None:
        return recordio.scan(channel, scratch_dir, spec)
    layout, readings = found
    entries, names = _concatenated(readings)
    disk_space.refuse_unless_free(
        scratch_dir,
        _local_bytes(entries),
        f"Packing the '{name}' channel ({layout})",
        f"stream it from RecordIO in Pipe mode ({scratch.MODE_ENV}=stream)",
    )
    return _pack(name, layout, entries, names, scratch_dir, spec)
