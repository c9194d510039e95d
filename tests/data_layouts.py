"""One small data set (demo_data's shapes) written in every layout `train` reads, and Pipe-mode FIFOs to feed.

Layouts: RecordIO, images + .lst (in a <channel>_lst channel), images + JSON annotations (a
<channel>_annotation channel), an augmented manifest (File mode), and the Pipe-mode streams of a .rec and
of a manifest (RecordIO-wrapped image and label records) written into FIFOs by a thread. Also: a channel
prepared through `train`'s failure funnel, for the error tests.
"""

import json
import os
import tempfile
import threading
from pathlib import Path

from mxnet import recordio

from image_classifier import demo_data, failure, hyperparameters, image_ops
from image_classifier.data import channels
from image_classifier.environment import Environment

IMAGE_TYPE = "application/x-image"
RECORDIO_TYPE = "application/x-recordio"
FORMATS = {".png": "PNG", ".jpg": "JPEG"}


def write_images(image_dir, pairs, suffix=".png"):
    """Each (label, RGB image) as image_dir/<class name>/<index><suffix>; returns the relative paths."""
    paths = []
    for index, (label, image) in enumerate(pairs):
        relative = f"{demo_data.CLASS_NAMES[label]}/{index:06d}{suffix}"
        target = Path(image_dir) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(image_ops.encode(image, FORMATS[suffix]))
        paths.append(relative)
    return paths


def lst_text(pairs, paths):
    return "".join(f"{index}\t{label:.6f}\t{path}\n" for index, ((label, _), path) in enumerate(zip(pairs, paths)))


def annotation(label, path, size):
    return {
        "file": path,
        "image_size": [{"width": size, "height": size, "depth": 3}],
        "annotations": [{"class_id": label, "left": 0, "top": 0, "width": size, "height": size}],
        "categories": [{"class_id": number, "name": name} for number, name in enumerate(demo_data.CLASS_NAMES)],
    }


def manifest_line(label, reference):
    metadata = {"class-name": demo_data.CLASS_NAMES[label], "type": "groundtruth/image-classification"}
    return json.dumps({"source-ref": reference, "class": str(label), "class-metadata": metadata})


def write_channel(data_dir, channel, layout, pairs, size):
    """The channel (and its companion channel) in ``layout``; returns their inputdataconfig entries."""
    channel_dir = Path(data_dir) / channel
    file_mode = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
    if layout == "recordio":
        demo_data.write_recordio(channel_dir / channel, pairs)
        return {channel: {"ContentType": RECORDIO_TYPE, **file_mode}}
    paths = write_images(channel_dir, pairs)
    if layout == "lst":
        (Path(data_dir) / f"{channel}_lst").mkdir(parents=True)
        (Path(data_dir) / f"{channel}_lst" / f"{channel}.lst").write_text(lst_text(pairs, paths))
        return {name: {"ContentType": IMAGE_TYPE, **file_mode} for name in (channel, f"{channel}_lst")}
    if layout == "annotation":
        annotation_dir = Path(data_dir) / f"{channel}_annotation"
        annotation_dir.mkdir(parents=True)
        for (label, _), path in zip(pairs, paths):
            (annotation_dir / f"{Path(path).stem}.json").write_text(json.dumps(annotation(label, path, size)))
        return {name: {"ContentType": IMAGE_TYPE, **file_mode} for name in (channel, f"{channel}_annotation")}
    if layout == "manifest":
        lines = [manifest_line(label, path) for (label, _), path in zip(pairs, paths)]
        (channel_dir / f"{channel}.manifest").write_text("\n".join(lines) + "\n")
        return {channel: {"ContentType": IMAGE_TYPE, "AttributeNames": ["source-ref", "class"], **file_mode}}
    raise ValueError(layout)


def write_job(base_dir, layout, train_pairs, validation_pairs, size, **hyperparameters):
    """A whole /opt/ml tree with both channels in ``layout`` (demo_data's config files, channels replaced)."""
    base_dir = Path(base_dir)
    demo_data.write_job(base_dir, 1, 1, size, **{"num_training_samples": len(train_pairs), **hyperparameters})
    data_dir = base_dir / "input" / "data"
    for channel in ("train", "validation"):
        for path in (data_dir / channel).iterdir():
            path.unlink()
        (data_dir / channel).rmdir()
    config = {}
    for channel, pairs in (("train", train_pairs), ("validation", validation_pairs)):
        config.update(write_channel(data_dir, channel, layout, pairs, size))
    (base_dir / "input" / "config" / "inputdataconfig.json").write_text(json.dumps(config, indent=1))
    return base_dir


