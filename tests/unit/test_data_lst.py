"""Images + .lst: what is read, and every malformed line named by file and line in the failure file."""

import re
from pathlib import Path

import numpy as np
import pytest
from data_layouts import first_failure_line, replace_line, write_job
from training_process import set_hyperparameters

from image_classifier import demo_data, hyperparameters
from image_classifier.data import channels, iterators, lst
from image_classifier.data.spec import DataSpec
from image_classifier.environment import Environment
from image_classifier.errors import UserError
from image_classifier.model.preprocessing import Preprocessing

SIZE = 16


@pytest.fixture
def base_dir(tmp_path):
    return write_job(tmp_path / "ml", "lst", demo_data.samples(8, SIZE, 0), demo_data.samples(4, SIZE, 1), SIZE)


def lst_path(base_dir):
    return base_dir / "input" / "data" / "train_lst" / "train.lst"


def prepare(base_dir, name="train", scratch_dir=None):
    env = Environment.load(base_dir)
    return channels.prepare(env, name, scratch_dir or base_dir, hyperparameters.parse(env.hyperparameters))


def test_lst_channel_labels_and_class_names(base_dir):
    record_set = prepare(base_dir)
    assert record_set.count == 8
    np.testing.assert_array_equal(record_set.labels, np.arange(8) % 4)
    assert record_set.class_names == dict(enumerate(demo_data.CLASS_NAMES))
    assert record_set.wheres[2] == f"line 3 of {lst_path(base_dir)}"


def test_lst_inside_the_image_channel_with_crlf_blank_lines_and_integer_labels(base_dir):
    text = lst_path(base_dir).read_text().replace(".000000", "")
    (base_dir / "input" / "data" / "train" / "train.lst").write_text("\r\n".join(text.splitlines()) + "\r\n\r\n")
    (base_dir / "input" / "config" / "inputdataconfig.json").unlink()  # local run: the folders are the channels
    lst_path(base_dir).unlink()
    lst_path(base_dir).parent.rmdir()
    np.testing.assert_array_equal(prepare(base_dir).labels, np.arange(8) % 4)


def test_classes_json_beside_the_list_names_the_classes(base_dir):
    (lst_path(base_dir).parent / "classes.json").write_text('{"0": "round", "1": "box", "2": "wedge", "3": "plus"}')
    assert prepare(base_dir).class_names == {0: "round", 1: "box", 2: "wedge", 3: "plus"}


def test_multi_label_lines(base_dir):
    lines = [
        f"{i}\t" + "\t".join("1" if c in (i % 4, (i + 1) % 4) else "0" for c in range(4)) + f"\t{path}"
        for i, path in enumerate(line.split("\t")[2] for line in lst_path(base_dir).read_text().splitlines())
    ]
    lst_path(base_dir).write_text("\n".join(lines) + "\n")
    set_hyperparameters(base_dir, multi_label=1)
    record_set = prepare(base_dir)
    assert record_set.labels.shape == (8, 4) and record_set.labels.sum(axis=1).tolist() == [2.0] * 8
    assert record_set.class_names == {}  # folders name one class a line only


def test_packed_records_read_back_through_image_record_iter(base_dir):
    record_set = prepare(base_dir)
    iterator = iterators.record_iter(record_set, Preprocessing.for_training((3, SIZE, SIZE), None), 4, train=False)
    labels = np.concatenate([label.asnumpy()[:valid] for _, label, valid in iterators.batches(iterator, record_set)])
    np.testing.assert_array_equal(labels, np.arange(8) % 4)


def test_undecodable_image_is_named_by_its_line(base_dir):
    image = base_dir / "input" / "data" / "train" / "triangle" / "000006.png"
    data = bytearray(image.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 16] = b"\xff" * 16  # pixels broken, header intact
    image.write_bytes(bytes(data))
    record_set = prepare(base_dir)
    # not in the first batch, which ImageRecordIter's constructor already decodes
    iterator = iterators.record_iter(record_set, Preprocessing.for_training((3, SIZE, SIZE), None), 2, train=False)
    expected = rf"^line 7 of {re.escape(str(lst_path(base_dir)))}: the image cannot be decoded"
    with pytest.raises(UserError, match=expected):
        list(iterators.batches(iterator, record_set))


