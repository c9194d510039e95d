"""A full /opt/ml/model or /opt/ml/checkpoints through the real `train`: a small tmpfs mounted there (root only;
skipped where mount is not permitted). The failure is the user's (exit 1), names the folder and the fix."""

import re
import subprocess
from contextlib import contextmanager

import pytest
from training_process import failure_text, run_train

FIX = "give the training job a larger volume (VolumeSizeInGB), or keep fewer epochs"


@contextmanager
def small_volume(folder, size):
    """``folder`` as a tmpfs of ``size`` (such as "200k") for the duration."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"mount is not permitted here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("folder, size", [("model", "200k"), ("checkpoints", "1400k")])
def test_a_full_volume_names_the_folder_and_the_fix(tiny_job, folder, size):
    base_dir = tiny_job()
    with small_volume(base_dir / folder, size) as volume:
        result = run_train(base_dir)
        assert result.returncode == 1, result.stdout + result.stderr
        first_line = failure_text(base_dir).splitlines()[0]
        assert re.fullmatch(
            rf"No space left in {volume} to write training's files \(needed about \d+\.\d MB, \d+\.\d MB free\): "
            rf"{re.escape(FIX)} .*",
            first_line,
        ), first_line
        assert not list(volume.glob(".partial-*"))
