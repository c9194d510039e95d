"""The fine-tuning schedule on a real small network: frozen means bit-identical, the rest learns."""

import pickle

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from image_classifier import hyperparameters
from image_classifier.errors import UserError
from image_classifier.model import graph, networks, transfer
from image_classifier.training.finetune import FineTuning

IMAGES = mx.nd.random.uniform(-2, 2, shape=(8, 3, 16, 16))
LABELS = mx.nd.array([0, 1] * 4)


def hp(**values):
    raw = {"num_classes": 2, "num_training_samples": 8, "num_layers": 20, "image_shape": "3,16,16", **values}
    return hyperparameters.parse({name: str(value) for name, value in raw.items()})


def transfer_net(tmp_path, params):
    mx.random.seed(0)
    source = networks.build(20, 4)
    source(IMAGES)
    source.save_parameters(str(tmp_path / "source.params"))
    net = transfer.from_gluoncv_file(tmp_path / "source.params", params, "the test's weights")
    net.hybridize(static_alloc=True, static_shape=True)
    return net


def trainer_for(net, optimizer="sgd", **options):
    return gluon.Trainer(net.collect_params(), optimizer, {"learning_rate": 0.1, **options})


def train_steps(net, trainer, steps=2):
    for _ in range(steps):
        with autograd.record():
            losses = gluon.loss.SoftmaxCrossEntropyLoss()(net(IMAGES), LABELS)
        losses.backward()
        trainer.step(len(IMAGES))


def snapshot(block):
    return {name: param.data().asnumpy().copy() for name, param in block.collect_params().items()}


def changed(before, after):
    return {name for name in before if not np.array_equal(before[name], after[name])}


def test_frozen_body_stays_bit_identical_and_the_head_learns(tmp_path):
    params = hp(freeze_epochs=1)
    net = transfer_net(tmp_path, params)
    trainer = trainer_for(net, momentum=0.9, wd=0.01)  # momentum and weight decay would move anything they touch
    fine_tuning = FineTuning(params, net, trainer)
    body, head = snapshot(net.body), snapshot(net.head)
    fine_tuning.start_epoch(0)
    train_steps(net, trainer)
    assert changed(body, snapshot(net.body)) == set()  # weights and batch norm's running statistics alike
    assert changed(head, snapshot(net.head)) == set(head)
    fine_tuning.start_epoch(1)
    train_steps(net, trainer)
    assert changed(body, snapshot(net.body)) == set(body)


def test_trainable_layers_leave_the_rest_of_the_body_frozen(tmp_path):
    params = hp(trainable_layers=2)
    net = transfer_net(tmp_path, params)
    trainer = trainer_for(net)
    before = snapshot(net.body)
    FineTuning(params, net, trainer).start_epoch(0)
    train_steps(net, trainer)
    frozen = graph.parameters_below(net.body_symbol, 2)
    moved = changed(before, snapshot(net.body))
    assert moved and not moved & frozen
    assert moved == set(before) - frozen  # the top 2 convolutions and the batch norms after them


