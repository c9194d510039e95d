"""Networks from GluonCV's or gluoncv2's model zoo: ``network`` (a catalog name, built by its family's zoo), else
ResNet v1 by the built-in's ``num_layers``."""

from collections.abc import Iterator
from contextlib import contextmanager

import mxnet as mx
import numpy as np
from gluoncv.model_zoo import get_model, resnest, resnet, resnetv1b, resnext
from gluoncv.model_zoo.cifarresnet import CIFARBasicBlockV1, CIFARResNetV1
from gluoncv.model_zoo.resnet import BottleneckV1, ResNetV1
from gluoncv2.model_provider import get_model as get_gluoncv2_model
from mxnet.gluon import HybridBlock, nn

from ..hyperparameters import CIFAR_DEPTHS
from ..network_catalog import NETWORKS
from . import gluoncv2_fixes, graph

RESNET200_LAYERS = [3, 24, 36, 3]
RESNET_CHANNELS = [64, 256, 512, 1024, 2048]
CIFAR_CHANNELS = [16, 16, 32, 64]
# He et al.'s initialisation for convolutions followed by ReLU ("MSRA"), as GluonCV's recipes use.
MSRA_INIT = mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2)
# Each GluonCV residual block's last batch norm on its residual branch, the one GluonCV's ``last_gamma`` means
# to start at gamma 0. Found here by structure: GluonCV 0.10.5 ignores last_gamma in BasicBlockV1b, inverts it
# in ResNeXt's Block (whose default already starts at 0) and has none in its CIFAR ResNet.
LAST_NORM = {
    resnet.BasicBlockV1: lambda block: block.body[-1],
    resnet.BottleneckV1: lambda block: block.body[-1],
    resnet.BasicBlockV2: lambda block: block.bn2,
    resnet.BottleneckV2: lambda block: block.bn3,
    resnetv1b.BasicBlockV1b: lambda block: block.bn2,
    resnetv1b.BottleneckV1b: lambda block: block.bn3,
    resnext.Block: lambda block: block.body[-1],
    resnest.Bottleneck: lambda block: block.bn3,
    CIFARBasicBlockV1: lambda block: block.body[-1],
}


def zoo_name(num_layers: int, network: str | None = None) -> str:
    """The model-zoo name of the network: ``network`` itself, or ResNet v1 of ``num_layers`` layers."""
    return network or f"resnet{num_layers}_v1"


def architecture(
    num_layers: int, num_classes: int, network: str | None = None, image_shape: tuple[int, int, int] | None = None
) -> HybridBlock:
    """``network`` (sized for ``image_shape``), else ResNet v1 (CIFAR-style for 20/32/44/56/110), with
    ``num_classes`` outputs, not initialised."""
    if network is not None:
        family = NETWORKS[network]
        if family.zoo == "gluoncv2":  # a TensorFlow-padded EfficientNet is built for its one size by default
            gluoncv2_fixes.apply()
            net = get_gluoncv2_model(network, classes=num_classes)
            gluoncv2_fixes.pin_padding(
                net, lambda: get_gluoncv2_model(network, classes=num_classes), family.side(network)
            )
            return net
        sized = {"input_size": tuple(image_shape[1:])} if family.sized_by_input else {}
        return get_model(network, classes=num_classes, **sized)
    if num_layers in CIFAR_DEPTHS:
        blocks = (num_layers - 2) // 6
        return CIFARResNetV1(CIFARBasicBlockV1, [blocks] * 3, CIFAR_CHANNELS, classes=num_classes)
    if num_layers == 200:
        return ResNetV1(BottleneckV1, RESNET200_LAYERS, RESNET_CHANNELS, classes=num_classes)
    return get_model(zoo_name(num_layers), classes=num_classes)


def build(
    num_layers: int,
    num_classes: int,
    network: str | None = None,
    image_shape: tuple[int, int, int] | None = None,
    zero_init_last_bn: bool = False,
) -> HybridBlock:
    """A randomly initialised network (see ``architecture``). ``zero_init_last_bn``: each residual block's last
    batch norm starts at gamma 0, so the block starts as its shortcut (Goyal et al.; GluonCV's ``last_gamma``)."""
    net = architecture(num_layers, num_classes, network, image_shape)
    if zero_init_last_bn:
        net.apply(_zero_last_gamma)
    net.initialize(MSRA_INIT)
    return net


def _zero_last_gamma(block):
    last_norm = LAST_NORM.get(type(block))
    if last_norm is not None:
        last_norm(block).gamma.init = mx.init.Zero()  # as GluonCV's gamma_initializer='zeros'


def symbol(net: HybridBlock) -> mx.sym.Symbol:
    """The network's graph, its input the variable ``data``; its parameters keep their names."""
    return net(mx.sym.var(graph.INPUT_NAME))


def with_probabilities(net: HybridBlock, multi_label: bool) -> nn.HybridSequential:
    """The network as served: softmax over classes, or independent sigmoids for multi-label."""
    head = nn.HybridSequential(prefix="")
    head.add(net)
    head.add(nn.Activation("sigmoid") if multi_label else nn.HybridLambda("softmax"))
    return head


@contextmanager
def float32_while(net: HybridBlock, dtype: str | np.dtype) -> Iterator[None]:
    """``net``, of precision ``dtype``, in float32 for the duration, then back in ``dtype``: what is saved, and
    what a new SymbolBlock infers, is float32 (the input serving sends). The precision is given, not read from
    a parameter: batch normalisation keeps float32 parameters in a float16 network."""
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        yield
        return
    net.cast("float32")
    try:
        yield
    finally:
        net.cast(dtype.name)
