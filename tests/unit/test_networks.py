"""Every family of the network catalog, at the smallest image size it takes: built as training builds it, one
training step, saved as training saves it, loaded and asked for a prediction as serving does, and exported to
ONNX. Then starting weights: from self-made "pretrained" networks of two families, incremental training,
GluonCV's cache, and the refusals."""

import mxnet as mx
import numpy as np
import onnx
import pytest
from gluoncv.model_zoo import get_model, model_store
from gluoncv2.models import model_store as gluoncv2_store
from mxnet import autograd, gluon
from onnx.reference import ReferenceEvaluator

from image_classifier import hyperparameters, network_catalog
from image_classifier.environment import Channel, Environment, Paths
from image_classifier.errors import UserError
from image_classifier.model import artifacts, graph, networks, onnx_export, sources
from image_classifier.model.preprocessing import Preprocessing
from image_classifier.model.transfer import TransferNet
from image_classifier.serving.predictor import Predictor

# One member of each family: the smallest, or one whose layers the others lack (ResNeSt-26's DropBlock; ResNeSt
# also has the deep stem and average-pool shortcuts of ResNet v1c, v1d, v1s).
MEMBERS = {
    "ResNet v1": "resnet18_v1",
    "ResNet v2": "resnet18_v2",
    "ResNet v1b, v1c, v1d, v1s": "resnet18_v1b",
    "ResNeXt": "resnext50_32x4d",
    "SE-ResNeXt": "se_resnext50_32x4d",
    "ResNeSt": "resnest26",
    "MobileNet v1": "mobilenet0.25",
    "MobileNet v2": "mobilenetv2_0.25",
    "MobileNet v3": "mobilenetv3_small",
    "DenseNet": "densenet121",
    "Inception v3": "inceptionv3",
    "Xception": "xception",
    "SqueezeNet": "squeezenet1.1",
    "VGG": "vgg11",
    "VGG with batch norm": "vgg11_bn",
    "EfficientNet": "efficientnet_b0",
    "EfficientNet (TensorFlow weights: b, c AdvProp)": "efficientnet_b0b",
    "RegNetX": "regnetx002",
    "RegNetY": "regnety002",
    "GhostNet": "ghostnet",
    "MixNet": "mixnet_s",
    "EfficientNet-Edge": "efficientnet_edge_small_b",
}
# onnx's reference evaluator runs these for tens of seconds: their export is checked, not evaluated.
SLOW_TO_EVALUATE = ("inceptionv3", "xception", "densenet121", "efficientnet_b0b", "mixnet_s")
NUM_CLASSES = 3


# At 32 pixels RegNet's last batch norms see two values per channel from two images, and one step blows its
# inference output up to 1e22: it trains its step on 2x2 final features.
TEST_SIDES = {"regnetx002": 64, "regnety002": 64}


def side(name):
    family = network_catalog.NETWORKS[name]
    return TEST_SIDES.get(name) or family.side(name) or family.min_side


def hp(name, **values):
    size = side(name)
    raw = {"num_classes": NUM_CLASSES, "num_training_samples": 4, "network": name, "image_shape": f"3,{size},{size}"}
    return hyperparameters.parse({key: str(value) for key, value in {**raw, **values}.items()})


def env_with(tmp_path, **channel_folders):
    channels = {name: Channel(name, folder) for name, folder in channel_folders.items()}
    return Environment(paths=Paths(tmp_path), hyperparameters={}, channels=channels)


def images(name, count=2, seed=0):
    return mx.nd.array(np.random.default_rng(seed).normal(size=(count, 3, side(name), side(name))))


def train_step(net, data, labels):
    """One small step: two images give batch statistics far from the running ones, so a large step would
    leave scores that saturate the softmax (and onnx's reference softmax overflows to NaN)."""
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.001})
    with autograd.record():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(data), labels)
    loss.backward()
    trainer.step(data.shape[0])
    return loss.asnumpy()


def save_model(net, model_dir, image_shape):
    """The model directory as training writes it (Loop.save)."""
    served = networks.with_probabilities(net, False)
    served.hybridize()
    served(mx.nd.zeros((1, *image_shape)))
    artifacts.write_metadata(model_dir, Preprocessing.for_training(image_shape, None), {0: "a", 1: "b", 2: "c"})
    artifacts.save_epoch(served, model_dir, 1)
    return model_dir


def test_every_family_has_a_member_here():
    assert set(MEMBERS) == {family.title for family in network_catalog.FAMILIES}


@pytest.mark.slow
@pytest.mark.parametrize("family", network_catalog.FAMILIES, ids=lambda family: family.title)
def test_every_network_of_the_catalog_takes_its_smallest_images_and_its_classifier_is_found(family):
    for name in family.layers:
        image_shape = (3, side(name), side(name))
        symbol = networks.symbol(networks.architecture(None, NUM_CLASSES, name, image_shape))
        assert symbol.infer_shape(data=(1, *image_shape))[1] == [(1, NUM_CLASSES)]
        if family.transfer:
            assert graph.split_classifier(symbol)[1].num_outputs == NUM_CLASSES
        else:
            with pytest.raises(ValueError, match="its output comes from a Pooling operator"):
                graph.split_classifier(symbol)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MEMBERS.values()))
