"""Where training's starting weights come from; the first of these that is given wins:

- the ``model`` channel (incremental training): a previous model of this project or of the built-in
  algorithm, as its model.tar.gz or its files. Its network (num_layers, or with ``network`` the parameter
  shapes of that network), image_shape and num_classes must be the job's; it continues with its body and its
  classifier.
- the ``pretrained`` channel: a GluonCV network's ``.params`` (save_parameters), or a model.tar.gz or the
  files of a model of this project or of the built-in algorithm; its body gets a new head for num_classes.
- ``use_pretrained_model=1``: the ImageNet weights of the network's model zoo (GluonCV's or gluoncv2's) from its
  model store cache (zoo.py), new head.
- otherwise random initialisation (networks.build).
The ``teacher`` channel (knowledge distillation) is read as the ``model`` channel is, its network any.
A network whose family takes no new head (network_catalog.Family.transfer) is refused any starting weights.
A model's files are the built-in's: image-classification-symbol.json, image-classification-NNNN.params
(the newest is used) and, for the ``model`` channel, model-shapes.json.
"""

import json
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path

import mxnet as mx
from mxnet import gluon
from mxnet.base import MXNetError

from ..environment import Environment
from ..errors import UserError, error_line
from ..hyperparameters import Hyperparameters
from ..network_catalog import NETWORKS
from . import artifacts, graph, networks, tarballs, zoo
from .preprocessing import Preprocessing
from .transfer import TransferNet, from_gluoncv_file, read_arrays

log = logging.getLogger(__name__)
MODEL_FILES = f"{artifacts.SYMBOL_FILE}, {artifacts.PARAMS_FILES} and {artifacts.SHAPES_FILE}"


def _text(value):
    return ",".join(str(side) for side in value) if isinstance(value, tuple) else str(value)


def _given(env, name):
    """The folder of channel ``name`` if the job has that channel, else None."""
    if name not in env.channels:
        return None
    folder = env.channel(name).path
    if not any(folder.iterdir()):
        raise UserError(f"The '{name}' channel is empty; give it a model.tar.gz or a model's files, or remove it")
    return folder


def _archive(folder, channel):
    """The channel's model archive: its one .tar.gz, or of several the one named model.tar.gz (the SDK's local
    mode mounts a finished job's output folder, which holds model.tar.gz beside output.tar.gz)."""
    archives = sorted(folder.glob("*.tar.gz"))
    if len(archives) <= 1:
        return archives[0] if archives else None
    named = folder / tarballs.MODEL_ARCHIVE
    if named in archives:
        others = ", ".join(archive.name for archive in archives if archive != named)
        log.info("The '%s' channel holds %s and %s; using %s", channel, named.name, others, named.name)
        return named
    raise UserError(
        f"The '{channel}' channel holds {len(archives)} .tar.gz files and none is named {tarballs.MODEL_ARCHIVE} "
        f"({', '.join(archive.name for archive in archives)}); give the one model.tar.gz to train from"
    )


@contextmanager
def _unpacked(folder, channel):
    """The channel's folder, or the folder its model archive unpacks to (for the duration)."""
    archive = _archive(folder, channel)
    if archive is None:
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="image-classifier-") as unpacked:
        tarballs.unpack(archive, Path(unpacked))
        yield Path(unpacked)


def _check_files(folder, channel, names):
    missing = artifacts.missing_files(folder, names)
    if missing:
        raise UserError(
            f"The '{channel}' channel's model has no {missing[0]}; give the model.tar.gz of a "
            f"training job, or its files {MODEL_FILES}"
        )


def _read_model(folder, channel):
    """(symbol, arrays) of the model in ``folder``: its symbol and its newest params file."""
    _check_files(folder, channel, (artifacts.SYMBOL_FILE, artifacts.PARAMS_FILES))
    symbol_path = folder / artifacts.SYMBOL_FILE
    try:
        symbol = mx.sym.load(str(symbol_path))
    except MXNetError as error:
        raise UserError(
            f"{symbol_path} is not a valid MXNet symbol file ({error_line(error)}); give the file as training wrote it"
        ) from None
    return symbol, read_arrays(artifacts.params_path(folder, artifacts.saved_epochs(folder)[-1]))


