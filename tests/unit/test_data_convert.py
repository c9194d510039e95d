"""`image-classifier convert`: class folders, .lst, annotations and manifests to RecordIO channels train reads."""

import argparse
import json

import numpy as np
import pytest
from data_layouts import annotation, lst_text, manifest_line, write_images

from image_classifier import cli, demo_data
from image_classifier.data import convert, recordio
from image_classifier.data.spec import DataSpec
from image_classifier.environment import Channel
from image_classifier.errors import UserError

SIZE = 16


@pytest.fixture
def images(tmp_path):
    pairs = demo_data.samples(20, SIZE, 0)
    paths = write_images(tmp_path / "images", pairs)
    return tmp_path / "images", pairs, paths


def run_convert(*arguments):
    parser = argparse.ArgumentParser()
    convert.add_arguments(parser)
    return convert.run(parser.parse_args([str(argument) for argument in arguments]))


def scanned(out_dir, channel):
    return recordio.scan(Channel(channel, out_dir / channel), out_dir, DataSpec(4))


def test_class_folders_with_a_validation_split_through_the_cli(tmp_path, images, capsys):
    image_dir, _, _ = images
    arguments = ["convert", str(image_dir), str(tmp_path / "out"), "--validation-fraction", "0.25", "--seed", "3"]
    assert cli.main(arguments) == 0
    train, validation = scanned(tmp_path / "out", "train"), scanned(tmp_path / "out", "validation")
    assert (train.count, validation.count) == (15, 5)
    names = {0: "circle", 1: "cross", 2: "square", 3: "triangle"}  # folders in sorted order, as im2rec numbers them
    assert train.class_names == validation.class_names == names
    lst_lines = (tmp_path / "out" / "train" / "train.lst").read_text().splitlines()
    for line, label in zip(lst_lines, train.labels):
        index, written_label, path = line.split("\t")
        assert float(written_label) == label and names[label] == path.split("/")[0]
    assert "train: 15 images" in capsys.readouterr().out


def test_validation_fraction_1_converts_an_already_split_folder_into_validation_only(tmp_path, images, capsys):
    image_dir, _, _ = images
    assert run_convert(image_dir, tmp_path / "out", "--validation-fraction", 1) == 0
    assert scanned(tmp_path / "out", "validation").count == 20
    assert not (tmp_path / "out" / "train").exists()
    assert "validation: 20 images" in capsys.readouterr().out


def test_lst_annotations_and_manifest_sources_give_the_same_records(tmp_path, images):
    image_dir, pairs, paths = images
    (tmp_path / "train.lst").write_text(lst_text(pairs, paths))
    (tmp_path / "annotations").mkdir()
    for (label, _), path in zip(pairs, paths):
        (tmp_path / "annotations" / f"{path.split('/')[1]}.json").write_text(json.dumps(annotation(label, path, SIZE)))
    (tmp_path / "train.manifest").write_text(
        "".join(manifest_line(label, path) + "\n" for (label, _), path in zip(pairs, paths))
    )
    results = []
    for option, source in (("--lst", "train.lst"), ("--annotations", "annotations"), ("--manifest", "train.manifest")):
        out_dir = tmp_path / option.strip("-")
        assert run_convert(image_dir, out_dir, option, tmp_path / source, "--num-classes", 4) == 0
        results.append((scanned(out_dir, "train"), (out_dir / "train" / "train.rec").read_bytes()))
    for record_set, data in results:
        np.testing.assert_array_equal(record_set.labels, np.arange(20) % 4)
        assert data == results[0][1]
    assert results[1][0].class_names == results[2][0].class_names == dict(enumerate(demo_data.CLASS_NAMES))


def test_resize_option_shrinks_big_images(tmp_path):
    big = [(label, np.repeat(np.repeat(image, 4, axis=0), 4, axis=1)) for label, image in demo_data.samples(4, SIZE, 0)]
    write_images(tmp_path / "images", big)
    assert run_convert(tmp_path / "images", tmp_path / "out", "--resize", 20) == 0
    assert scanned(tmp_path / "out", "train").count == 4
    recordio.scan(Channel("train", tmp_path / "out" / "train"), tmp_path, DataSpec(4, min_size=(20, 20)))
    with pytest.raises(UserError, match="is 20x20 pixels"):
        recordio.scan(Channel("train", tmp_path / "out" / "train"), tmp_path, DataSpec(4, min_size=(21, 21)))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--lst", "missing.lst"], "--num-classes (at least 2) is needed"),
        (["--validation-fraction", "1.5"], "--validation-fraction 1.5 is not in [0, 1]"),
    ],
)
def test_errors_are_one_line_on_stderr(tmp_path, images, capsys, arguments, message):
    image_dir, _, _ = images
    assert run_convert(image_dir, tmp_path / "out", *arguments) == 1
    assert message in capsys.readouterr().err


def test_a_folder_without_class_folders(tmp_path, capsys):
    (tmp_path / "flat").mkdir()
    assert run_convert(tmp_path / "flat", tmp_path / "out") == 1
    assert "has no class sub-folders" in capsys.readouterr().err


def test_the_written_classes_json_names_the_classes_of_the_recordio_channel(tmp_path):
    demo_data.write_recordio(tmp_path / "train" / "train", demo_data.samples(4, SIZE, 0))
    (tmp_path / "train" / "classes.json").write_text('{"0": "round", "1": "box", "2": "wedge", "3": "plus"}')
    assert scanned(tmp_path, "train").class_names == {0: "round", 1: "box", 2: "wedge", 3: "plus"}
