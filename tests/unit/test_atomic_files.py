"""Staged writes: the new file or folder appears in one rename, or not at all."""

import pytest

from image_classifier import atomic_files


def test_a_staged_file_replaces_the_old_one_only_when_complete(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    with atomic_files.staged(path) as partial:
        partial.write_text("new")
        assert path.read_text() == "old"
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_write_that_raises_leaves_the_old_file_and_no_partial(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_files.staged(path) as partial:
        partial.write_text("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_a_staged_folder_replaces_a_folder_with_files(tmp_path):
    folder = tmp_path / "epoch-0002"
    folder.mkdir()
    (folder / "stale").write_text("from before a stop")
    with atomic_files.staged(folder) as partial:
        partial.mkdir()
        (partial / "state.json").write_text("{}")
    assert [p.name for p in folder.iterdir()] == ["state.json"]


def test_partials_left_by_a_crash_are_removed(tmp_path):
    atomic_files.partial_path(tmp_path / "epoch-0003").mkdir()
    atomic_files.partial_path(tmp_path / "classes.json").write_text("{")
    (tmp_path / "epoch-0002").mkdir()
    atomic_files.remove_partials(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["epoch-0002"]


def test_a_partial_left_by_a_crash_does_not_end_up_in_the_new_file(tmp_path):
    path = tmp_path / "classes.json"
    atomic_files.partial_path(path).write_text("half of an earlier write")
    atomic_files.write_text(path, "{}")
    assert path.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["classes.json"]
