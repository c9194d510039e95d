"""gluoncv2_fixes: the replaced GhostNet and MixNet blocks compute what gluoncv2's originals compute, in inference
and in their gradients, with the same parameters. (That they train where the originals fail is
test_networks.py's training step of ghostnet and mixnet_s.)"""

import mxnet as mx
import numpy as np
import pytest
from gluoncv2.model_provider import get_model
from gluoncv2.models.ghostnet import GhostConvBlock
from gluoncv2.models.mixnet import MixConv
from mxnet import autograd

from image_classifier.model import gluoncv2_fixes


def ghost_block():
    return GhostConvBlock(in_channels=16, out_channels=20)  # 10 main and 10 cheap channels


def mix_block():  # three kernels over 8, 6 and 6 channels, depthwise
    return MixConv(20, 20, kernel_size=[3, 5, 7], strides=1, padding=[1, 2, 3], groups=20)


def forward_and_gradient(block, forward, data):
    data = data.copy()
    data.attach_grad()
    with autograd.record():
        out = forward(block, mx.nd, data)
    out.backward(mx.nd.arange(out.size).reshape(out.shape) / out.size)
    weights = [param.grad().asnumpy() for param in block.collect_params().values() if param.grad_req != "null"]
    return out.asnumpy(), data.grad.asnumpy(), weights


@pytest.mark.parametrize(("make", "in_channels"), [(ghost_block, 16), (mix_block, 20)], ids=["ghost", "mix"])
def test_a_replaced_block_computes_the_originals_outputs_and_gradients(make, in_channels):
    gluoncv2_fixes.apply()
    block = make()
    block.initialize(mx.init.Xavier())
    data = mx.nd.array(np.random.default_rng(0).normal(size=(2, in_channels, 9, 7)))
    original = gluoncv2_fixes.ORIGINALS[type(block)]
    assert type(block).hybrid_forward is not original
    np.testing.assert_array_equal(block(data).asnumpy(), original(block, mx.nd, data).asnumpy())
    fixed = forward_and_gradient(block, type(block).hybrid_forward, data)
    expected = forward_and_gradient(block, original, data)
    for got, want in zip(fixed[:2] + tuple(fixed[2]), expected[:2] + tuple(expected[2])):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert len(fixed[2]) == len(expected[2]) > 0


def test_a_replaced_block_hybridizes_to_the_originals_output_shape():
    gluoncv2_fixes.apply()
    block = mix_block()
    block.initialize()
    block.hybridize(static_alloc=True, static_shape=True)
    assert block(mx.nd.ones((1, 20, 5, 6))).shape == (1, 20, 5, 6)


def test_pinned_padding_lets_efficientnet_edge_hybridize_with_the_padding_it_reads_at_run_time(tmp_path):
    """Unpinned, the hybridized graph cannot read its input's shape; pinned, it computes what the network computes
    reading the shape of an image of its size."""
    name, side = "efficientnet_edge_small_b", 224
    data = mx.nd.array(np.random.default_rng(1).normal(size=(1, 3, side, side)))
    reference = get_model(name, classes=3)
    reference.initialize(mx.init.Xavier())
    expected = reference(data).asnumpy()  # not hybridized: each block reads its input's shape
    reference.hybridize()
    with pytest.raises(AttributeError):  # a Symbol has no shape
        reference(data)
    reference.save_parameters(str(tmp_path / "edge.params"))

    net = get_model(name, classes=3)
    gluoncv2_fixes.pin_padding(net, lambda: get_model(name, classes=3), side)
    net.load_parameters(str(tmp_path / "edge.params"))
    net.hybridize()
    np.testing.assert_allclose(net(data).asnumpy(), expected, rtol=1e-5, atol=1e-6)
