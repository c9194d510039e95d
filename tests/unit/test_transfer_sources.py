"""Starting weights from the model channel, the pretrained channel and GluonCV's cache: what loads, and
the failure message for each way it can go wrong."""

import shutil

import mxnet as mx
import numpy as np
import pytest
from gluoncv.model_zoo import model_store
from transfer_models import initialised_builtin, tar_model, write_builtin_model, write_our_model

from image_classifier import hyperparameters
from image_classifier.environment import Channel, Environment, Paths
from image_classifier.errors import UserError
from image_classifier.model import artifacts, networks, sources, zoo
from image_classifier.model.transfer import TransferNet

IMAGES = mx.nd.random.uniform(-2, 2, shape=(4, 3, 16, 16))


def hp(**values):
    raw = {"num_classes": 2, "num_training_samples": 10, "num_layers": 20, "image_shape": "3,16,16", **values}
    return hyperparameters.parse({name: str(value) for name, value in raw.items()})


def env_with(tmp_path, **channel_files):
    """An Environment whose channels (name=path of a file or folder) hold copies of those files."""
    channels = {}
    for name, source in channel_files.items():
        folder = tmp_path / "data" / name
        if source.is_dir():
            shutil.copytree(source, folder)
        else:
            folder.mkdir(parents=True)
            shutil.copy(source, folder)
        channels[name] = Channel(name, folder)
    return Environment(paths=Paths(tmp_path), hyperparameters={}, channels=channels)


def source_net(num_layers=20, num_classes=4):
    mx.random.seed(0)
    net = networks.build(num_layers, num_classes)
    net(IMAGES)
    return net


def features(net):
    return net.features(IMAGES).asnumpy().reshape(len(IMAGES), -1)


@pytest.fixture(scope="module")
def our_net():
    return source_net(num_classes=3)


@pytest.fixture(scope="module")
def our_model(tmp_path_factory, our_net):
    """A ResNet-20 with 3 classes saved as this project's model directory."""
    return write_our_model(tmp_path_factory.mktemp("ours"), our_net, (3, 16, 16), {0: "a", 1: "b", 2: "c"})


@pytest.fixture(scope="module")
def builtin_model(tmp_path_factory):
    """A built-in style model: MXNet's symbolic ResNet-20 v2, 3 classes, Module's files and model-shapes."""
    symbol, args, auxs = initialised_builtin(3, (3, 16, 16))
    return write_builtin_model(tmp_path_factory.mktemp("builtin"), symbol, args, auxs, (3, 16, 16))


def builtin_probabilities(model_dir):
    """The built-in's own way to run its model: a Module over the symbol, for inference."""
    symbol, args, auxs = mx.model.load_checkpoint(str(model_dir / artifacts.PREFIX), 1)
    module = mx.mod.Module(symbol)
    module.bind(data_shapes=[("data", IMAGES.shape)], for_training=False)
    module.set_params(args, auxs)
    module.forward(mx.io.DataBatch([IMAGES]), is_train=False)
    return module.get_outputs()[0].asnumpy()


def test_random_initialisation_without_weights(tmp_path):
    net = sources.starting_network(env_with(tmp_path), hp())
    assert not isinstance(net, TransferNet)
    assert net.output.weight.shape == (2, 64)


def test_random_initialisation_with_zero_init_last_bn_starts_the_blocks_last_gammas_at_0(tmp_path):
    net = sources.starting_network(env_with(tmp_path), hp(zero_init_last_bn=1))
    net(IMAGES)
    gammas = [param.data().asnumpy() for name, param in net.collect_params().items() if name.endswith("_gamma")]
    assert sum(not gamma.any() for gamma in gammas) == 9  # ResNet-20's residual blocks


@pytest.mark.parametrize("given", ["pretrained", "model", "use_pretrained_model"])
def test_zero_init_last_bn_with_starting_weights_is_refused_by_name(tmp_path, given):
    source_net().save_parameters(str(tmp_path / "mine.params"))
    channels = {} if given == "use_pretrained_model" else {given: tmp_path / "mine.params"}
    values = {"use_pretrained_model": 1, "num_layers": 18} if given == "use_pretrained_model" else {}
    with pytest.raises(UserError, match="zero_init_last_bn=1 sets how a network trained from scratch starts"):
        sources.starting_network(env_with(tmp_path, **channels), hp(zero_init_last_bn=1, **values))


