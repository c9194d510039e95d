"""Our recipe hyperparameters (schedules and warm-up, label smoothing, mixup and CutMix, no bias decay,
zero-gamma blocks, the weights' average) against hand computations."""

import math

import mxnet as mx
import numpy as np
import pytest
from gluoncv.model_zoo import cifarresnet, resnest, resnet, resnetv1b, resnext
from mxnet import autograd, gluon

from image_classifier import hyperparameters
from image_classifier.errors import UserError
from image_classifier.model import networks
from image_classifier.training.averaging import WeightAverage
from image_classifier.training.checkpoints import Checkpoints
from image_classifier.training.mixing import Mix, Mixing
from image_classifier.training.optimizer import lr_scheduler, optimizer_params, without_bias_decay
from image_classifier.training.targets import Targets

BATCHES = 10  # per epoch


def parse(**values):
    return hyperparameters.parse({"num_classes": "2", "num_training_samples": "100", **values})


def rates(hp, updates):
    """The learning rate of each of ``updates`` (MXNet numbers updates from 1)."""
    scheduler = lr_scheduler(hp, BATCHES)
    return [scheduler(update) for update in updates]


def test_the_default_is_the_builtins_step_schedule_or_none():
    assert lr_scheduler(parse(), BATCHES) is None
    stepped = parse(lr_scheduler_step="2,4", lr_scheduler_factor="0.5", learning_rate="0.1")
    assert rates(stepped, (1, 20, 21, 40, 41)) == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_warm_up_rises_linearly_from_0_then_holds_the_rate():
    hp = parse(warmup_epochs="2", epochs="5", learning_rate="0.1")
    assert rates(hp, (1, 10, 19, 20, 21, 50)) == pytest.approx([0.005, 0.05, 0.095, 0.1, 0.1, 0.1])


def test_warm_up_then_steps_at_their_epochs():
    hp = parse(warmup_epochs="1", epochs="5", lr_scheduler_step="3", lr_scheduler_factor="0.1", learning_rate="0.2")
    assert rates(hp, (5, 10, 11, 30, 31)) == pytest.approx([0.1, 0.2, 0.2, 0.2, 0.02])


def test_cosine_decays_every_update_to_0_at_the_last_after_warm_up():
    hp = parse(lr_scheduler="cosine", warmup_epochs="2", epochs="6", learning_rate="0.1")
    updates = (1, 20, 30, 40, 50, 60)  # warm-up ends at 20; 40 updates of decay follow
    expected = [0.005] + [0.05 * (1 + math.cos(math.pi * (update - 20) / 40)) for update in updates[1:]]
    assert rates(hp, updates) == pytest.approx(expected)
    assert expected[3] == pytest.approx(0.05) and expected[-1] == pytest.approx(0.0)


def test_poly_decays_with_power_2_to_0_at_the_last():
    hp = parse(lr_scheduler="poly", epochs="4", learning_rate="0.1")
    assert rates(hp, (1, 20, 30, 40)) == pytest.approx([0.1 * (1 - 1 / 40) ** 2, 0.025, 0.1 / 16, 0.0])


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"lr_scheduler": "linear"}, "'lr_scheduler' hyperparameter which accepts one of the following: 'step'"),
        ({"warmup_epochs": "-1"}, "'warmup_epochs' hyperparameter which accepts an integer of at least 0"),
        ({"warmup_epochs": "3", "epochs": "3"}, "'warmup_epochs' hyperparameter which accepts an integer from 0"),
        ({"lr_scheduler": "cosine", "lr_scheduler_step": "2"}, "remove lr_scheduler_step or set lr_scheduler=step"),
    ],
)
def test_schedule_values_are_refused_by_name(values, fragment):
    with pytest.raises(UserError, match=fragment):
        parse(**values)


def tiny_trainer(hp):
    mx.random.seed(0)
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize(mx.init.Xavier())
    name, params = optimizer_params(hp, BATCHES)
    return net, gluon.Trainer(net.collect_params(), name, params)


def train(net, trainer, steps):
    """``steps`` updates on fixed data; the learning rate of each."""
    data, label = mx.nd.arange(12).reshape((4, 3)) / 12, mx.nd.array([0, 1, 0, 1])
    used = []
    for _ in range(steps):
        with autograd.record():
            loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(data), label)
        loss.backward()
        trainer.step(4)
        used.append(trainer.learning_rate)
    return used


