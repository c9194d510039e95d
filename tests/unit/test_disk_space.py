"""A write that runs out of space is the user's to fix: exit 1, naming the folder and the fix."""

import errno

import mxnet as mx
import pytest
from mxnet.base import MXNetError

from image_classifier import atomic_files, failure
from image_classifier.environment import Paths
from image_classifier.errors import UserError

FIX = (
    "give the training job a larger volume (VolumeSizeInGB), or keep fewer epochs (leave checkpoint_frequency "
    "unset to keep only the best one, or raise it)"
)
FULL = {
    "OSError": lambda: OSError(errno.ENOSPC, "No space left on device"),
    "MXNetError": lambda: MXNetError("src/io/local_filesys.cc:38: Check failed: ... FileStream.Write incomplete"),
}


@pytest.mark.parametrize("make_error", FULL.values(), ids=FULL)
def test_a_staged_write_that_fills_the_disk_names_the_folder_and_the_space_needed(tmp_path, make_error):
    path = tmp_path / "model" / "image-classification-0001.params"
    path.parent.mkdir()
    with pytest.raises(UserError) as raised, atomic_files.staged(path, needed=3 * 2**20) as partial:
        partial.write_bytes(b"half")
        raise make_error()
    message = str(raised.value)
    assert message.startswith(f"No space left in {tmp_path / 'model'} to write training's files (needed about 3.0 MB, ")
    assert message.endswith(f" MB free): {FIX}")
    assert list(path.parent.iterdir()) == []


def test_other_errors_of_a_staged_write_are_left_as_they_are(tmp_path):
    with pytest.raises(OSError, match="Permission denied"), atomic_files.staged(tmp_path / "x") as partial:
        partial.write_text("half")
        raise OSError(errno.EACCES, "Permission denied")


def test_a_full_disk_anywhere_else_is_a_user_error_naming_the_folder(tmp_path):
    paths = Paths(tmp_path)
    try:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "scratch" / "train.rec"))
    except OSError as error:
        code = failure.handle_error(paths, error)
    assert code == failure.USER_ERROR_EXIT
    text = paths.failure_file.read_text()
    assert text.startswith(f"No space left in {tmp_path / 'scratch'} to write training's files")


def test_mxnets_short_write_through_its_own_writer_is_a_user_error(tmp_path):
    """What ``save_parameters`` raises on a full disk, seen through /dev/full (every write: ENOSPC)."""
    try:
        mx.nd.save("/dev/full", {"w": mx.nd.zeros((1024, 1024))})
    except MXNetError as error:
        code = failure.handle_error(Paths(tmp_path), error)
    else:
        pytest.skip("/dev/full took the write")
    assert code == failure.USER_ERROR_EXIT
    assert Paths(tmp_path).failure_file.read_text() == f"A disk is full: {FIX}\n"
