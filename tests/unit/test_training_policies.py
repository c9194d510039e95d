import mxnet as mx
import pytest

from image_classifier import hyperparameters
from image_classifier.training.early_stopping import EarlyStopping
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


@pytest.mark.parametrize("name, expected", [
    ("sgd", {"momentum": 0.5}),
    ("nag", {"momentum": 0.5}),
    ("adam", {"beta1": 0.8, "beta2": 0.99, "epsilon": 0.01}),
    ("rmsprop", {"gamma1": 0.7, "epsilon": 0.01}),
])
def test_optimizer_parameters(name, expected):
    hp = hyperparameters.parse({"num_classes": "2", "num_training_samples": "10", "optimizer": name,
                                "momentum": "0.5", "beta_1": "0.8", "beta_2": "0.99", "eps": "0.01",
                                "gamma": "0.7"})
    optimizer, params = optimizer_params(hp, batches_per_epoch=10)
    assert optimizer == name
    assert {key: params[key] for key in expected} == expected
    mx.optimizer.create(optimizer, **params)  # MXNet accepts them


def test_learning_rate_steps_are_epochs_turned_into_updates():
    hp = hyperparameters.parse({"num_classes": "2", "num_training_samples": "10", "lr_scheduler_step": "2,4",
                                "lr_scheduler_factor": "0.5", "learning_rate": "0.1"})
    scheduler = optimizer_params(hp, batches_per_epoch=10)[1]["lr_scheduler"]
    assert [scheduler(update) for update in (20, 21, 41)] == pytest.approx([0.1, 0.05, 0.025])