@pytest.mark.parametrize("schedule", ["step", "cosine", "poly"])
def test_the_schedule_resumes_from_the_trainers_states_at_its_update(tmp_path, schedule):
    hp = parse(lr_scheduler=schedule, warmup_epochs="1", epochs="3", learning_rate="0.1")
    never_stopped_net, trainer = tiny_trainer(hp)
    never_stopped = train(never_stopped_net, trainer, 30)
    net, trainer = tiny_trainer(hp)
    before = train(net, trainer, 13)  # stopped mid-epoch, as a checkpoint on SIGTERM
    net.save_parameters(str(tmp_path / "net.params"))
    trainer.save_states(str(tmp_path / "trainer.states"))
    resumed_net, resumed = tiny_trainer(hp)
    resumed_net.load_parameters(str(tmp_path / "net.params"))
    resumed.load_states(str(tmp_path / "trainer.states"))
    assert before + train(resumed_net, resumed, 17) == never_stopped
    assert never_stopped[0] == pytest.approx(0.01) and never_stopped[9] == pytest.approx(0.1)
    assert np.array_equal(resumed_net.weight.data().asnumpy(), never_stopped_net.weight.data().asnumpy())


def test_smoothed_softmax_targets_and_loss_against_a_hand_computation():
    targets = Targets(num_classes=4, multi_label=False, smoothing=0.2, mixing=False)
    smoothed = targets(mx.nd.array([2, 0]))
    assert not targets.as_given
    assert smoothed.asnumpy() == pytest.approx(np.array([[0.05, 0.05, 0.85, 0.05], [0.85, 0.05, 0.05, 0.05]]))
    logits = np.array([[1.0, 2.0, 3.0, 0.5], [0.0, -1.0, 1.0, 2.0]])
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    by_hand = -(smoothed.asnumpy() * log_softmax).sum(axis=1)
    loss = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=targets.as_given)(mx.nd.array(logits), smoothed)
    assert loss.asnumpy() == pytest.approx(by_hand, rel=1e-5)


def test_smoothed_multi_label_targets_move_toward_one_half():
    targets = Targets(num_classes=3, multi_label=True, smoothing=0.1, mixing=False)
    assert not targets.as_given
    assert targets(mx.nd.array([[1, 0, 1]])).asnumpy() == pytest.approx(np.array([[0.95, 0.05, 0.95]]))


@pytest.mark.parametrize("multi_label", [False, True])
def test_without_smoothing_the_labels_pass_untouched(multi_label):
    label = mx.nd.array([[1, 0, 1]] if multi_label else [2, 0])
    targets = Targets(num_classes=3, multi_label=multi_label, smoothing=parse().label_smoothing, mixing=False)
    assert targets(label) is label and targets.as_given


@pytest.mark.parametrize("raw", ["1", "-0.1", "1.5", "x"])
def test_label_smoothing_outside_0_to_1_is_refused_by_name(raw):
    with pytest.raises(
        UserError, match=r"'label_smoothing' hyperparameter which accepts a float in the range \[0, 1\)"
    ):
        parse(label_smoothing=raw)


def decayed(trainer):
    """Each parameter's weight decay as the trainer's optimizer applies it: by Parameter, and by index alone
    (as a dist kvstore's servers see it)."""
    optimizer = trainer.optimizer
    names = {index: param.name for index, param in optimizer.param_dict.items()}
    by_parameter = dict(zip(names.values(), optimizer._get_wds(list(names))))
    param_dict, optimizer.param_dict = optimizer.param_dict, {}
    try:
        by_index = dict(zip(names.values(), optimizer._get_wds(list(names))))
    finally:
        optimizer.param_dict = param_dict
    return by_parameter, by_index


def biases_and_batch_norms(net):
    """The parameters no_bias_decay exempts, found by the blocks that hold them, not by name."""
    found = set()

    def visit(block):
        if isinstance(block, gluon.nn.BatchNorm):
            found.update((block.gamma.name, block.beta.name))
        elif isinstance(getattr(block, "bias", None), gluon.Parameter):
            found.add(block.bias.name)

    net.apply(visit)
    return found


