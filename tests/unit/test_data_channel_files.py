"""Symbolic links inside a channel that resolve outside it are refused by name, whatever reader meets them."""

import shutil

import pytest
from data_layouts import write_job

from image_classifier import demo_data, hyperparameters
from image_classifier.data import channels
from image_classifier.environment import Environment
from image_classifier.errors import UserError

SIZE = 16


def prepare(base_dir):
    env = Environment.load(base_dir)
    return channels.prepare(env, "train", base_dir / "scratch", hyperparameters.parse(env.hyperparameters))


def job(tmp_path, layout):
    base_dir = write_job(tmp_path / "ml", layout, demo_data.samples(8, SIZE, 0), demo_data.samples(4, SIZE, 1), SIZE)
    (base_dir / "scratch").mkdir()
    return base_dir


def link_elsewhere(path, target_dir):
    """Move ``path`` to ``target_dir`` and leave a symbolic link to it in its place."""
    target_dir.mkdir(exist_ok=True)
    moved = target_dir / path.name
    shutil.move(path, moved)
    path.symlink_to(moved)
    return path


@pytest.mark.parametrize(
    "layout, linked",
    [
        ("lst", "train/circle/000000.png"),  # an image a .lst names
        ("lst", "train_lst/train.lst"),  # the .lst itself
        ("annotation", "train/circle/000000.png"),  # an image a JSON annotation names
        ("annotation", "train_annotation/000000.json"),  # the annotation
        ("manifest", "train/circle/000000.png"),  # an image a manifest's relative source-ref names
        ("manifest", "train/train.manifest"),  # the manifest
        ("recordio", "train/train.rec"),  # a RecordIO file
    ],
)
def test_a_link_leading_outside_the_channel_is_refused_by_name(tmp_path, layout, linked):
    base_dir = job(tmp_path, layout)
    link = link_elsewhere(base_dir / "input" / "data" / linked, tmp_path / "outside")
    with pytest.raises(
        UserError,
        match=f"{link} leads outside the channel .*a symbolic link to "
        f"{tmp_path / 'outside' / link.name}.*copy the file into the channel",
    ):
        prepare(base_dir)


def test_a_link_to_etc_passwd_is_refused_before_it_is_opened(tmp_path):
    base_dir = job(tmp_path, "lst")
    image = base_dir / "input" / "data" / "train" / "circle" / "000000.png"
    image.unlink()
    image.symlink_to("/etc/passwd")
    with pytest.raises(UserError, match="line 1 of .*train.lst: .*000000.png leads outside the channel"):
        prepare(base_dir)


def test_links_that_stay_inside_the_channel_are_read(tmp_path):
    base_dir = job(tmp_path, "lst")
    train_dir = base_dir / "input" / "data" / "train"
    link_elsewhere(train_dir / "circle" / "000000.png", train_dir / "originals")
    assert prepare(base_dir).count == 8
