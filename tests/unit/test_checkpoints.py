"""Checkpoint folders: atomic, newest that loads wins, partial and corrupt ones skipped."""
import mxnet as mx
import numpy as np
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