def test_body_learns_at_body_lr_mult_times_the_rate(tmp_path):
    deltas = {}
    for multiplier in (1.0, 0.25):
        params = hp(body_lr_mult=multiplier)
        net = transfer_net(tmp_path, params)
        trainer = trainer_for(net)
        FineTuning(params, net, trainer).start_epoch(0)
        weight = net.body.collect_params()[graph.layers(net.body_symbol)[0][1][0]]  # the first convolution
        before_body, before_head = weight.data().asnumpy().copy(), net.head.weight.data().asnumpy().copy()
        train_steps(net, trainer, steps=1)
        deltas[multiplier] = (weight.data().asnumpy() - before_body, net.head.weight.data().asnumpy() - before_head)
    np.testing.assert_allclose(deltas[0.25][0], 0.25 * deltas[1.0][0], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(deltas[0.25][1], deltas[1.0][1], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("freeze_epochs", [0, 1])
def test_freeze_batch_norm_keeps_the_running_statistics_bit_identical_while_the_rest_learns(tmp_path, freeze_epochs):
    params = hp(freeze_batch_norm=1, freeze_epochs=freeze_epochs)
    net = transfer_net(tmp_path, params)
    trainer = trainer_for(net, momentum=0.9)
    fine_tuning = FineTuning(params, net, trainer)
    running = set(net.body_symbol.list_auxiliary_states())
    before = snapshot(net.body)
    for epoch in range(freeze_epochs + 1):
        fine_tuning.start_epoch(epoch)
        train_steps(net, trainer)
    assert running and changed(before, snapshot(net.body)) == set(before) - running  # batch norm's scale, shift too


def test_without_freeze_batch_norm_the_running_statistics_move(tmp_path):
    params = hp()
    net = transfer_net(tmp_path, params)
    trainer = trainer_for(net)
    FineTuning(params, net, trainer).start_epoch(0)
    before = snapshot(net.body)
    train_steps(net, trainer)
    assert set(net.body_symbol.list_auxiliary_states()) <= changed(before, snapshot(net.body))


def test_dropout_rate_drops_features_before_the_head_in_training_only(tmp_path):
    params = hp(dropout_rate=0.5)
    net = transfer_net(tmp_path, params)
    plain = net(IMAGES).asnumpy()
    FineTuning(params, net, trainer_for(net))
    np.testing.assert_array_equal(net(IMAGES).asnumpy(), plain)  # predicting: no dropout
    with autograd.record():
        dropped = net(IMAGES).asnumpy()
    assert not np.allclose(dropped, plain)
    served = networks.with_probabilities(net, False)
    assert graph.split_classifier(networks.symbol(served))[1].weight == net.head.weight.name  # still the head


def test_schedule_logs_each_change_once(tmp_path, caplog):
    params = hp(freeze_epochs=2, trainable_layers=3)
    net = transfer_net(tmp_path, params)
    fine_tuning = FineTuning(params, net, trainer_for(net))
    caplog.set_level("INFO")
    for epoch in range(4):
        fine_tuning.start_epoch(epoch)
    assert [record.getMessage() for record in caplog.records] == [
        "Epoch[0] Training the head only; the body is frozen",
        "Epoch[2] Training the head and the body's top 3 weighted layers; the rest is frozen",
    ]


def test_defaults_change_nothing(tmp_path):
    params = hp()
    net = transfer_net(tmp_path, params)
    body = net.body
    FineTuning(params, net, trainer_for(net)).start_epoch(0)
    assert net.body is body
    assert {param.grad_req for param in net.body_params()} == {"write", "null"}  # null: running statistics


def test_float16_network_can_be_frozen(tmp_path):
    net = transfer_net(tmp_path, hp())
    net.cast("float16")
    net.train_top(0)
    assert np.dtype(net.head.weight.dtype) == np.float16


@pytest.mark.parametrize(
    "values, named",
    [
        ({"freeze_epochs": 1}, "freeze_epochs fine-tune"),
        ({"trainable_layers": 2, "body_lr_mult": 0.1}, "trainable_layers, body_lr_mult fine-tune"),
        ({"dropout_rate": 0.2, "freeze_batch_norm": 1}, "dropout_rate, freeze_batch_norm fine-tune"),
    ],
)
def test_fine_tuning_needs_starting_weights(values, named):
    params = hp(**values)
    net = networks.build(20, 2)
    with pytest.raises(
        UserError,
        match=f"^{named} a network that starts from weights: set use_pretrained_model=1 "
        f"or give a 'pretrained' or 'model' channel",
    ):
        FineTuning(params, net, trainer_for(net))


def test_body_lr_mult_reaches_an_optimizer_without_the_parameters_by_the_trainers_own_index(tmp_path):
    """A dist kvstore's servers unpickle the optimizer without its Parameters (param_dict): there the multiplier
    of each index must be that of the Parameter the trainer numbers so. The trainer numbers them by sorted name,
    not in collect_params' order: VGG's names (vgg..._) sort after the new head's (transfernet..._)."""
    raw = {"num_classes": 2, "num_training_samples": 8, "network": "vgg11", "image_shape": "3,32,32"}
    params = hyperparameters.parse({name: str(value) for name, value in {**raw, "body_lr_mult": 0.25}.items()})
    source = networks.build(None, 4, "vgg11", (3, 32, 32))
    source(mx.nd.zeros((1, 3, 32, 32)))
    source.save_parameters(str(tmp_path / "vgg11.params"))
    net = transfer.from_gluoncv_file(tmp_path / "vgg11.params", params, "the test's weights")
    trainer = trainer_for(net)
    FineTuning(params, net, trainer)
    on_a_server = pickle.loads(pickle.dumps(trainer.optimizer))
    assert on_a_server.param_dict == {}
    body = {param.name for param in net.body_params()}
    multipliers = {name: on_a_server._get_lr(index) / 0.1 for name, index in trainer._param2idx.items()}
    assert multipliers == pytest.approx({name: 0.25 if name in body else 1.0 for name in multipliers})
