"""What the transfer tests build themselves: demo data of some classes only, small networks trained in
process, model files as GluonCV, this project and the built-in algorithm write them, and the job's channel
that holds them."""

import json
import tarfile
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from image_classifier import demo_data, image_ops
from image_classifier.model import artifacts, graph, networks
from image_classifier.model.preprocessing import Preprocessing
from image_classifier.model.transfer import read_arrays


def subset_pairs(count, size, seed, classes):
    """``count`` demo images of ``classes`` only, in turn, labelled by their position in ``classes``."""
    pairs = demo_data.samples(count * len(demo_data.CLASS_NAMES) // len(classes) + 4, size, seed)
    return [(classes.index(label), image) for label, image in pairs if label in classes][:count]


def _write_records(prefix, pairs, classes):
    """A .rec/.idx and an im2rec .lst whose folders name the original classes."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    writer = mx.recordio.MXIndexedRecordIO(f"{prefix}.idx", f"{prefix}.rec", "w")
    lines = []
    for index, (label, image) in enumerate(pairs):
        header = mx.recordio.IRHeader(0, float(label), index, 0)
        writer.write_idx(index, mx.recordio.pack(header, image_ops.encode(image, "PNG")))
        lines.append(f"{index}\t{label:.6f}\t{demo_data.CLASS_NAMES[classes[label]]}/{index:06d}.png\n")
    writer.close()
    Path(f"{prefix}.lst").write_text("".join(lines))


def write_subset_job(base_dir, classes, num_train, num_validation, size, **hyperparameters):
    """demo_data.write_job's /opt/ml tree, with only ``classes`` in its train and validation channels."""
    base_dir = demo_data.write_job(
        base_dir, 4, 4, size, num_classes=len(classes), num_training_samples=num_train, **hyperparameters
    )
    data_dir = base_dir / "input" / "data"
    for channel, count, seed in (("train", num_train, 0), ("validation", num_validation, 1)):
        for path in (data_dir / channel).iterdir():
            path.unlink()
        _write_records(data_dir / channel / channel, subset_pairs(count, size, seed, classes), classes)
    return base_dir


def batch(pairs, image_shape):
    """Images as the training reads them (ImageNet mean and std) and their labels, as NDArrays."""
    preprocessing = Preprocessing.for_training(image_shape, None)
    return (
        mx.nd.array(np.stack([preprocessing.apply(image) for _, image in pairs])),
        mx.nd.array([label for label, _ in pairs]),
    )


def fit(net, data, labels, epochs):
    """Adam on the in-memory ``data`` in batches of 32, shuffled the same way every run."""
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.002, "wd": 1e-4})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    for epoch in range(epochs):
        order = np.random.RandomState(epoch).permutation(data.shape[0])
        for start in range(0, len(order), 32):
            rows = mx.nd.array(order[start : start + 32])
            with autograd.record():
                losses = loss(net(data.take(rows)), labels.take(rows))
            losses.backward()
            trainer.step(len(rows))
    return net


def trained_gluoncv(num_layers, classes, count, image_shape, epochs):
    """A GluonCV ResNet trained in process on ``count`` demo images of ``classes``."""
    mx.random.seed(0)
    net = networks.build(num_layers, len(classes))
    net.hybridize(static_alloc=True, static_shape=True)
    return fit(net, *batch(subset_pairs(count, image_shape[1], 10, classes), image_shape), epochs)


def write_our_model(folder, net, image_shape, class_names, multi_label=False):
    """This project's model directory for ``net`` (as epoch 1), as training writes it."""
    served = networks.with_probabilities(net, multi_label)
    served.hybridize()
    served(mx.nd.zeros((1, *image_shape)))
    artifacts.save_epoch(served, folder, 1)
    artifacts.write_metadata(folder, Preprocessing.for_training(image_shape, None), class_names)
    return Path(folder)


def tar_model(folder, archive_path):
    """model.tar.gz as SageMaker packs /opt/ml/model: the files at the top level."""
    Path(archive_path).parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive_path, "w:gz") as archive:
        for path in sorted(Path(folder).iterdir()):
            archive.add(path, arcname=path.name)
    return Path(archive_path)


def teacher_archive(folder, num_layers, num_classes, size):
    """A randomly initialised ResNet of ``num_layers`` for ``size``-pixel images saved as this project's
    model.tar.gz in ``folder``/teacher: a teacher for distillation."""
    mx.random.seed(0)
    net = networks.build(num_layers, num_classes)
    net(mx.nd.zeros((1, 3, size, size)))
    names = {index: f"class {index}" for index in range(num_classes)}
    model_dir = write_our_model(Path(folder) / "teacher-model", net, (3, size, size), names)
    return tar_model(model_dir, Path(folder) / "teacher" / "model.tar.gz")


