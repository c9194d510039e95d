"""Augmented manifests in File mode: local and s3:// images (moto's S3 on 127.0.0.1), labels, names, errors."""

import json
import re

import numpy as np
import pytest
import s3_stand_in
from data_layouts import first_failure_line, manifest_line, replace_line, write_job
from training_process import set_hyperparameters

from image_classifier import demo_data, hyperparameters
from image_classifier.data import channels
from image_classifier.environment import Environment

SIZE = 16
BUCKET = "training-images"


@pytest.fixture
def base_dir(tmp_path):
    return write_job(tmp_path / "ml", "manifest", demo_data.samples(8, SIZE, 0), demo_data.samples(4, SIZE, 1), SIZE)


@pytest.fixture(scope="module")
def s3_server():
    with s3_stand_in.server() as environ:
        yield environ


@pytest.fixture
def bucket(s3_server, monkeypatch):
    """An empty bucket on the S3 stand-in, and boto3 pointed at it."""
    with s3_stand_in.bucket(s3_server, BUCKET, monkeypatch) as client:
        yield client


def manifest_path(base_dir):
    return base_dir / "input" / "data" / "train" / "train.manifest"


def prepare(base_dir):
    env = Environment.load(base_dir)
    return channels.prepare(env, "train", base_dir, hyperparameters.parse(env.hyperparameters))


def set_channel(base_dir, **changes):
    path = base_dir / "input" / "config" / "inputdataconfig.json"
    config = json.loads(path.read_text())
    config["train"].update(changes)
    for name in [name for name, value in config["train"].items() if value is None]:
        del config["train"][name]
    path.write_text(json.dumps(config))


def rewrite(base_dir, change):
    """Every manifest line's JSON object passed through ``change(number, document)``."""
    lines = manifest_path(base_dir).read_text().splitlines()
    documents = [json.loads(line) for line in lines]
    for number, document in enumerate(documents):
        change(number, document)
    manifest_path(base_dir).write_text("".join(json.dumps(document) + "\n" for document in documents))


def test_relative_source_refs_labels_and_names(base_dir):
    record_set = prepare(base_dir)
    np.testing.assert_array_equal(record_set.labels, np.arange(8) % 4)
    assert record_set.class_names == dict(enumerate(demo_data.CLASS_NAMES))


def test_attribute_names_default_to_source_ref_and_the_one_label(base_dir):
    set_channel(base_dir, AttributeNames=None)
    np.testing.assert_array_equal(prepare(base_dir).labels, np.arange(8) % 4)


def test_other_attribute_names(base_dir):
    rewrite(
        base_dir,
        lambda _, d: d.update(
            {"image-ref": d.pop("source-ref"), "shape": int(d.pop("class")), "shape-metadata": d.pop("class-metadata")}
        ),
    )
    set_channel(base_dir, AttributeNames=["image-ref", "shape"])
    record_set = prepare(base_dir)
    np.testing.assert_array_equal(record_set.labels, np.arange(8) % 4)
    assert record_set.class_names == dict(enumerate(demo_data.CLASS_NAMES))


def test_s3_images_are_fetched(base_dir, bucket):
    channel_dir = base_dir / "input" / "data" / "train"

    def to_s3(_, document):
        bucket.put_object(
            Bucket=BUCKET,
            Key=f"shapes/{document['source-ref']}",
            Body=(channel_dir / document["source-ref"]).read_bytes(),
        )
        document["source-ref"] = f"s3://{BUCKET}/shapes/{document['source-ref']}"

    rewrite(base_dir, to_s3)
    for path in channel_dir.glob("*/*.png"):
        path.unlink()
    record_set = prepare(base_dir)
    np.testing.assert_array_equal(record_set.labels, np.arange(8) % 4)


