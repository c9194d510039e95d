"""The model directory: export, load back, same predictions; which epochs are kept."""

import json
import logging
import warnings

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from image_classifier.model import artifacts, networks
from image_classifier.model.preprocessing import Preprocessing
from image_classifier.training.keeper import EpochScore, ModelKeeper


def trained_tiny_net(multi_label=False):
    mx.random.seed(0)
    net = networks.build(20, 3)
    net.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    data = mx.nd.random.uniform(shape=(4, 3, 16, 16))
    with autograd.record():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(data), mx.nd.array([0, 1, 2, 0]))
    loss.backward()
    trainer.step(4)
    served = networks.with_probabilities(net, multi_label)
    served.hybridize()
    served(data)
    return net, served, data


def test_exported_model_predicts_like_the_network_in_memory(tmp_path):
    net, served, data = trained_tiny_net()
    artifacts.save_epoch(served, tmp_path, 3)
    artifacts.write_metadata(tmp_path, Preprocessing.for_training((3, 16, 16), None), {0: "a", 1: "b", 2: "c"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "classes.json",
        "image-classification-0003.params",
        "image-classification-symbol.json",
        "model-shapes.json",
        "preprocessing.json",
    ]
    assert json.loads((tmp_path / "model-shapes.json").read_text()) == [{"name": "data", "shape": [1, 3, 16, 16]}]
    loaded = mx.gluon.SymbolBlock.imports(
        str(tmp_path / "image-classification-symbol.json"), ["data"], str(tmp_path / "image-classification-0003.params")
    )
    expected = mx.nd.softmax(net(data)).asnumpy()
    np.testing.assert_allclose(loaded(data).asnumpy(), expected, rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reloaded = artifacts.load(tmp_path)
    assert not [str(w.message) for w in caught if "Cannot decide type" in str(w.message)]
    np.testing.assert_allclose(reloaded(data).asnumpy(), expected, rtol=1e-5, atol=1e-6)
    assert artifacts.read_classes(tmp_path) == {0: "a", 1: "b", 2: "c"}


def test_multi_label_model_outputs_independent_probabilities(tmp_path):
    net, served, data = trained_tiny_net(multi_label=True)
    np.testing.assert_allclose(served(data).asnumpy(), mx.nd.sigmoid(net(data)).asnumpy(), rtol=1e-5)


def test_keeper_keeps_only_the_chosen_epoch(tmp_path, caplog):
    _, served, _ = trained_tiny_net()
    keeper = ModelKeeper(tmp_path, checkpoint_frequency=None, validation_count=10)
    history = [(0.5, 1.0), (0.8, 0.6), (0.6, 0.7), (0.9, 0.5), (0.8, 0.4), (0.7, 0.3)]
    on_disk = []
    for epoch_number, (accuracy, loss) in enumerate(history, start=1):
        keeper.end_of_epoch(served, epoch_number, accuracy, loss, last=epoch_number == len(history))
        on_disk.append(artifacts.saved_epochs(tmp_path))
    # epoch 5 (0.8, one image below 0.9, lower loss) may still win until the end; epoch 6 is two images below
    # (the standard error at 0.9 of 10 images is 0.95 images: the window is its floor, one image)
    assert on_disk == [[1], [2], [2], [4], [4, 5], [4, 5]]
    with caplog.at_level(logging.INFO):
        keeper.finish()
    assert artifacts.saved_epochs(tmp_path) == [5]
    assert (
        "Kept epoch 4 (image-classification-0005.params): Validation-accuracy=0.800000, validation loss 0.400000; "
        "epochs 1, 3, 4 are within one standard error (0.100000: sqrt(p(1-p)/n) at p=0.900000 on n=10 validation "
        "images, at least 1/n) of the best accuracy, and it has the lowest validation loss"
    ) in caplog.text


def test_keeper_state_round_trips(tmp_path):
    _, served, _ = trained_tiny_net()
    keeper = ModelKeeper(tmp_path, checkpoint_frequency=None, validation_count=10)
    keeper.end_of_epoch(served, 1, 0.5, float("nan"), last=False)
    restored = ModelKeeper(tmp_path, checkpoint_frequency=None, validation_count=10)
    restored.restore(json.loads(json.dumps(keeper.state())))
    assert restored.history == keeper.history and restored.saved == [1]


def test_keeper_resumes_from_a_checkpoint_of_the_earlier_best_only_policy(tmp_path):
    _, served, _ = trained_tiny_net()
    keeper = ModelKeeper(tmp_path, checkpoint_frequency=None, validation_count=10)
    keeper.restore({"best_score": 0.8, "best_epoch_number": 2, "saved": [2]})
    assert keeper.history == [EpochScore(2, 0.8, float("inf"))] and keeper.saved == [2]
    keeper.end_of_epoch(served, 3, 0.75, 0.3, last=True)  # within one image of 0.8, with a known loss
    keeper.finish()
    assert artifacts.saved_epochs(tmp_path) == [3]


def test_keeper_with_a_frequency_keeps_every_kth_and_the_last(tmp_path, caplog):
    _, served, _ = trained_tiny_net()
    keeper = ModelKeeper(tmp_path, checkpoint_frequency=2, validation_count=10)
    for epoch_number in range(1, 6):
        keeper.end_of_epoch(served, epoch_number, 0.5, 1.0, last=epoch_number == 5)
    with caplog.at_level(logging.INFO):
        keeper.finish()
    assert "Kept epochs 1, 3, 4: every 2 epochs (checkpoint_frequency) and the last" in caplog.text
    assert artifacts.saved_epochs(tmp_path) == [2, 4, 5]
    assert not list(tmp_path.glob(".staging*"))
