import random

import mxnet as mx
import pytest

from image_classifier import hyperparameters
from image_classifier.training.early_stopping import EarlyStopping
from image_classifier.training.keeper import EpochScore, choose, still_possible
from image_classifier.training.optimizer import optimizer_params


def test_early_stopping_waits_for_min_epochs_then_patience():
    stopping = EarlyStopping(min_epochs=4, patience=2, tolerance=0.0)
    decisions = [stopping.should_stop(n, acc) for n, acc in enumerate([0.5, 0.6, 0.6, 0.6, 0.6], start=1)]
    assert decisions == [False, False, False, True, True]


def test_early_stopping_tolerance_is_relative():
    stopping = EarlyStopping(min_epochs=1, patience=1, tolerance=0.1)
    assert not stopping.should_stop(1, 0.50)
    assert stopping.should_stop(2, 0.54)  # +8% relative is within the 10% tolerance: no improvement
    stopping = EarlyStopping(min_epochs=1, patience=1, tolerance=0.1)
    stopping.should_stop(1, 0.50)
    assert not stopping.should_stop(2, 0.56)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("sgd", {"momentum": 0.5}),
        ("nag", {"momentum": 0.5}),
        ("adam", {"beta1": 0.8, "beta2": 0.99, "epsilon": 0.01}),
        ("rmsprop", {"gamma1": 0.7, "epsilon": 0.01}),
    ],
)
def test_optimizer_parameters(name, expected):
    hp = hyperparameters.parse(
        {
            "num_classes": "2",
            "num_training_samples": "10",
            "optimizer": name,
            "momentum": "0.5",
            "beta_1": "0.8",
            "beta_2": "0.99",
            "eps": "0.01",
            "gamma": "0.7",
        }
    )
    optimizer, params = optimizer_params(hp, batches_per_epoch=10)
    assert optimizer == name
    assert {key: params[key] for key in expected} == expected
    mx.optimizer.create(optimizer, **params)  # MXNet accepts them


def test_learning_rate_steps_are_epochs_turned_into_updates():
    hp = hyperparameters.parse(
        {
            "num_classes": "2",
            "num_training_samples": "10",
            "lr_scheduler_step": "2,4",
            "lr_scheduler_factor": "0.5",
            "learning_rate": "0.1",
        }
    )
    scheduler = optimizer_params(hp, batches_per_epoch=10)[1]["lr_scheduler"]
    assert [scheduler(update) for update in (20, 21, 41)] == pytest.approx([0.1, 0.05, 0.025])


def history(*scores):
    """EpochScores from (accuracy, loss) pairs, epochs numbered from 1."""
    return [EpochScore(number, accuracy, loss) for number, (accuracy, loss) in enumerate(scores, start=1)]


def test_tied_epochs_keep_the_lowest_validation_loss_not_the_earliest():
    # 203 validation images; epochs 12 to 19 (1-based 13 to 20) tie on accuracy, as in issue 12
    scores = [(0.9 + 0.0003 * n, 1.0 - 0.02 * n) for n in range(12)]
    scores += [(200 / 203, loss) for loss in (0.30, 0.21, 0.25, 0.20, 0.22, 0.19, 0.23, 0.24)]
    assert choose(history(*scores), 1 / 203).epoch_number == 18


def test_equal_losses_keep_the_later_epoch():
    assert choose(history((0.9, 0.2), (0.9, 0.2), (0.8, 0.1)), 1 / 100).epoch_number == 2


def test_one_validation_image_below_the_best_with_a_lower_loss_wins():
    # 1,000 images: epoch 7 leads by one image at the first learning rate; epoch 15 has a far lower loss
    scores = [(0.80, 0.9)] * 6 + [(0.903, 0.45)] + [(0.85, 0.5)] * 7 + [(0.902, 0.30), (0.900, 0.20)]
    assert choose(history(*scores), 1 / 1000).epoch_number == 15


def test_more_than_one_image_better_wins_whatever_its_loss():
    assert choose(history((0.90, 0.1), (0.92, 0.9)), 1 / 100).epoch_number == 2


def test_the_epochs_kept_while_training_always_include_the_final_choice():
    chooser = random.Random(0)
    for _ in range(300):
        scores = history(
            *[
                (chooser.randrange(90, 101) / 100, chooser.choice([0.1, 0.2, 0.3]))
                for _ in range(chooser.randrange(1, 12))
            ]
        )
        saved = set()
        for end in range(1, len(scores) + 1):
            possible = {score.epoch_number for score in still_possible(scores[:end], 1 / 100)}
            saved = (saved | {end}) & possible
            assert choose(scores[:end], 1 / 100).epoch_number in saved
        assert len(saved) <= len(scores)