def test_missing_s3_object_names_line_and_object(base_dir, bucket):
    rewrite(base_dir, lambda n, d: d.update({"source-ref": f"s3://{BUCKET}/missing-{n}.png"}))
    assert re.match(
        rf"line 1 of {re.escape(str(manifest_path(base_dir)))}: cannot read s3://{BUCKET}/missing-0.png "
        rf"\(NoSuchKey: .*\); check that the object exists and that the job's role may read it",
        first_failure_line(base_dir),
    )


def test_multi_label_multi_hot_and_class_ids(base_dir):
    set_hyperparameters(base_dir, multi_label=1)
    names = demo_data.CLASS_NAMES
    rewrite(
        base_dir,
        lambda n, d: d.update(
            {"class": [n % 4, (n + 1) % 4], "class-metadata": {"class-map": {str(n % 4): names[n % 4]}}}
        ),
    )
    set_channel(base_dir, ContentType="application/x-image; label-format=class-id")
    record_set = prepare(base_dir)
    assert record_set.labels[1].tolist() == [0, 1, 1, 0]
    assert record_set.class_names == dict(enumerate(demo_data.CLASS_NAMES))
    rewrite(base_dir, lambda n, d: d.update({"class": json.dumps([1 if c == n % 4 else 0 for c in range(4)])}))
    set_channel(base_dir, ContentType="application/x-image")
    assert prepare(base_dir).labels[1].tolist() == [0, 1, 0, 0]


BROKEN_LINE_3 = {  # line 3 holds image 2, class 2
    "not JSON": ('{"source-ref": "triangle/000002.png", "class": 2', "not valid JSON \\(Expecting ',' delimiter"),
    "not an object": ('["triangle/000002.png", 2]', "a JSON list, not an object"),
    "no label": ('{"source-ref": "triangle/000002.png"}', "no 'class' attribute"),
    "label out of range": (
        manifest_line(2, "triangle/000002.png").replace('"2"', '"12"', 1),
        "label 12 is not a class id from 0 to 3",
    ),
    "list label, single-label job": (
        '{"source-ref": "triangle/000002.png", "class": [2]}',
        "the label \\[2\\] is a list; set multi_label=1",
    ),
    "missing image": (manifest_line(2, "triangle/gone.png"), "image file .*gone.png does not exist"),
    "path leaves the channel": (manifest_line(2, "../validation/circle/000000.png"), "image path .* leaves"),
    "not an S3 object": (manifest_line(2, "s3://bucket-only"), "'s3://bucket-only' is not an S3 object URI"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_LINE_3))
def test_broken_line_is_named_by_file_and_line(base_dir, case):
    text, message = BROKEN_LINE_3[case]
    replace_line(manifest_path(base_dir), 3, text)
    assert re.match(rf"line 3 of {re.escape(str(manifest_path(base_dir)))}: {message}", first_failure_line(base_dir))


def test_multi_hot_of_the_wrong_length_suggests_class_ids(base_dir):
    set_hyperparameters(base_dir, multi_label=1)
    rewrite(base_dir, lambda n, d: d.update({"class": [1, 0, 0, 0] if n != 2 else [0, 2]}))
    assert re.match(
        rf"line 3 of {re.escape(str(manifest_path(base_dir)))}: 2 labels where num_classes=4 multi-hot "
        rf"values are needed; for lists of class ids add '; label-format=class-id'",
        first_failure_line(base_dir),
    )


def test_ambiguous_attributes_ask_for_attribute_names(base_dir):
    set_channel(base_dir, AttributeNames=None)
    rewrite(base_dir, lambda _, d: d.update(other="x"))
    assert re.match(
        rf"line 1 of {re.escape(str(manifest_path(base_dir)))}: cannot tell the image and label "
        rf"attributes apart",
        first_failure_line(base_dir),
    )


def test_attribute_names_must_start_with_a_ref(base_dir):
    set_channel(base_dir, AttributeNames=["class", "source-ref"])
    assert first_failure_line(base_dir).startswith(
        "AttributeNames ['class', 'source-ref'] must list the image's '-ref'"
    )
