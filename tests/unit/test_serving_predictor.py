"""A serving worker's executors: every batch size answers as the model does; the unfused sizes share the weights."""

import mxnet as mx
import numpy as np
import psutil
import pytest

from image_classifier.model import artifacts, networks
from image_classifier.serving import predictor

IMAGE_SHAPE = (3, 32, 32)
WIDE_SHAPE = (256, 8, 8)  # a convolution stack whose weights dwarf the process's noise
WIDE_LAYERS = 8


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A real CIFAR ResNet-20 (convolution, batch norm, ReLU: what MKL-DNN fuses), saved as `train` saves it."""
    directory = tmp_path_factory.mktemp("model")
    net = networks.build(20, 4)
    net.hybridize()
    net(mx.nd.zeros((1, *IMAGE_SHAPE)))
    for name, param in net.collect_params().items():  # batch norm statistics of their own, not 0 and 1
        if name.endswith(("running_mean", "running_var")):
            param.set_data(mx.nd.random.uniform(0.5, 1.5, param.shape))
    artifacts.save_epoch(net, directory, 1)
    return directory


def test_every_batch_size_answers_as_the_unbatched_model(model_dir):
    executors = predictor.Executors(model_dir, mx.cpu(), IMAGE_SHAPE)
    block = artifacts.load(model_dir)
    images = np.random.default_rng(0).uniform(-1, 1, (2 * predictor.MAX_BATCH + 1, *IMAGE_SHAPE)).astype(np.float32)
    expected = np.concatenate([block(mx.nd.array(image[None])).asnumpy() for image in images])
    for count in (*predictor.PASS_SIZES, 3, 5, 9, len(images)):  # bound, padded, and in pieces
        np.testing.assert_allclose(executors(images[:count]), expected[:count], rtol=1e-4, atol=1e-5)


def _wide_model_dir(directory):
    data = x = mx.sym.var("data")
    for layer in range(WIDE_LAYERS):
        x = mx.sym.Convolution(x, num_filter=WIDE_SHAPE[0], kernel=(3, 3), pad=(1, 1), no_bias=True, name=f"c{layer}")
        x = mx.sym.Activation(mx.sym.BatchNorm(x, fix_gamma=False, name=f"bn{layer}"), act_type="relu")
    symbol = mx.sym.softmax(mx.sym.FullyConnected(mx.sym.mean(x, axis=(2, 3)), num_hidden=4, name="fc"))
    arg_shapes, _, aux_shapes = symbol.infer_shape(data=(1, *WIDE_SHAPE))
    names = [name for name in symbol.list_arguments() if name != data.name]
    args = {name: mx.nd.random.uniform(-0.05, 0.05, shape) for name, shape in zip(names, arg_shapes[1:], strict=True)}
    aux = {name: mx.nd.ones(shape) for name, shape in zip(symbol.list_auxiliary_states(), aux_shapes, strict=True)}
    mx.model.save_checkpoint(str(directory / artifacts.PREFIX), 1, symbol, args, aux)
    return sum(value.size * 4 for value in args.values())


def test_the_unfused_sizes_share_the_weights(tmp_path):
    """Each fused size holds a fused copy of the weights of its own; the others together, less than one copy."""
    weight_bytes = _wide_model_dir(tmp_path)
    executors = predictor.Executors(tmp_path, mx.cpu(), WIDE_SHAPE)
    for size in predictor.FUSED_SIZES:  # their copies made first, so that what follows is the other sizes' alone
        executors(np.zeros((size, *WIDE_SHAPE), np.float32))
    process = psutil.Process()
    before = process.memory_info().rss
    for size in set(predictor.PASS_SIZES) - set(predictor.FUSED_SIZES):
        executors(np.zeros((size, *WIDE_SHAPE), np.float32))
    copies = (process.memory_info().rss - before) / weight_bytes
    assert copies < 1, f"the unfused sizes added {copies:.1f} copies of the weights"