@pytest.mark.parametrize("setting", ["0", "1"])
def test_no_bias_decay_exempts_exactly_biases_and_batch_norms_gamma_and_beta(setting):
    hp = parse(no_bias_decay=setting, weight_decay="0.001")
    net = networks.build(20, 2)
    name, params = optimizer_params(hp, BATCHES)
    trainer = gluon.Trainer(net.collect_params(), name, params)
    if hp.no_bias_decay:
        without_bias_decay(trainer)
    exempt = biases_and_batch_norms(net) if hp.no_bias_decay else set()
    assert len(exempt) == (2 * 21 + 1 if hp.no_bias_decay else 0)  # 21 batch norms, the dense head's bias
    trained = [name for name, param in net.collect_params().items() if param.grad_req != "null"]
    expected = {name: 0.0 if name in exempt else 0.001 for name in trained}
    for applied in decayed(trainer):
        assert {name: applied[name] for name in trained} == pytest.approx(expected)


RESIDUAL_BLOCKS = (
    resnet.BasicBlockV1,
    resnet.BottleneckV1,
    resnet.BasicBlockV2,
    resnet.BottleneckV2,
    resnetv1b.BasicBlockV1b,
    resnetv1b.BottleneckV1b,
    resnext.Block,
    resnest.Bottleneck,
    cifarresnet.CIFARBasicBlockV1,
)


def batch_norms(block):
    found = []
    block.apply(lambda child: found.append(child) if isinstance(child, gluon.nn.BatchNorm) else None)
    return found


def initial_gammas(network, num_layers, zero_init_last_bn):
    """The initial gammas of each residual block's batch norms, and of the batch norms outside any block;
    each gamma as 0, 1 or None (neither)."""
    side = 96 if network == "resnest14" else 32
    net = networks.build(num_layers, 3, network, (3, side, side), zero_init_last_bn)
    net(mx.nd.zeros((1, 3, side, side)))  # the deferred shapes, and so the values
    blocks = []
    net.apply(lambda block: blocks.append(batch_norms(block)) if isinstance(block, RESIDUAL_BLOCKS) else None)
    inside = {id(norm) for norms in blocks for norm in norms}
    outside = [norm for norm in batch_norms(net) if id(norm) not in inside]
    return [[constant(norm) for norm in norms] for norms in blocks], [constant(norm) for norm in outside]


def constant(norm):
    gamma = norm.gamma.data().asnumpy()
    return next((value for value in (0, 1) if (gamma == value).all()), None)


@pytest.mark.parametrize(
    "network, num_layers, blocks",
    [
        (None, 20, 9),  # CIFAR ResNet, num_layers alone (GluonCV's has no last_gamma)
        (None, 18, 8),  # ResNet v1, num_layers alone
        ("resnet18_v2", 18, 8),
        ("resnet18_v1b", 18, 8),  # GluonCV's BasicBlockV1b ignores last_gamma
        ("resnet50_v1d", 50, 16),
        ("resnext50_32x4d", 50, 16),  # GluonCV's Block inverts last_gamma: its default starts at 0
        ("resnest14", 14, 4),
    ],
)
def test_zero_init_last_bn_starts_the_last_batch_norm_of_each_residual_block_at_gamma_0(network, num_layers, blocks):
    zeroed, others = initial_gammas(network, num_layers, zero_init_last_bn=True)
    assert len(zeroed) == blocks
    assert all(gammas.count(0) == 1 and gammas.count(1) == len(gammas) - 1 for gammas in zeroed), zeroed
    assert others and set(others) == {1}
    if network is None:  # the residual branch's second batch norm, not the shortcut's
        assert all(gammas[1] == 0 for gammas in zeroed)
    default, others = initial_gammas(network, num_layers, zero_init_last_bn=False)
    assert default == (zeroed if network == "resnext50_32x4d" else [[1] * len(gammas) for gammas in zeroed])
    assert set(others) == {1}


@pytest.mark.parametrize("network", ["mobilenetv3_small", "densenet121", "mobilenet1.0"])
def test_zero_init_last_bn_is_refused_by_name_for_networks_without_residual_blocks(network):
    side = "224" if network == "densenet121" else "32"
    with pytest.raises(UserError, match=f"zero_init_last_bn=1 .* network={network} .*; set zero_init_last_bn=0"):
        parse(network=network, image_shape=f"3,{side},{side}", zero_init_last_bn="1")
    parse(network=network, image_shape=f"3,{side},{side}")


def mixing(**values):
    return Mixing(parse(**values))


