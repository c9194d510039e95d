"""The recipe's options on real data: held-out test accuracy and training images/s of the built-in recipe,
each of our additions alone, and a combination, at equal epochs, over several seeds.

    pip install scikit-learn      # the data set: its handwritten digits (1,797 8x8 images, 10 classes)
    python bench/recipes.py [--seeds 1,2,3] [--epochs 10] [--size 16] [--only builtin,cosine,...]

The digits are split as bench/model_selection.py splits them: 1,000 to train (about 100 a class: the low-data
setting), 200 to validate (what `train` keeps the epoch on), 597 held out for testing; upscaled to --size
pixels, grey in three channels. Every run is the real `train` command: ResNet-20, SGD momentum 0.9, wd 1e-4,
learning rate 0.1, batch 32; the built-in recipe divides the rate by 10 at 60% and 80% of the epochs and
augments nothing (mirroring digits changes them); each other row adds its options to that. Note that
randaugment and trivialaugment follow a random crop and mirror, as in their papers (the crop is a no-op at
equal sizes; the mirror is not, on digits). The distillation row distils from the teacher row's model of the
same seed (the built-in recipe on ResNet-56, trained first in the same run), given as the 'teacher' channel;
--only distillation runs the teacher row first.

images/s: the training images of all epochs over the sum of the epochs' `Time cost` lines (training only,
not validation). Spread: max - min over the seeds. The machine is shared: read images/s as a ratio to the
built-in row of the same run.
"""

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from model_selection import TRAIN, digits, test_accuracy, write_job

from image_classifier.model import artifacts

# name: the hyperparameters it adds to the built-in recipe
RECIPES = {
    "builtin": {},
    "cosine": {"lr_scheduler": "cosine", "warmup_epochs": 1},
    "label_smoothing": {"label_smoothing": 0.1},
    "mixup": {"mixup_alpha": 0.2},
    "cutmix": {"cutmix_alpha": 1.0},
    "no_bias_decay": {"no_bias_decay": 1},
    "zero_init_last_bn": {"zero_init_last_bn": 1},
    "ema": {"ema_decay": 0.99},
    "randaugment": {"augmentation_type": "randaugment"},
    "trivialaugment": {"augmentation_type": "trivialaugment"},
    "random_erasing": {"random_erasing": 0.25},
    "teacher": {"num_layers": 56},  # the built-in recipe on a larger network: the distillation row's teacher
    "distillation": {"distillation_temperature": 1, "distillation_weight": 0.5},
    "combination": {
        "lr_scheduler": "cosine",
        "warmup_epochs": 1,
        "label_smoothing": 0.1,
        "mixup_alpha": 0.2,
        "no_bias_decay": 1,
        "zero_init_last_bn": 1,
        "random_erasing": 0.25,
    },
}


def run(sets, recipe, seed, epochs, size, work_dir):
    """(test accuracy of the kept model, training images/s) of one `train` job."""
    base_dir = work_dir / f"{recipe}-{seed}"
    steps = ",".join(str(step) for step in sorted({round(epochs * 0.6), round(epochs * 0.8)}) if 0 < step < epochs)
    hyperparameters = {
        "num_layers": 20,
        "image_shape": f"3,{size},{size}",
        "epochs": epochs,
        "mini_batch_size": 32,
        "optimizer": "sgd",
        "learning_rate": 0.1,
        "seed": seed,
        **({"lr_scheduler_step": steps} if steps and "lr_scheduler" not in RECIPES[recipe] else {}),
        **RECIPES[recipe],
    }
    write_job(base_dir, sets, hyperparameters)
    if recipe == "distillation":  # the teacher row's model of this seed, trained before
        shutil.copytree(work_dir / f"teacher-{seed}" / "model", base_dir / "input" / "data" / "teacher")
    result = subprocess.run(
        [TRAIN], env=dict(os.environ, SAGEMAKER_BASE_DIR=str(base_dir)), capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"train failed for {recipe}, seed {seed}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    seconds = sum(float(value) for value in re.findall(r"^Epoch\[\d+\] Time cost=([0-9.]+)$", result.stdout, re.M))
    return test_accuracy(artifacts.load(base_dir / "model"), sets["test"]), epochs * len(sets["train"][1]) / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--only", default=",".join(RECIPES), help="comma-separated rows of: " + ", ".join(RECIPES))
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    names = args.only.split(",")
    unknown = set(names) - set(RECIPES)
    if unknown:
        raise SystemExit(f"unknown recipes {sorted(unknown)}; known: {', '.join(RECIPES)}")
    if "distillation" in names and "teacher" not in names[: names.index("distillation")]:
        names = [name for name in names if name != "teacher"]
        names.insert(names.index("distillation"), "teacher")
    sets = digits(args.size)
    print(
        f"scikit-learn digits at {args.size}x{args.size}: {len(sets['train'][1])} train, "
        f"{len(sets['validation'][1])} validation, {len(sets['test'][1])} test; ResNet-20, {args.epochs} epochs, "
        f"batch 32, seeds {args.seeds}\n"
    )
    print("| recipe | adds | test accuracy (mean) | spread | against builtin | images/s (mean) | against builtin |")
    print("|---|---|---|---|---|---|---|")
    baseline = None
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="recipes-") as work_dir:
        for name in names:
            results = [run(sets, name, seed, args.epochs, args.size, Path(work_dir)) for seed in seeds]
            accuracy, speed = (np.array(column) for column in zip(*results))
            if name == "builtin":
                baseline = (accuracy.mean(), speed.mean())
            against = (
                f"{accuracy.mean() - baseline[0]:+.4f} | {speed.mean():.0f} | {speed.mean() / baseline[1]:.2f}"
                if baseline
                else f" | {speed.mean():.0f} | "
            )
            adds = ", ".join(f"{key}={value}" for key, value in RECIPES[name].items()) or "(the built-in's)"
            print(f"| {name} | {adds} | {accuracy.mean():.4f} | {accuracy.max() - accuracy.min():.4f} | {against} |")
    print(f"\n{time.time() - started:.0f} s in all")


if __name__ == "__main__":
    main()