def test_gluoncv_params_in_the_pretrained_channel_become_the_body_under_a_new_head(tmp_path):
    source = source_net()
    source.save_parameters(str(tmp_path / "mine.params"))
    net = sources.starting_network(env_with(tmp_path, pretrained=tmp_path / "mine.params"), hp())
    assert isinstance(net, TransferNet)
    np.testing.assert_array_equal(net.body(IMAGES).asnumpy().reshape(4, -1), features(source))
    assert net(IMAGES).shape == (4, 2)
    assert net.head.name.startswith(net.name)  # created in the network's name scope


@pytest.mark.parametrize("packed", [True, False], ids=["model.tar.gz", "files"])
def test_our_model_in_the_pretrained_channel_gives_its_body(tmp_path, our_net, our_model, packed):
    given = tar_model(our_model, tmp_path / "model.tar.gz") if packed else our_model
    net = sources.starting_network(env_with(tmp_path, pretrained=given), hp(num_classes=5))
    np.testing.assert_allclose(net.body(IMAGES).asnumpy().reshape(4, -1), features(our_net), rtol=1e-5, atol=1e-6)
    assert net(IMAGES).shape == (4, 5)


@pytest.mark.parametrize("packed", [True, False], ids=["model.tar.gz", "files"])
def test_model_channel_continues_our_model_with_its_classifier(tmp_path, our_model, packed):
    given = tar_model(our_model, tmp_path / "model.tar.gz") if packed else our_model
    net = sources.starting_network(env_with(tmp_path, model=given), hp(num_classes=3))
    expected = artifacts.load(our_model)(IMAGES).asnumpy()
    np.testing.assert_allclose(mx.nd.softmax(net(IMAGES)).asnumpy(), expected, rtol=1e-5, atol=1e-6)


def sdk_local_mode_output(tmp_path, model_dir):
    """The folder the SageMaker Python SDK's local mode mounts as the 'model' channel for
    ``model_uri="file://.../model.tar.gz"``: the tarball's folder (local/data.py ``get_root_dir``), which is a
    finished local job's output folder holding model.tar.gz and output.tar.gz (local/image.py
    ``retrieve_artifacts``: /opt/ml/model and /opt/ml/output packed side by side)."""
    job_output = tmp_path / "local-output" / "image-classifier-2026-12-07-01-00-00-000"
    tar_model(model_dir, job_output / "model.tar.gz")
    output = tmp_path / "opt-ml-output"
    (output / "data").mkdir(parents=True)
    (output / "data" / "history.json").write_text("[]")
    (output / "success").touch()
    tar_model(output, job_output / "output.tar.gz")
    return job_output


def test_model_channel_of_sdk_local_mode_uses_its_model_tar_gz(tmp_path, our_model, caplog):
    env = env_with(tmp_path, model=sdk_local_mode_output(tmp_path, our_model))
    with caplog.at_level("INFO"):
        net = sources.starting_network(env, hp(num_classes=3))
    expected = artifacts.load(our_model)(IMAGES).asnumpy()
    np.testing.assert_allclose(mx.nd.softmax(net(IMAGES)).asnumpy(), expected, rtol=1e-5, atol=1e-6)
    assert "The 'model' channel holds model.tar.gz and output.tar.gz; using model.tar.gz" in caplog.text


def test_model_channel_with_archives_none_named_model_tar_gz_is_refused_naming_them(tmp_path, our_model):
    folder = tmp_path / "archives"
    tar_model(our_model, folder / "first.tar.gz")
    tar_model(our_model, folder / "second.tar.gz")
    with pytest.raises(UserError) as error:
        sources.starting_network(env_with(tmp_path, model=folder), hp(num_classes=3))
    assert str(error.value) == (
        "The 'model' channel holds 2 .tar.gz files and none is named model.tar.gz (first.tar.gz, second.tar.gz); "
        "give the one model.tar.gz to train from"
    )