def test_trains_serves_and_exports_onnx(tmp_path, name):
    job = hp(name)
    net = sources.starting_network(env_with(tmp_path), job)
    net.hybridize(static_alloc=True, static_shape=True)
    data = images(name)
    before = net(data).asnumpy()
    assert np.isfinite(train_step(net, data, mx.nd.array([0, 2]))).all()
    after = net(data).asnumpy()
    assert before.shape == (2, NUM_CLASSES) and not np.allclose(before, after)

    model_dir = save_model(net, tmp_path / "model", job.image_shape)
    predictor = Predictor.load(model_dir, mx.cpu())
    probabilities = predictor.predict(data.asnumpy())
    np.testing.assert_allclose(probabilities, mx.nd.softmax(net(data)).asnumpy(), rtol=1e-4, atol=1e-5)

    model = onnx.load(str(onnx_export.export(model_dir)))
    assert [value.name for value in model.graph.input] == ["data"]
    if name not in SLOW_TO_EVALUATE:
        (from_onnx,) = ReferenceEvaluator(model).run(None, {"data": data.asnumpy().astype(np.float32)})
        np.testing.assert_allclose(from_onnx, probabilities, atol=1e-4)


def gluoncv_source(name, num_classes=4):
    """A GluonCV network of ``name`` with 4 classes and random weights: a self-made "pretrained" network."""
    mx.random.seed(1)
    net = networks.build(None, num_classes, name, (3, side(name), side(name)))
    net(images(name))
    return net


def body_features(net, data):
    return net.body(data).asnumpy().reshape(data.shape[0], -1)


@pytest.mark.slow
# A convolution and dense classifiers: after pooling (ResNeXt), after dropout (EfficientNet), after dense layers (VGG).
@pytest.mark.parametrize("name", ["mobilenetv3_small", "resnext50_32x4d", "efficientnet_b0", "vgg11_bn"])
def test_a_gluoncv_file_of_the_family_becomes_the_body_under_a_new_head(tmp_path, name):
    source = gluoncv_source(name)
    (tmp_path / "pretrained").mkdir()
    source.save_parameters(str(tmp_path / "pretrained" / "mine.params"))
    net = sources.starting_network(env_with(tmp_path, pretrained=tmp_path / "pretrained"), hp(name))
    assert isinstance(net, TransferNet)
    data = images(name, seed=3)
    expected = source.features(data).asnumpy().reshape(2, -1)  # what GluonCV's classifier (`output`) reads
    np.testing.assert_allclose(body_features(net, data), expected, rtol=1e-5, atol=1e-6)
    assert net(data).shape == (2, NUM_CLASSES)
    net.train_top(2)  # trainable_layers=2: the head and the top two weighted layers of the body train
    frozen = [param for param in net.body_params() if param.grad_req == "null"]
    assert 0 < len(frozen) < len(net.body_params())


@pytest.mark.slow
def test_incremental_training_continues_a_model_of_the_family_with_its_classifier(tmp_path):
    name = "mobilenetv2_0.25"
    source = gluoncv_source(name, NUM_CLASSES)
    model_dir = save_model(source, tmp_path / "model", hp(name).image_shape)
    net = sources.starting_network(env_with(tmp_path, model=model_dir), hp(name))
    data = images(name, seed=4)
    np.testing.assert_allclose(net(data).asnumpy(), source(data).asnumpy(), rtol=1e-4, atol=1e-5)


def test_a_model_of_another_network_is_refused_by_its_layers(tmp_path):
    model_dir = save_model(gluoncv_source("mobilenetv2_0.25", NUM_CLASSES), tmp_path / "model", (3, 32, 32))
    with pytest.raises(UserError, match=r"is not a mobilenetv2_0\.5 \(its layers' shapes differ\); set network"):
        sources.starting_network(env_with(tmp_path, model=model_dir), hp("mobilenetv2_0.5"))


def assert_starts_from_the_cached_weights(tmp_path, name, source, file_name):
    """``source``'s weights saved as ``file_name`` in $MXNET_HOME/models are the body use_pretrained_model=1 starts
    from."""
    source(images(name))
    path = tmp_path / "mxnet" / "models" / file_name
    path.parent.mkdir(parents=True)
    source.save_parameters(str(path))
    net = sources.starting_network(env_with(tmp_path), hp(name, use_pretrained_model=1))
    data = images(name)
    np.testing.assert_allclose(
        body_features(net, data), source.features(data).asnumpy().reshape(2, -1), rtol=1e-5, atol=1e-6
    )