def test_write_then_read_round_trip(tmp_path, base_dir):
    entries, _ = lst.read(lst_path(base_dir), base_dir / "input" / "data" / "train", DataSpec(4))
    lst.write(tmp_path / "copy.lst", entries, base_dir / "input" / "data" / "train")
    assert (tmp_path / "copy.lst").read_text() == lst_path(base_dir).read_text()


MULTI_HOT_LINE_3 = "2\t0\t0\t1\t1\ttriangle/000002.png"
BROKEN_LINE_3 = {  # the original line 3 is "2\t2.000000\ttriangle/000002.png"
    "spaces, not tabs": ("2 2 triangle/000002.png", "1 tab-separated field\\(s\\) where"),
    "index not an integer": ("two\t2\ttriangle/000002.png", "index 'two' is not an integer"),
    "duplicate index": ("1\t2\ttriangle/000002.png", "index 1 is also on line 2"),
    "label out of range": ("2\t7\ttriangle/000002.png", "label 7 is not a class id from 0 to 3"),
    "label not a number": ("2\ttriangle\ttriangle/000002.png", "label 'triangle' is not a number"),
    "fractional label": ("2\t1.5\ttriangle/000002.png", "label 1.5 is not a class id"),
    "several labels, single-label job": (MULTI_HOT_LINE_3, "4 labels but multi_label is 0"),
    "missing image": ("2\t2\ttriangle/gone.png", "image file .*gone.png does not exist"),
    "path with ..": ("2\t2\t../validation/circle/000000.png", "image path '../validation/circle/000000.png' leaves"),
    "absolute path": ("2\t2\t/etc/hostname", "image path '/etc/hostname' leaves the channel directory"),
    "not an image": ("2\t2\tnotes.png", "image .*notes.png is not an image"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_LINE_3))
def test_broken_line_is_named_by_file_and_line(base_dir, case):
    text, message = BROKEN_LINE_3[case]
    (base_dir / "input" / "data" / "train" / "notes.png").write_text("not an image")
    replace_line(lst_path(base_dir), 3, text)
    assert re.match(rf"line 3 of {re.escape(str(lst_path(base_dir)))}: {message}", first_failure_line(base_dir))


@pytest.mark.parametrize(
    "text, message",
    [
        ("2\t0\t1\ttriangle/000002.png", "2 labels, but multi_label=1 with num_classes=4 needs 4 multi-hot values"),
        ("2\t0\t2\t0\t0\ttriangle/000002.png", "multi-hot labels must each be 0 or 1"),
    ],
)
def test_broken_multi_label_line_is_named(base_dir, text, message):
    lines = lst_path(base_dir).read_text().splitlines()
    paths = [line.split("\t")[2] for line in lines]
    lst_path(base_dir).write_text("".join(f"{i}\t0\t0\t1\t1\t{path}\n" for i, path in enumerate(paths)))
    replace_line(lst_path(base_dir), 3, text)
    set_hyperparameters(base_dir, multi_label=1)
    assert re.match(rf"line 3 of {re.escape(str(lst_path(base_dir)))}: {message}", first_failure_line(base_dir))


def test_image_smaller_than_image_shape_is_named(base_dir):
    set_hyperparameters(base_dir, image_shape="3,32,32")
    assert re.match(
        rf"line 1 of {re.escape(str(lst_path(base_dir)))}: image .*000000.png is 16x16 pixels, smaller "
        rf"than image_shape 32x32; set resize=32",
        first_failure_line(base_dir),
    )


def test_images_without_labels_say_what_to_add(base_dir):
    for path in (base_dir / "input" / "data").glob("*_lst"):
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    (base_dir / "input" / "config" / "inputdataconfig.json").unlink()
    assert first_failure_line(base_dir).startswith(
        "The 'train' channel holds images but nothing that labels them: add a 'train_lst' channel"
    )


def test_empty_lst_channel(base_dir):
    lst_path(base_dir).unlink()
    assert first_failure_line(base_dir).startswith("The 'train_lst' channel holds no .lst file")


def test_paths_are_relative_to_the_image_channel(base_dir):
    entries, _ = lst.read(lst_path(base_dir), base_dir / "input" / "data" / "train", DataSpec(4))
    assert entries[0].source == base_dir / "input" / "data" / "train" / "circle" / "000000.png"
    assert isinstance(entries[0].source, Path)
