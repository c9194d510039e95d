"""Checkpoint folders: atomic, newest that loads wins, partial and corrupt ones skipped."""

import logging

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from image_classifier.model import networks
from image_classifier.training.checkpoints import Checkpoints


def tiny(seed):
    mx.random.seed(seed)
    net = networks.build(20, 3)
    net(mx.nd.zeros((1, 3, 16, 16)))
    return net, gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9})


def weights(net):
    return {name: p.data().asnumpy() for name, p in net._collect_params_with_prefix().items()}


def test_round_trip_and_newest_first(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    model_dir = tmp_path / "model-dir"
    model_dir.mkdir()
    (model_dir / "classes.json").write_text("{}")
    for epochs_done in (1, 2, 3):
        net, trainer = tiny(epochs_done)
        checkpoints.save(epochs_done, net, trainer, {"stopped_early": False}, model_dir)
    assert sorted(p.name for p in tmp_path.glob("epoch-*")) == ["epoch-0002", "epoch-0003"]  # the last two
    restored, trainer = tiny(99)
    (model_dir / "classes.json").unlink()
    state = checkpoints.resume(restored, trainer, model_dir)
    assert state["epochs_done"] == 3
    expected = weights(tiny(3)[0])
    assert all(np.array_equal(expected[name], value) for name, value in weights(restored).items())
    assert (model_dir / "classes.json").exists()


def test_partial_and_corrupt_checkpoints_fall_back(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    net, trainer = tiny(1)
    checkpoints.save(1, net, trainer, {}, tmp_path / "absent")
    net2, trainer2 = tiny(2)
    checkpoints.save(2, net2, trainer2, {}, tmp_path / "absent")
    (tmp_path / "epoch-0002" / "network.params").write_bytes(b"truncated")
    (tmp_path / ".partial-epoch-0003").mkdir()
    restored, trainer = tiny(5)
    assert checkpoints.resume(restored, trainer, tmp_path / "model")["epochs_done"] == 1
    assert not (tmp_path / ".partial-epoch-0003").exists()
    assert all(np.array_equal(weights(net)[k], v) for k, v in weights(restored).items())


def test_disabled_without_the_folder(tmp_path):
    assert not Checkpoints(tmp_path / "checkpoints").enabled


@pytest.mark.parametrize(
    "part, content",
    [
        ("rng.pickle", b""),
        ("rng.pickle", b"not a pickle"),
        ("state.json", b""),
        ("state.json", b"[]"),
        ("trainer.states", b""),
    ],
)
def test_a_checkpoint_with_any_part_that_does_not_load_is_skipped(tmp_path, caplog, part, content):
    checkpoints = Checkpoints(tmp_path)
    net, trainer = tiny(1)
    checkpoints.save(1, net, trainer, {}, tmp_path / "absent")
    checkpoints.save(2, *tiny(2), {}, tmp_path / "absent")
    (tmp_path / "epoch-0002" / part).write_bytes(content)
    restored, trainer = tiny(5)
    with caplog.at_level(logging.INFO):
        assert checkpoints.resume(restored, trainer, tmp_path / "model")["epochs_done"] == 1
    assert f"epoch-0002 does not load ({part}:" in caplog.text and "skipping it for an older one" in caplog.text
    assert "Resuming from checkpoint" in caplog.text
    assert all(np.array_equal(weights(net)[k], v) for k, v in weights(restored).items())


def test_no_checkpoint_that_loads_starts_from_the_beginning(tmp_path, caplog):
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save(1, *tiny(1), {}, tmp_path / "absent")
    (tmp_path / "epoch-0001" / "rng.pickle").write_bytes(b"")
    with caplog.at_level(logging.INFO):
        assert checkpoints.resume(*tiny(5), tmp_path / "model") is None
    assert "training starts from the beginning" in caplog.text


def test_the_stopped_jobs_seed_is_known_before_anything_is_built(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    assert checkpoints.saved_seed() is None
    checkpoints.save(1, *tiny(1), {"seed": 7}, tmp_path / "absent")
    checkpoints.save(2, *tiny(2), {"seed": 7}, tmp_path / "absent")
    (tmp_path / "epoch-0002" / "state.json").write_text("{")  # the newest does not read: the one before does
    assert checkpoints.saved_seed() == 7
    assert Checkpoints(tmp_path / "checkpoints").saved_seed() is None  # checkpoints off


def test_a_checkpoint_right_after_a_batch_holds_the_running_statistics_of_that_batch(tmp_path):
    """MXNet's batch norm updates its running mean and variance in the backward pass, which reads them as
    inputs: nothing in the engine orders a save after those writes (a stop between batches saves at once)."""
    net, trainer = tiny(1)
    net.hybridize(static_alloc=True, static_shape=True)  # as training runs it
    images, labels = mx.nd.random.uniform(shape=(32, 3, 32, 32)), mx.nd.array(np.arange(32) % 3)
    with mx.autograd.record():
        outputs = net(images)
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(outputs, labels)
    loss.backward()
    trainer.step(32)
    outputs.asnumpy()  # as the loop's metrics: waits for the forward pass only
    Checkpoints(tmp_path).save(1, net, trainer, {}, tmp_path / "absent")
    mx.nd.waitall()
    saved = mx.nd.load(str(tmp_path / "epoch-0001" / "network.params"))
    assert [name for name, value in weights(net).items() if not np.array_equal(saved[name].asnumpy(), value)] == []