def test_imagenet_weights_of_the_family_come_from_mxnet_home(tmp_path, monkeypatch):
    name = "mobilenetv2_0.25"
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet"))
    monkeypatch.setattr(model_store, "get_model_file", lambda *a, **k: pytest.fail("tried to download"))
    source = get_model(name, classes=1000)
    source.initialize()
    assert_starts_from_the_cached_weights(tmp_path, name, source, f"{name}-{model_store.short_hash(name)}.params")


def test_imagenet_weights_of_a_gluoncv2_family_come_from_mxnet_home_under_gluoncv2_names(tmp_path, monkeypatch):
    name = "efficientnet_b0"
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet"))
    monkeypatch.setattr(gluoncv2_store, "get_model_file", lambda *a, **k: pytest.fail("tried to download"))
    source = networks.build(None, 1000, name, (3, 32, 32))
    assert_starts_from_the_cached_weights(tmp_path, name, source, "efficientnet_b0-0722-041a8346.params")  # gluoncv2's


def test_missing_gluoncv2_weights_fail_as_gluoncv_ones_do(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet"))

    def unreachable(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(gluoncv2_store, "get_model_file", unreachable)
    with pytest.raises(
        UserError,
        match=r"Pretrained weights regnetx002-1038-7800b310\.params are not in .* \(OSError\); put gluoncv2's",
    ):
        sources.starting_network(env_with(tmp_path), hp("regnetx002", use_pretrained_model=1))


def test_missing_imagenet_weights_fail_with_the_file_and_the_two_ways(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet"))

    def unreachable(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(model_store, "get_model_file", unreachable)
    with pytest.raises(UserError, match=r"Pretrained weights mobilenetv3_small-\w+\.params are not in .* \(OSError\)"):
        sources.starting_network(env_with(tmp_path), hp("mobilenetv3_small", use_pretrained_model=1))


@pytest.mark.parametrize(("name", "zoo"), [("xception71", "GluonCV"), ("ghostnet", "gluoncv2")])
def test_a_network_without_imagenet_weights_says_so(tmp_path, name, zoo):
    with pytest.raises(UserError, match=f"{zoo} has no ImageNet weights for {name}; set use_pretrained_model=0"):
        sources.starting_network(env_with(tmp_path), hp(name, use_pretrained_model=1))


def test_squeezenet_cannot_start_from_weights(tmp_path):
    with pytest.raises(UserError, match=r"network=squeezenet1\.1 cannot start from weights \(use_pretrained_model=1\)"):
        sources.starting_network(env_with(tmp_path), hp("squeezenet1.1", use_pretrained_model=1))


@pytest.mark.parametrize(
    ("name", "closest"),
    [
        ("efficientnet_b0d", "'efficientnet_b0', 'efficientnet_b0c', 'efficientnet_b0b'"),
        ("vgg16bn", "'vgg16_bn', 'vgg16', 'vgg19_bn'"),
        ("regnetx", "'regnetx002', 'regnetx004', 'regnetx006'"),
    ],
)
def test_names_outside_the_catalog_are_refused_with_the_closest(name, closest):
    with pytest.raises(UserError, match=f"The value '{name}' is not valid for the 'network' hyperparameter") as error:
        hp("resnet18_v1", network=name)
    assert f"the closest are {closest}" in str(error.value)


@pytest.mark.parametrize(("name", "size"), [("efficientnet_b3b", 300), ("efficientnet_edge_medium_b", 240)])
def test_a_tensorflow_padded_efficientnet_takes_its_own_size_only(name, size):
    with pytest.raises(UserError, match=rf"network={name} takes {size}x{size} images only \(its padding is built"):
        hp(name, image_shape="3,224,224")
    assert hp(name).image_shape == (3, size, size)


def test_vgg_trains_at_any_size_but_starts_from_imagenet_weights_at_224_only():
    assert hp("vgg16", image_shape="3,64,64").network == "vgg16"
    with pytest.raises(UserError, match=r"network=vgg16 starts from ImageNet weights .* on 224x224 images only"):
        hp("vgg16", image_shape="3,64,64", use_pretrained_model=1)
    assert hp("vgg16", image_shape="3,224,224", use_pretrained_model=1).use_pretrained_model


def test_float32_while_casts_a_float16_network_for_the_duration_and_back():
    """ResNet v2 begins with batch normalisation, whose parameters stay float32 in a float16 network: the
    network's precision is what was given, not what its first parameter holds."""
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.BatchNorm(scale=False, center=False), gluon.nn.Dense(3))
    net.initialize()
    net(mx.nd.zeros((1, 4)))
    net.cast("float16")
    first, dense = list(net.collect_params().values())[0], net[1].weight
    assert (np.dtype(first.dtype), np.dtype(dense.dtype)) == (np.float32, np.float16)
    with networks.float32_while(net, "float16"):
        assert np.dtype(dense.dtype) == np.float32
    assert np.dtype(dense.dtype) == np.float16
    with networks.float32_while(net, "float32"):  # a float32 network is left alone
        assert np.dtype(dense.dtype) == np.float16
