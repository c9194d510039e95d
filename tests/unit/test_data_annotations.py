"""Images + JSON annotations: labels, names, and every malformed file named in the failure file."""

import json
import re

import numpy as np
import pytest
from data_layouts import first_failure_line, write_job
from training_process import set_hyperparameters

from image_classifier import demo_data, hyperparameters
from image_classifier.data import channels
from image_classifier.environment import Environment

SIZE = 16


@pytest.fixture
def base_dir(tmp_path):
    return write_job(tmp_path / "ml", "annotation", demo_data.samples(8, SIZE, 0), demo_data.samples(4, SIZE, 1), SIZE)


def annotation_path(base_dir, number=2):
    return base_dir / "input" / "data" / "train_annotation" / f"{number:06d}.json"


def edit(base_dir, change, number=2):
    path = annotation_path(base_dir, number)
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=1))


def prepare(base_dir):
    env = Environment.load(base_dir)
    return channels.prepare(env, "train", base_dir, hyperparameters.parse(env.hyperparameters))


def test_class_from_annotations_names_from_categories(base_dir):
    record_set = prepare(base_dir)
    np.testing.assert_array_equal(record_set.labels, np.arange(8) % 4)
    assert record_set.class_names == dict(enumerate(demo_data.CLASS_NAMES))


def test_several_boxes_of_one_class_are_one_label(base_dir):
    edit(base_dir, lambda d: d["annotations"].append(dict(d["annotations"][0], left=3)))
    assert prepare(base_dir).labels[2] == 2


def test_multi_label_takes_every_class_of_the_image(base_dir):
    edit(base_dir, lambda d: d["annotations"].append(dict(d["annotations"][0], class_id=0)))
    set_hyperparameters(base_dir, multi_label=1)
    labels = prepare(base_dir).labels
    assert labels.shape == (8, 4)
    assert labels[2].tolist() == [1, 0, 1, 0] and labels[1].tolist() == [0, 1, 0, 0]


def test_unannotated_images_are_left_out_with_a_warning(base_dir, caplog):
    annotation_path(base_dir, 7).unlink()
    set_hyperparameters(base_dir, num_training_samples=7)
    assert prepare(base_dir).count == 7
    assert "1 images in" in caplog.text and "have no annotation" in caplog.text


def _break_json(base_dir):
    path = annotation_path(base_dir)
    path.write_text(path.read_text().replace('"annotations"', '"annotations" oops', 1))


BROKEN = {
    "invalid JSON": (_break_json, r"line \d+ of {file}: not valid JSON \(Expecting ':' delimiter"),
    "no file": (lambda b: edit(b, lambda d: d.pop("file")), r"{file}: \"file\" naming the image is missing"),
    "missing image": (
        lambda b: edit(b, lambda d: d.update(file="triangle/gone.png")),
        r"{file}: image file .*gone.png does not exist",
    ),
    "path leaves the channel": (
        lambda b: edit(b, lambda d: d.update(file="../validation/circle/000000.png")),
        r"{file}: image path '../validation/circle/000000.png' leaves the channel",
    ),
    "no annotations": (
        lambda b: edit(b, lambda d: d.update(annotations=[])),
        r"{file}: \"annotations\" must be a non-empty list",
    ),
    "annotation without class_id": (
        lambda b: edit(b, lambda d: d["annotations"][0].pop("class_id")),
        r"{file}, annotations\[0\].class_id is missing",
    ),
    "class_id out of range": (
        lambda b: edit(b, lambda d: d["annotations"][0].update(class_id=9)),
        r"{file}, annotations\[0\].class_id: label 9 is not a class id from 0 to 3",
    ),
    "several classes, single-label job": (
        lambda b: edit(b, lambda d: d["annotations"].append(dict(d["annotations"][0], class_id=0))),
        r"{file}: annotations name classes \[0, 2\] but multi_label is 0",
    ),
    "category renamed": (
        lambda b: edit(b, lambda d: d["categories"][0].update(name="ring")),
        r"{file}: class 0 is named 'ring' here but 'circle' in .*000000.json",
    ),
    "image annotated twice": (
        lambda b: edit(b, lambda d: d.update(file="circle/000000.png")),
        r"{file}: image .*000000.png is also annotated by .*000000.json",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_annotation_is_named_by_file(base_dir, case):
    breaks, message = BROKEN[case]
    breaks(base_dir)
    assert re.match(message.format(file=re.escape(str(annotation_path(base_dir)))), first_failure_line(base_dir))