def test_model_channel_continues_a_model_that_was_itself_transferred(tmp_path):
    source_net().save_parameters(str(tmp_path / "source.params"))
    transferred = sources.starting_network(env_with(tmp_path, pretrained=tmp_path / "source.params"), hp())
    transferred.hybridize()
    model_dir = write_our_model(tmp_path / "transferred", transferred, (3, 16, 16), {0: "a", 1: "b"})
    net = sources.starting_network(env_with(tmp_path / "next", model=model_dir), hp())
    np.testing.assert_allclose(
        mx.nd.softmax(net(IMAGES)).asnumpy(), artifacts.load(model_dir)(IMAGES).asnumpy(), rtol=1e-5, atol=1e-6
    )


def test_model_channel_continues_a_builtin_model_with_its_classifier(tmp_path, builtin_model):
    net = sources.starting_network(env_with(tmp_path, model=builtin_model), hp(num_classes=3))
    expected = builtin_probabilities(builtin_model)
    np.testing.assert_allclose(mx.nd.softmax(net(IMAGES)).asnumpy(), expected, rtol=1e-5, atol=1e-6)


def test_builtin_model_in_the_pretrained_channel_gives_its_body(tmp_path, builtin_model):
    net = sources.starting_network(env_with(tmp_path, pretrained=builtin_model), hp(num_classes=2))
    assert net(IMAGES).shape == (4, 2)
    assert "bn_data_gamma" in net.body.collect_params()