def recordio_bytes(path, records):
    """``records`` (bytes each) framed as MXNet's RecordIO writer frames them, written to ``path`` and returned."""
    writer = recordio.MXRecordIO(str(path), "w")
    for record in records:
        writer.write(record)
    writer.close()
    return Path(path).read_bytes()


def recordio_stream(pairs, tmp_dir):
    """The bytes SageMaker streams for a RecordIO channel: its .rec file."""
    return recordio_bytes(
        Path(tmp_dir) / "stream.rec",
        (
            recordio.pack(recordio.IRHeader(0, float(label), index, 0), image_ops.encode(image, "PNG"))
            for index, (label, image) in enumerate(pairs)
        ),
    )


def manifest_stream(pairs, tmp_dir, with_metadata=False):
    """The bytes of an augmented manifest's Pipe stream: per image a record of its bytes, one of its label text."""

    def records():
        for label, image in pairs:
            yield image_ops.encode(image, "PNG")
            yield str(label).encode()
            if with_metadata:
                yield json.dumps({"class-name": demo_data.CLASS_NAMES[label]}).encode()

    return recordio_bytes(Path(tmp_dir) / "manifest-stream.rec", records())


def pipe_config(record_wrapper, attribute_names=None):
    entry = {
        "ContentType": RECORDIO_TYPE,
        "TrainingInputMode": "Pipe",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": record_wrapper,
    }
    if attribute_names:
        entry["AttributeNames"] = attribute_names
    return {"train": entry, "validation": entry}


class Fifos:
    """FIFOs as SageMaker makes them in Pipe mode: ``<channel>_0``, ``<channel>_1``, ... in ``data_dir``, one per
    stream given for the channel (bytes: one FIFO; a list: one each), each written whole by its own thread once
    a reader opens it (the writer blocks until then). ``finished`` lists the FIFOs whose writes completed."""

    def __init__(self, data_dir, streams):
        self.paths, self.threads, self.finished, self.closing = [], [], [], False
        for channel, data in streams.items():
            for number, epoch_data in enumerate([data] if isinstance(data, bytes) else data):
                path = Path(data_dir) / f"{channel}_{number}"
                path.parent.mkdir(parents=True, exist_ok=True)
                os.mkfifo(path)
                thread = threading.Thread(target=self._feed, args=(path, epoch_data), daemon=True)
                thread.start()
                self.paths.append(path)
                self.threads.append(thread)

    def _feed(self, path, data):
        try:
            with open(path, "wb") as fifo:
                fifo.write(data)
            if not self.closing:  # not a writer that close() released
                self.finished.append(path.name)
        except BrokenPipeError:  # the reader stopped early (a failing job)
            pass

    def close(self):
        """Release writers whose reader never came (a job that failed first), then wait for every thread."""
        self.closing = True
        for path, thread in zip(self.paths, self.threads):
            if not thread.is_alive():
                continue
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            try:
                while thread.is_alive():
                    try:
                        os.read(descriptor, 1 << 20)
                    except BlockingIOError:
                        pass
                    thread.join(0.01)
            finally:
                os.close(descriptor)


def first_failure_line(base_dir):
    """Both channels prepared as `train` prepares them, through its failure funnel: the failure file's first line."""
    env = Environment.load(base_dir)

    def load():
        hp = hyperparameters.parse(env.hyperparameters)
        with tempfile.TemporaryDirectory() as scratch_dir:
            for name in ("train", "validation"):
                channels.prepare(env, name, scratch_dir, hp)

    assert failure.run(env.paths, load) == failure.USER_ERROR_EXIT
    return env.paths.failure_file.read_text().splitlines()[0]


def replace_line(path, number, text):
    """Line ``number`` (1-based) of the text file ``path`` replaced by ``text``."""
    lines = Path(path).read_text().splitlines()
    lines[number - 1] = text
    Path(path).write_text("\n".join(lines) + "\n")