def _saved_image_shape(folder, channel):
    _check_files(folder, channel, (artifacts.SHAPES_FILE,))
    path = folder / artifacts.SHAPES_FILE
    try:
        return tuple(json.loads(path.read_text())[0]["shape"][1:])
    except (ValueError, LookupError, TypeError):
        raise UserError(
            f'{path} is not valid; it holds [{{"name": "data", "shape": [1, C, H, W]}}] as training wrote it'
        ) from None


def _split(symbol, channel):
    try:
        return graph.split_classifier(symbol)
    except ValueError as error:
        raise UserError(
            f"The '{channel}' channel's model is not an image classifier: {error}; give a model of "
            f"this project or of the built-in image classification algorithm"
        ) from None


def _is_jobs_network(body, hp):
    """Whether ``body`` has the parameter shapes of the body of the job's ``network``."""
    shaped = networks.architecture(hp.num_layers, hp.num_classes, hp.network, hp.image_shape)
    jobs_body, _ = graph.split_classifier(networks.symbol(shaped))
    try:
        shapes = graph.parameter_shapes(body, hp.image_shape)
    except MXNetError:  # a body that cannot run on image_shape: the image_shape check names that
        return True
    return shapes == graph.parameter_shapes(jobs_body, hp.image_shape)


def _differences(saved, wanted, folder, channel, classifier, hp):
    """'name=value (this job: value)' for each of ``saved``, image_shape and num_classes that is not the job's."""
    saved = saved | {"image_shape": _saved_image_shape(folder, channel), "num_classes": classifier.num_outputs}
    wanted = wanted | {"image_shape": hp.image_shape, "num_classes": hp.num_classes}
    return [
        f"{name}={_text(saved[name])} (this job: {_text(wanted[name])})"
        for name in saved
        if saved[name] != wanted[name]
    ]


def _continued(folder, hp):
    """The model channel's network, checked against the job's network, image_shape and num_classes."""
    symbol, arrays = _read_model(folder, "model")
    body, classifier = _split(symbol, "model")
    by_depth = hp.network is None  # with network, the layers' shapes are compared below
    saved = {"num_layers": graph.depth(symbol)} if by_depth else {}
    wanted = {"num_layers": hp.num_layers} if by_depth else {}
    differences = _differences(saved, wanted, folder, "model", classifier, hp)
    if differences:
        raise UserError(
            f"The model in the 'model' channel has {', '.join(differences)}; set these hyperparameters "
            f"to the model's values to continue training it, or give it as the 'pretrained' channel"
        )
    if not by_depth and not _is_jobs_network(body, hp):
        raise UserError(
            f"The model in the 'model' channel is not a {hp.network} (its layers' shapes differ); set network to "
            f"the model's network to continue training it, or give it as the 'pretrained' channel"
        )
    return TransferNet(body, arrays, hp.num_classes, hp.image_shape, "the 'model' channel's model", classifier)


def _from_pretrained_channel(folder, hp):
    if artifacts.holds_model(folder):
        symbol, arrays = _read_model(folder, "pretrained")
        body, _ = _split(symbol, "pretrained")
        if hp.network is not None and not _is_jobs_network(body, hp):
            raise UserError(
                f"The network in the 'pretrained' channel is not a {hp.network} (its layers' shapes differ); "
                f"set network to its network"
            )
        layers = graph.depth(symbol)
        if hp.network is None and layers != hp.num_layers:
            raise UserError(
                f"The network in the 'pretrained' channel has {layers} layers but num_layers is "
                f"{hp.num_layers}; set num_layers={layers}"
            )
        return TransferNet(body, arrays, hp.num_classes, hp.image_shape, "the 'pretrained' channel's model")
    params_files = sorted(folder.glob("*.params"))
    if len(params_files) != 1:
        raise UserError(
            f"The 'pretrained' channel holds {len(params_files)} .params files and no model; give one "
            f"GluonCV .params file, or a model.tar.gz, or a model's files {MODEL_FILES}"
        )
    return from_gluoncv_file(params_files[0], hp, f"the 'pretrained' channel's {params_files[0].name}")