def test_zoo_weights_in_mxnet_home_are_used_as_they_are(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet"))
    monkeypatch.setattr(model_store, "get_model_file", lambda *a, **k: pytest.fail("tried to download"))
    source = source_net(18, 10)
    path = tmp_path / "mxnet" / "models" / "resnet18_v1-a0666292.params"
    path.parent.mkdir(parents=True)
    source.save_parameters(str(path))
    net = sources.starting_network(env_with(tmp_path), hp(num_layers=18, use_pretrained_model=1))
    np.testing.assert_array_equal(net.body(IMAGES).asnumpy().reshape(4, -1), features(source))


def test_missing_zoo_weights_come_from_gluoncvs_downloader(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet"))
    downloaded = tmp_path / "downloaded.params"
    source_net(18, 10).save_parameters(str(downloaded))
    calls = []
    monkeypatch.setattr(model_store, "get_model_file", lambda name, root: calls.append((name, root)) or downloaded)
    assert zoo.weights_file("resnet18_v1") == downloaded
    assert calls == [("resnet18_v1", str(tmp_path / "mxnet" / "models"))]


def test_missing_zoo_weights_without_network_say_which_file_and_the_two_ways(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet"))

    def unreachable(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(model_store, "get_model_file", unreachable)
    with pytest.raises(UserError) as error:
        sources.starting_network(env_with(tmp_path), hp(num_layers=34, use_pretrained_model=1))
    message = str(error.value)
    assert message.startswith(
        f"Pretrained weights resnet34_v1-48216ba9.params are not in {tmp_path}/mxnet/models "
        f"and could not be downloaded (OSError)"
    )
    assert "put GluonCV's resnet34_v1-48216ba9.params there" in message and "'pretrained' channel" in message


def _without(name):
    def remove(model_dir):
        for path in model_dir.glob(name):
            path.unlink()

    return remove


def _corrupt(name, data):
    def corrupt(model_dir):
        for path in model_dir.glob(name):
            path.write_bytes(data(path.read_bytes()))

    return corrupt


MODEL_FAILURES = {
    "no symbol": (
        _without("*-symbol.json"),
        "The 'model' channel's model has no image-classification-symbol.json; give the model.tar.gz of a training job",
    ),
    "no params": (_without("*.params"), "The 'model' channel's model has no image-classification-NNNN.params"),
    "no shapes": (_without("model-shapes.json"), "The 'model' channel's model has no model-shapes.json"),
    "truncated params": (
        _corrupt("*.params", lambda data: data[: len(data) // 2]),
        "image-classification-0001.params is not a valid MXNet parameters file (",
    ),
    "corrupt symbol": (
        _corrupt("*-symbol.json", lambda data: b"not json"),
        "image-classification-symbol.json is not a valid MXNet symbol file (",
    ),
}


@pytest.mark.parametrize("case", sorted(MODEL_FAILURES))
def test_model_channel_failures_have_their_own_message(tmp_path, our_model, case):
    breaks, fragment = MODEL_FAILURES[case]
    env = env_with(tmp_path, model=our_model)
    breaks(env.channels["model"].path)
    with pytest.raises(UserError) as error:
        sources.starting_network(env, hp(num_classes=3))
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_model_channel_params_of_another_network_are_named(tmp_path, our_model):
    env = env_with(tmp_path, model=our_model)
    other = networks.with_probabilities(source_net(num_classes=3), multi_label=False)
    other.hybridize()
    other(IMAGES)
    other.export(str(tmp_path / "other"), 1)
    shutil.copy(tmp_path / "other-0001.params", env.channels["model"].path / "image-classification-0001.params")
    with pytest.raises(
        UserError,
        match=r"The parameters of the 'model' channel's model lack '\w+' \(\d+ of the "
        r"network's \d+ are missing\)",
    ):
        sources.starting_network(env, hp(num_classes=3))


def test_corrupt_model_tar_gz(tmp_path, our_model):
    archive = tar_model(our_model, tmp_path / "model.tar.gz")
    archive.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(UserError, match=r"model\.tar\.gz cannot be unpacked \(.*\); give the model\.tar\.gz as"):
        sources.starting_network(env_with(tmp_path, model=archive), hp(num_classes=3))


def test_model_channel_says_which_hyperparameters_differ(tmp_path, our_model):
    with pytest.raises(UserError) as error:
        sources.starting_network(
            env_with(tmp_path, model=our_model), hp(num_layers=32, image_shape="3,24,24", num_classes=4)
        )
    assert str(error.value) == (
        "The model in the 'model' channel has num_layers=20 (this job: 32), image_shape=3,16,16 (this job: 3,24,24), "
        "num_classes=3 (this job: 4); set these hyperparameters to the model's values to continue training it, or "
        "give it as the 'pretrained' channel"
    )


def test_model_channel_with_one_difference(tmp_path, builtin_model):
    with pytest.raises(UserError, match=r"has num_classes=3 \(this job: 2\); set these"):
        sources.starting_network(env_with(tmp_path, model=builtin_model), hp(num_classes=2))


def test_pretrained_model_of_another_depth(tmp_path, our_model):
    with pytest.raises(
        UserError, match="The network in the 'pretrained' channel has 20 layers but num_layers is 56; set num_layers=20"
    ):
        sources.starting_network(env_with(tmp_path, pretrained=our_model), hp(num_layers=56))


def test_gluoncv_params_of_another_depth(tmp_path):
    source_net(20).save_parameters(str(tmp_path / "resnet20.params"))
    with pytest.raises(
        UserError,
        match=r"resnet20\.params does not fit ResNet-32 \(.*\); set num_layers to the "
        r"depth these weights were trained with",
    ):
        sources.starting_network(env_with(tmp_path, pretrained=tmp_path / "resnet20.params"), hp(num_layers=32))


def test_params_that_are_no_gluoncv_resnet(tmp_path):
    mx.nd.save(str(tmp_path / "other.params"), {"weight": mx.nd.zeros(3)})
    with pytest.raises(UserError, match=r"other\.params holds no GluonCV ResNet's parameters"):
        sources.starting_network(env_with(tmp_path, pretrained=tmp_path / "other.params"), hp())


def test_weights_for_other_image_channels(tmp_path):
    source_net().save_parameters(str(tmp_path / "rgb.params"))
    with pytest.raises(
        UserError,
        match=r"cannot run on image_shape 1,16,16 with its parameters \(.*\); set "
        r"image_shape to the channels the network takes",
    ):
        sources.starting_network(env_with(tmp_path, pretrained=tmp_path / "rgb.params"), hp(image_shape="1,16,16"))


def test_pretrained_channel_without_weights(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="The 'pretrained' channel holds 0 .params files and no model"):
        sources.starting_network(env_with(tmp_path, pretrained=tmp_path / "notes.txt"), hp())


def test_model_and_pretrained_channels_together(tmp_path, our_model):
    with pytest.raises(UserError, match="Give either a 'model' channel .* or a 'pretrained' channel .*, not both"):
        sources.starting_network(env_with(tmp_path, model=our_model, pretrained=our_model), hp(num_classes=3))


def test_empty_model_channel(tmp_path):
    folder = tmp_path / "data" / "model"
    folder.mkdir(parents=True)
    env = Environment(paths=Paths(tmp_path), hyperparameters={}, channels={"model": Channel("model", folder)})
    with pytest.raises(UserError, match="The 'model' channel is empty"):
        sources.starting_network(env, hp())
