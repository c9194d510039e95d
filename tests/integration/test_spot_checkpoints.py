"""Spot interruptions through the real `train`: SIGTERM then resume; kill -9 while a checkpoint is written."""

import os
import re
import signal
import time

import mxnet as mx
import numpy as np
import pytest
from training_process import run_train, set_hyperparameters, start_train
from transfer_models import add_channel, teacher_archive

from image_classifier import demo_data


def accuracies(output):
    return [float(v) for v in re.findall(r"^Epoch\[\d+\] Validation-accuracy=([0-9.]+)$", output, re.M)]


def job(tmp_path, name, teacher=False, **sizes):
    """The README's demo job (5 epochs, ends near 100%), with managed-spot checkpoints on; ``teacher``: with a
    'teacher' channel (a ResNet-20 of its classes) to distil from."""
    base_dir = demo_data.write_job(tmp_path / name, **sizes)
    (base_dir / "checkpoints").mkdir()
    if teacher:
        add_channel(
            base_dir, "teacher", teacher_archive(tmp_path / f"{name}-teacher", 20, len(demo_data.CLASS_NAMES), 32)
        )
    return base_dir


def start(base_dir):
    return start_train(base_dir, start_new_session=True)


def wait_for(condition, seconds=180):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.002)


def params(base_dir):
    return [path.read_bytes() for path in sorted((base_dir / "model").glob("*.params"))]


def params_differences(base_dir, other_dir):
    """What differs between two model directories' parameters, for the message of a failed comparison."""
    names = [sorted(p.name for p in (d / "model").glob("*.params")) for d in (base_dir, other_dir)]
    if names[0] != names[1]:
        return f"different .params files: {names[0]} against {names[1]}"
    differences = []
    for name in names[0]:
        ours, theirs = (mx.nd.load(str(d / "model" / name)) for d in (base_dir, other_dir))
        for key in sorted(set(ours) | set(theirs)):
            if key not in ours or key not in theirs:
                differences.append(f"{name}: {key} in one only")
            elif not np.array_equal(ours[key].asnumpy(), theirs[key].asnumpy()):
                gap = np.abs(ours[key].asnumpy() - theirs[key].asnumpy()).max()
                differences.append(f"{name}: {key} differs by up to {gap:.3g}")
    return "; ".join(differences[:8]) + f" ({len(differences)} arrays differ)"


# Every recipe option of ours on, distillation too: the schedule's position, the mixing and augmentation draws and
# the weights' average resume too.
RECIPE = dict(
    augmentation_type="randaugment",
    random_erasing=0.25,
    lr_scheduler="cosine",
    lr_scheduler_step=None,  # the demo job's steps belong to lr_scheduler=step
    warmup_epochs=1,
    label_smoothing=0.1,
    mixup_alpha=0.2,
    cutmix_alpha=1.0,
    mixup_off_epochs=1,
    no_bias_decay=1,
    zero_init_last_bn=1,
    ema_decay=0.9,
    distillation_temperature=2,
    distillation_weight=0.7,
)


@pytest.mark.parametrize("recipe", [{}, RECIPE], ids=["builtin", "recipe"])
def test_sigterm_mid_epoch_then_resume_ends_exactly_like_an_uninterrupted_run(tmp_path, recipe):
    base_dir = job(tmp_path, "interrupted", teacher=bool(recipe))
    set_hyperparameters(base_dir, seed=None, **recipe)  # the seed drawn at random, and kept by the resumed job
    process = start(base_dir)
    first = ""
    for line in process.stdout:  # epoch 1 has 25 batches: stop it after its 20th
        first += line
        if line.startswith("Epoch[1] Batch [20]"):
            process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert process.returncode == 143, first
    resumed = run_train(base_dir)
    assert resumed.returncode == 0, resumed.stdout
    assert re.search(
        r"Resuming from checkpoint .*epoch-0001: 1 epochs done and 2[0-4] batches of the next", resumed.stdout
    )
    assert re.search(r"Epoch\[1\] Skipping the 2[0-4] batches trained before the stop", resumed.stdout)

    seed = re.search(r"with seed (\d+)", first).group(1)
    uninterrupted = job(tmp_path, "whole", teacher=bool(recipe))
    set_hyperparameters(uninterrupted, seed=seed, **recipe)
    whole = run_train(uninterrupted)
    assert whole.returncode == 0, whole.stdout
    assert ("Distilling from the 'teacher' channel's model" in whole.stdout) == bool(recipe)
    assert accuracies(first) + accuracies(resumed.stdout) == accuracies(whole.stdout)
    # the same batches in the same order, each once
    assert params(base_dir) == params(uninterrupted), params_differences(base_dir, uninterrupted)
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
