"""Spot interruptions through the real `train`: SIGTERM then resume; kill -9 while a checkpoint is written."""
import os
import re
import signal
import subprocess
import time

from conftest import run_train, train_command
from image_classifier import demo_data


def accuracies(output):
    return [float(v) for v in re.findall(r"^Epoch\[\d+\] Validation-accuracy=([0-9.]+)$", output, re.M)]


def job(tmp_path, name, **sizes):
    """The README's demo job (5 epochs, ends near 100%), with managed-spot checkpoints on."""
    base_dir = demo_data.write_job(tmp_path / name, **sizes)
    (base_dir / "checkpoints").mkdir()
    return base_dir


def start(base_dir):
    return subprocess.Popen(train_command(), env={**os.environ, "SAGEMAKER_BASE_DIR": str(base_dir)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for(condition, seconds=180):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.002)


def test_sigterm_mid_epoch_then_resume_ends_like_an_uninterrupted_run(tmp_path):
    uninterrupted = run_train(job(tmp_path, "whole"))
    assert uninterrupted.returncode == 0, uninterrupted.stdout

    base_dir = job(tmp_path, "interrupted")
    process = start(base_dir)
    wait_for(lambda: (base_dir / "checkpoints" / "epoch-0001").exists())
    time.sleep(1)  # into epoch 1
    process.send_signal(signal.SIGTERM)
    first, _ = process.communicate(timeout=60)
    assert process.returncode == 143, first
    resumed = run_train(base_dir)
    assert resumed.returncode == 0, resumed.stdout
    assert re.search(r"Resuming from checkpoint .*epoch-000[12]: [12] epochs done", resumed.stdout)
    done = len(accuracies(first))
    assert len(accuracies(resumed.stdout)) == 5 - done  # ends at the same epoch count
    assert abs(accuracies(resumed.stdout)[-1] - accuracies(uninterrupted.stdout)[-1]) <= 0.01
    assert (base_dir / "output" / "success").exists()


def test_kill_during_a_checkpoint_write_resumes_from_the_previous_good_one(tmp_path):
    base_dir = job(tmp_path, "killed", num_train=320, num_validation=80, size=24)
    checkpoints = base_dir / "checkpoints"
    process = start(base_dir)
    wait_for(lambda: (checkpoints / "epoch-0001").exists())
    wait_for(lambda: any(checkpoints.glob(".partial-*")))  # epoch 2's checkpoint is being written
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    complete = sorted(p.name for p in checkpoints.glob("epoch-*"))
    resumed = run_train(base_dir)
    assert resumed.returncode == 0, resumed.stdout
    assert f"Resuming from checkpoint {checkpoints / complete[-1]}" in resumed.stdout
    assert not any(checkpoints.glob(".partial-*"))