def add_channel(base_dir, name, *files):
    """Copy ``files`` into channel ``name`` of the job and declare the channel as SageMaker would."""
    folder = base_dir / "input" / "data" / name
    folder.mkdir(parents=True)
    for path in files:
        (folder / path.name).write_bytes(path.read_bytes())
    config = base_dir / "input" / "config" / "inputdataconfig.json"
    declared = json.loads(config.read_text())
    declared[name] = {"ContentType": "application/x-sagemaker-model", "TrainingInputMode": "File"}
    config.write_text(json.dumps(declared))


def _conv(data, filters, kernel, stride, name):
    pad = (kernel // 2, kernel // 2)
    return mx.sym.Convolution(
        data, num_filter=filters, kernel=(kernel, kernel), stride=(stride, stride), pad=pad, no_bias=True, name=name
    )


def _bn(data, name):
    return mx.sym.BatchNorm(data, fix_gamma=False, eps=2e-5, momentum=0.9, name=name)


def builtin_symbol(num_classes, num_layers=20):
    """MXNet's symbolic ResNet v2 for small images, as the built-in algorithm trains it (after MXNet's
    example/image-classification/symbols/resnet.py): bn_data, pre-activation units, fc1, SoftmaxOutput."""
    units = (num_layers - 2) // 6
    data = mx.sym.BatchNorm(mx.sym.Variable("data"), fix_gamma=True, eps=2e-5, momentum=0.9, name="bn_data")
    body = _conv(data, 16, 3, 1, "conv0")
    for stage, filters in enumerate((16, 32, 64), start=1):
        for unit in range(1, units + 1):
            name = f"stage{stage}_unit{unit}"
            stride = 2 if stage > 1 and unit == 1 else 1
            act1 = mx.sym.Activation(_bn(body, f"{name}_bn1"), act_type="relu", name=f"{name}_relu1")
            conv1 = _conv(act1, filters, 3, stride, f"{name}_conv1")
            act2 = mx.sym.Activation(_bn(conv1, f"{name}_bn2"), act_type="relu", name=f"{name}_relu2")
            conv2 = _conv(act2, filters, 3, 1, f"{name}_conv2")
            shortcut = body if unit > 1 else _conv(act1, filters, 1, stride, f"{name}_sc")
            body = conv2 + shortcut
    relu = mx.sym.Activation(_bn(body, "bn1"), act_type="relu", name="relu1")
    pool = mx.sym.Pooling(relu, global_pool=True, kernel=(7, 7), pool_type="avg", name="pool1")
    fc1 = mx.sym.FullyConnected(mx.sym.Flatten(pool), num_hidden=num_classes, name="fc1")
    return mx.sym.SoftmaxOutput(fc1, name="softmax")


def initialised_builtin(num_classes, image_shape):
    """(symbol, arg_params, aux_params) of the built-in style network, initialised by MXNet's Module as the
    built-in algorithm initialises it."""
    mx.random.seed(0)
    module = mx.mod.Module(builtin_symbol(num_classes), context=mx.cpu())
    module.bind(data_shapes=[("data", (1, *image_shape))], label_shapes=[("softmax_label", (1,))])
    module.init_params(networks.MSRA_INIT)
    return (module.symbol, *module.get_params())


def write_builtin_model(folder, symbol, arg_params, aux_params, image_shape):
    """The built-in algorithm's model directory (epoch 1): Module's checkpoint files and model-shapes.json only."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mx.model.save_checkpoint(str(folder / artifacts.PREFIX), 1, symbol, arg_params, aux_params)
    (folder / artifacts.SHAPES_FILE).write_text(json.dumps([{"name": "data", "shape": [1, *image_shape]}]))
    return folder


def params_in_graph_order(symbol, arrays):
    """(name, array) of every layer's parameters in the order of the graph's layers: comparable across names."""
    return [(name, arrays[name].asnumpy()) for _, names in graph.layers(symbol) for name in names]


def read_model_arrays(folder, epoch_number):
    """(symbol, arrays without arg:/aux: prefixes) of a saved model's epoch."""
    return (
        mx.sym.load(str(Path(folder) / artifacts.SYMBOL_FILE)),
        read_arrays(artifacts.params_path(folder, epoch_number)),
    )