def test_mixup_blends_two_known_images_and_their_targets_with_one_share():
    mix = mixing(mixup_alpha="0.4").draw(seed=3, epoch=0, batch_number=5, height=2, width=2)
    first, second = np.full((1, 2, 2), 1.0), np.full((1, 2, 2), 5.0)
    mixed = mix.images(mx.nd.array(np.stack([first, second]))).asnumpy()
    share = mix.share
    assert mix.box is None and 0 < share < 1
    np.testing.assert_allclose(mixed[0], share * first + (1 - share) * second, rtol=1e-6)
    np.testing.assert_allclose(mixed[1], share * second + (1 - share) * first, rtol=1e-6)
    targets = Targets(num_classes=3, multi_label=False, smoothing=0.0, mixing=True)
    assert not targets.as_given
    mixed_targets = targets(mx.nd.array([0, 2]), mix).asnumpy()
    np.testing.assert_allclose(mixed_targets, [[share, 0, 1 - share], [1 - share, 0, share]], rtol=1e-6)


def test_mixups_share_is_drawn_from_beta_alpha_alpha():
    draws = [mixing(mixup_alpha="0.2").draw(0, 0, number, 8, 8).share for number in range(2000)]
    assert np.mean(draws) == pytest.approx(0.5, abs=0.03)  # Beta(0.2, 0.2): mean 1/2, variance 1/(4 * 1.4)
    assert np.var(draws) == pytest.approx(1 / 5.6, rel=0.1)


def test_the_cutmix_box_covers_one_minus_the_share_of_the_image():
    draws = [mixing(cutmix_alpha="1").draw(7, 2, number, 32, 24) for number in range(200)]
    draws = [mix for mix in draws if mix is not None]
    for mix in draws:
        top, bottom, left, right = mix.box
        assert 0 <= top <= bottom <= 32 and 0 <= left <= right <= 24
        assert (bottom - top) * (right - left) / (32 * 24) == pytest.approx(1 - mix.share)
    mix = next(mix for mix in draws if 0.2 < mix.share < 0.8)
    data = np.arange(2 * 3 * 32 * 24, dtype=np.float32).reshape((2, 3, 32, 24))
    mixed = mix.images(mx.nd.array(data)).asnumpy()
    top, bottom, left, right = mix.box
    from_other = np.zeros((32, 24), bool)
    from_other[top:bottom, left:right] = True
    np.testing.assert_array_equal(mixed[0][:, from_other], data[1][:, from_other])
    np.testing.assert_array_equal(mixed[0][:, ~from_other], data[0][:, ~from_other])
    assert from_other.mean() == pytest.approx(1 - mix.share)


def test_an_empty_cutmix_box_leaves_the_images_as_they_are():
    data = mx.nd.array(np.arange(2 * 1 * 4 * 4, dtype=np.float32).reshape((2, 1, 4, 4)))
    for box in ((2, 2, 0, 4), (0, 4, 3, 3)):
        np.testing.assert_array_equal(Mix(1.0, box).images(data).asnumpy(), data.asnumpy())


def test_a_cutmix_box_too_small_for_a_pixel_leaves_the_batch_its_own():
    """On small images a share near 1 gives an empty box; MXNet cannot assign to an empty slice."""
    data = mx.nd.array(np.arange(2 * 1 * 6 * 6, dtype=np.float32).reshape((2, 1, 6, 6)))
    draws = [mixing(cutmix_alpha="1").draw(0, 0, number, 6, 6) for number in range(300)]
    assert None in draws
    for mix in draws:
        if mix is not None:
            top, bottom, left, right = mix.box
            assert bottom > top and right > left
            assert mix.images(data).shape == data.shape


def test_with_both_alphas_each_batch_is_mixup_or_cutmix_half_each():
    draws = [mixing(mixup_alpha="0.2", cutmix_alpha="1").draw(1, 0, number, 16, 16) for number in range(1000)]
    assert sum(mix is None or mix.box is not None for mix in draws) == pytest.approx(500, abs=60)