def _check_starting_weights(hp, source):
    if hp.zero_init_last_bn:
        raise UserError(
            f"zero_init_last_bn=1 sets how a network trained from scratch starts, and this job starts from "
            f"weights ({source}), which replace it; set zero_init_last_bn=0"
        )
    if hp.network is not None and not NETWORKS[hp.network].transfer:
        raise UserError(
            f"network={hp.network} cannot start from weights ({source}): its classifier is a convolution before "
            f"its pooling, where no new head fits; train it from scratch, or choose another network"
        )


def starting_network(env: Environment, hp: Hyperparameters) -> gluon.HybridBlock:
    """The network that training starts from, with its weights (see the module's docstring)."""
    model, pretrained = _given(env, "model"), _given(env, "pretrained")
    if model and pretrained:
        raise UserError(
            "Give either a 'model' channel (to continue training that model) or a 'pretrained' channel "
            "(to start a new model from its weights), not both"
        )
    if model:
        _check_starting_weights(hp, "the 'model' channel")
        log.info("Continuing to train the model in the 'model' channel")
        with _unpacked(model, "model") as folder:
            return _continued(folder, hp)
    if pretrained:
        _check_starting_weights(hp, "the 'pretrained' channel")
        log.info("Starting from the weights in the 'pretrained' channel")
        with _unpacked(pretrained, "pretrained") as folder:
            return _from_pretrained_channel(folder, hp)
    if hp.use_pretrained_model:
        _check_starting_weights(hp, "use_pretrained_model=1")
        name = networks.zoo_name(hp.num_layers, hp.network)
        path = zoo.weights_file(name)
        log.info("Starting from %s's ImageNet weights in %s", zoo.zoo_title(name), path)
        return from_gluoncv_file(path, hp, f"{zoo.zoo_title(name)}'s {path.name}")
    return networks.build(hp.num_layers, hp.num_classes, hp.network, hp.image_shape, hp.zero_init_last_bn)


def _check_normalisation(folder, hp):
    """The teacher's images normalised as the job's are: it sees the job's batches as they are."""
    theirs = artifacts.read_preprocessing(folder)
    ours = Preprocessing.for_training(hp.image_shape, hp.resize)
    if (theirs.mean, theirs.std) != (ours.mean, ours.std):
        raise UserError(
            f"The model in the 'teacher' channel takes images normalised with mean {_text(theirs.mean)} and std "
            f"{_text(theirs.std)}, not this job's {_text(ours.mean)} and {_text(ours.std)}; give a model.tar.gz "
            f"that this project's training wrote"
        )


def teacher_network(env: Environment, hp: Hyperparameters) -> TransferNet | None:
    """The 'teacher' channel's model (knowledge distillation), read as the 'model' channel's is, or None without
    that channel. Any network; its image_shape, num_classes and normalisation must be the job's, since it
    scores the job's own batches. It ends in its classifier: its outputs are scores, not probabilities."""
    folder = _given(env, "teacher")
    if folder is None:
        return None
    with _unpacked(folder, "teacher") as unpacked:
        symbol, arrays = _read_model(unpacked, "teacher")
        if graph.ends_in_sigmoid(symbol):
            raise UserError(
                "The model in the 'teacher' channel is multi-label (a sigmoid per class), and distillation takes a "
                "teacher of one label per image; give a model trained with multi_label=0"
            )
        body, classifier = _split(symbol, "teacher")
        differences = _differences({}, {}, unpacked, "teacher", classifier, hp)
        if differences:
            raise UserError(
                f"The model in the 'teacher' channel has {', '.join(differences)}; a teacher scores the job's "
                f"images for the job's classes: give a teacher trained with these values, or set them to its"
            )
        _check_normalisation(unpacked, hp)
        return TransferNet(body, arrays, hp.num_classes, hp.image_shape, "the 'teacher' channel's model", classifier)