def test_the_draws_depend_on_seed_epoch_and_batch_alone_and_stop_for_the_last_epochs():
    hp = dict(mixup_alpha="0.4", cutmix_alpha="1", epochs="5", mixup_off_epochs="2")
    assert mixing(**hp).draw(4, 1, 9, 16, 16) == mixing(**hp).draw(4, 1, 9, 16, 16)
    assert len({mixing(**hp).draw(4, epoch, number, 16, 16) for epoch in (0, 1) for number in (0, 1)}) == 4
    assert [mixing(**hp).draw(4, epoch, 0, 16, 16) is None for epoch in range(5)] == [False] * 3 + [True] * 2
    assert mixing().draw(4, 0, 0, 16, 16) is None and not mixing().enabled


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"mixup_alpha": "-1"}, "'mixup_alpha' hyperparameter which accepts a float of at least 0"),
        ({"cutmix_alpha": "inf"}, "'cutmix_alpha' hyperparameter which accepts a float of at least 0"),
        ({"mixup_off_epochs": "-1"}, "'mixup_off_epochs' hyperparameter which accepts an integer of at least 0"),
        ({"mixup_off_epochs": "2"}, "neither is on; set mixup_alpha or cutmix_alpha, or remove mixup_off_epochs"),
        ({"mixup_alpha": "1", "mixup_off_epochs": "3", "epochs": "3"}, "'mixup_off_epochs' hyperparameter which"),
    ],
)
def test_mixing_values_are_refused_by_name(values, fragment):
    with pytest.raises(UserError, match=fragment):
        parse(**values)


def dense_net():
    net = gluon.nn.Dense(2, in_units=3)
    net.initialize()
    return net


def set_weights(net, value):
    for param in net.collect_params().values():
        param.set_data(mx.nd.full(param.shape, value))


def test_the_weights_average_against_a_hand_computation():
    net = dense_net()
    average = WeightAverage(net, decay=0.9, ctx=mx.cpu())
    expected = None
    for update, value in enumerate([1.0, 3.0, -2.0, 5.0] + [0.5] * 100, start=1):
        set_weights(net, value)  # the weights after update ``update``
        average.update()
        decay = min(0.9, (1 + update) / (10 + update))  # 0.25, 4/13, 5/14, ... then 0.9 from update 80
        expected = value if expected is None else decay * expected + (1 - decay) * value
        if update in (1, 2, 3, 4, 80, 104):
            for array in average.average.values():
                assert array.asnumpy() == pytest.approx(np.full(array.shape, expected), rel=1e-5)
    assert average.updates == 104


def test_the_average_is_swapped_in_for_the_duration_then_the_weights_come_back_exactly():
    net = dense_net()
    average = WeightAverage(net, decay=0.5, ctx=mx.cpu())
    initial = net.weight.data().asnumpy().copy()
    with average.swapped_in():  # nothing averaged yet: the weights themselves
        assert np.array_equal(net.weight.data().asnumpy(), initial)
    set_weights(net, 2.0)
    average.update()
    set_weights(net, 4.0)
    average.update()  # decay min(0.5, 3/12): 0.25 * 2 + 0.75 * 4
    own = net.weight.data().asnumpy().copy()
    with average.swapped_in():
        assert net(mx.nd.ones((1, 3))).asnumpy() == pytest.approx(np.full((1, 2), 3.5 * 3 + 3.5))
    assert np.array_equal(net.weight.data().asnumpy(), own)


def test_a_checkpoint_resumes_the_average_and_its_update_count(tmp_path):
    net = dense_net()
    average = WeightAverage(net, decay=0.9, ctx=mx.cpu())
    for value in (1.0, 2.0, 7.0):
        set_weights(net, value)
        average.update()
    (tmp_path / "checkpoints").mkdir()
    checkpoints = Checkpoints(tmp_path / "checkpoints")
    checkpoints.save(1, net, None, {"epochs_done": 1}, tmp_path / "model", average)
    resumed = WeightAverage(net, decay=0.9, ctx=mx.cpu())
    assert checkpoints.resume(net, None, tmp_path / "model", resumed)["epochs_done"] == 1
    assert resumed.updates == 3
    for name, array in average.average.items():
        assert np.array_equal(resumed.average[name].asnumpy(), array.asnumpy())
    for each in (average, resumed):
        set_weights(net, -1.0)
        each.update()
    assert np.array_equal(resumed.average[net.weight.name].asnumpy(), average.average[net.weight.name].asnumpy())


@pytest.mark.parametrize("raw", ["1", "-0.5", "nan"])
def test_ema_decay_outside_0_to_1_is_refused_by_name(raw):
    with pytest.raises(UserError, match=r"'ema_decay' hyperparameter which accepts a float in the range \[0, 1\)"):
        parse(ema_decay=raw)
